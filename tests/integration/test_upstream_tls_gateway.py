"""Upstream TLS on the real gateway (issue 5 points 2-5, DECISIONS §17): trust, insecure skip, client
certificates chosen by the upstream host, pins checked in the handshake, versions and ciphers, and all of it
through a real squid with `proxy_url`. Upstreams are real HTTPS servers with trustme certificates that are
not in the system trust store."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from check_peers import WebhookReceiver, write_leaf
from checked_upstream import eventually
from conftest import GatewayFactory, classic_api
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from gateway_process import GatewayProcess, write_config
from http_client import fetch
from proxy_peers import SquidPeer, start_all, stop_all

from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.translate_gateway import translate_gateway
from bascule.config.gateway import UptimeSettings
from bascule.config.outbound import ProxyEndpoint, ProxyRoute

PROXY_FAILURE = {"error": "There was a problem proxying the request"}


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def upstream_https(ca: trustme.CA) -> AsyncIterator[WebhookReceiver]:
    peer = WebhookReceiver(tls=ca)
    await peer.start()
    yield peer
    await peer.stop()


def https_api(peer: WebhookReceiver, api_id: str = "tls", **extra: Any) -> dict[str, Any]:
    transport = extra.pop("transport", {})
    api = classic_api(api_id, f"/{api_id}/", f"https://127.0.0.1:{peer.port}")
    api["proxy"]["transport"] = transport
    api.update(extra)
    return api


def client_pem(ca: trustme.CA, name: str, tmp_path: Path) -> str:
    """A client certificate and its key in one PEM file (as `upstream_certificates` takes it)."""
    files = write_leaf(ca, name, tmp_path)
    bundle = tmp_path / f"{name}-bundle.pem"
    bundle.write_bytes(files.cert.read_bytes() + files.key.read_bytes())
    return str(bundle)


def spki_of(pem: bytes) -> bytes:
    """The certificate's public key as PEM (a pin reference)."""
    public = x509.load_pem_x509_certificate(pem).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


async def get(gateway_port: int, path: str) -> Any:
    return await fetch(gateway_port, "GET", path)


async def test_an_upstream_outside_the_system_trust_is_refused_unless_verification_is_skipped(
    gateway_factory: GatewayFactory, upstream_https: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    strict = https_api(upstream_https, "strict")
    loose = https_api(upstream_https, "loose", transport={"ssl_insecure_skip_verify": True})
    gateway = await gateway_factory([strict, loose])
    port = gateway.ports["main"]
    refused = await get(port, "/strict/x")
    assert (refused.status, refused.json()) == (502, PROXY_FAILURE)
    assert (await get(port, "/loose/x")).status == 200
    assert (await get(port, "/loose/y")).status == 200
    warnings = [r for r in caplog.records if "insecure" in r.getMessage().lower() and "loose" in r.getMessage()]
    assert len(warnings) == 1


async def test_the_client_certificate_is_chosen_by_the_upstream_host(
    gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    client_ca = trustme.CA()
    upstream = WebhookReceiver(tls=ca, require_client_cert=client_ca)
    await upstream.start()
    try:
        gateway_default = client_pem(client_ca, "gateway-default", tmp_path)
        api_specific = client_pem(client_ca, "api-specific", tmp_path)
        transport = {"ssl_insecure_skip_verify": True}
        with_cert = https_api(
            upstream, "mtls", transport=transport, upstream_certificates={f"127.0.0.1:{upstream.port}": api_specific}
        )
        gateway_wide = https_api(upstream, "gwcert", transport=transport)
        without = https_api(upstream, "nocert", transport=transport, upstream_certificates_disabled=True)
        raw = {"security": {"certificates": {"upstream": {"*": gateway_default}}}}
        gateway = await gateway_factory([with_cert, gateway_wide, without], **_gateway_tls(raw))
        port = gateway.ports["main"]
        assert (await get(port, "/mtls/x")).status == 200
        assert upstream.requests[-1].client_cn == "api-specific"
        assert (await fetch(port, "GET", "/gwcert/x", host="other.example")).status == 200
        assert upstream.requests[-1].client_cn == "gateway-default"  # chosen by the upstream, not the Host header
        assert (await get(port, "/nocert/x")).status == 502
    finally:
        await upstream.stop()


def _gateway_tls(conf: dict[str, Any]) -> dict[str, Any]:
    """GatewaySettings fields for a tyk.conf fragment, the way the loader makes them."""
    settings = translate_gateway(TykGatewayConf.model_validate(conf), source=None, cwd=Path.cwd())
    return {"upstream_tls": settings.upstream_tls}


async def test_pins_are_checked_in_the_handshake(
    gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    intermediate = ca.create_child_ca()
    upstream = WebhookReceiver(tls=intermediate)
    await upstream.start()
    try:
        served = intermediate.issue_cert("127.0.0.1")  # a key the upstream does not serve
        wrong = tmp_path / "wrong.pem"
        wrong.write_bytes(spki_of(served.cert_chain_pems[0].bytes()))
        intermediate_pin = tmp_path / "intermediate.pem"
        intermediate_pin.write_bytes(spki_of(intermediate.cert_pem.bytes()))
        insecure = {"ssl_insecure_skip_verify": True}
        apis = [
            https_api(upstream, "wrongpin", transport=insecure, pinned_public_keys={"127.0.0.1": str(wrong)}),
            https_api(upstream, "midpin", transport=insecure, pinned_public_keys={"*": str(intermediate_pin)}),
            https_api(upstream, "verified", pinned_public_keys={"127.0.0.1": str(intermediate_pin)}),
        ]
        gateway = await gateway_factory(apis)
        port = gateway.ports["main"]
        answer = await get(port, "/wrongpin/x")
        assert (answer.status, answer.json()) == (502, PROXY_FAILURE)
        assert upstream.requests == []  # the upstream received no request byte
        assert (await get(port, "/midpin/x")).status == 200
        # pins add to verification: the chain is not trusted, so a matching pin is not enough
        assert (await get(port, "/verified/x")).status == 502
    finally:
        await upstream.stop()


async def test_versions_and_ciphers_that_do_not_meet_are_a_502(gateway_factory: GatewayFactory, ca: trustme.CA) -> None:
    upstream = WebhookReceiver(tls=ca)
    context = upstream.server_tls()
    assert context is not None
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")  # trustme's keys are ECDSA
    await upstream.start()
    try:
        insecure: dict[str, Any] = {"ssl_insecure_skip_verify": True}
        apis = [
            https_api(upstream, "tls13", transport={**insecure, "ssl_min_version": 772}),
            https_api(
                upstream, "cipher", transport={**insecure, "ssl_ciphers": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]}
            ),
            https_api(
                upstream, "fits", transport={**insecure, "ssl_ciphers": ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]}
            ),
        ]
        gateway = await gateway_factory(apis)
        port = gateway.ports["main"]
        assert (await get(port, "/tls13/x")).status == 502
        assert (await get(port, "/cipher/x")).status == 502
        assert (await get(port, "/fits/x")).status == 200
    finally:
        await upstream.stop()


@pytest.fixture(scope="module")
def squid() -> Iterator[SquidPeer]:
    peer = SquidPeer("squid-upstream")
    start_all(peer)
    yield peer
    stop_all(peer)


async def test_through_a_proxy_url_with_pins_and_a_client_certificate(
    gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path, squid: SquidPeer
) -> None:
    client_ca = trustme.CA()
    intermediate = ca.create_child_ca()  # served with the leaf, so its key can be pinned
    upstream = WebhookReceiver(tls=intermediate, require_client_cert=client_ca)
    await upstream.start()
    try:
        pin = tmp_path / "intermediate-key.pem"
        pin.write_bytes(spki_of(intermediate.cert_pem.bytes()))
        transport = {"ssl_insecure_skip_verify": True, "proxy_url": f"http://127.0.0.1:{squid.port}"}
        api = https_api(
            upstream,
            "viaproxy",
            transport=transport,
            upstream_certificates={"*": client_pem(client_ca, "through-squid", tmp_path)},
            pinned_public_keys={"*": str(pin)},
        )
        gateway = await gateway_factory([api])
        assert (await get(gateway.ports["main"], "/viaproxy/x")).status == 200
        assert upstream.requests[-1].client_cn == "through-squid"
        await gateway.stop(1)  # squid logs a tunnel when it closes
        assert len(await squid.wait_for_log(f"CONNECT 127.0.0.1:{upstream.port} ")) == 1
    finally:
        await upstream.stop()


async def test_upstreams_without_a_proxy_url_take_the_environments_proxies(
    gateway_factory: GatewayFactory, upstream_https: WebhookReceiver, squid: SquidPeer
) -> None:
    # As `translate_upstream_proxy` builds it from HTTPS_PROXY, but without Go's loopback exception, which would
    # send these 127.0.0.1 upstreams direct (that rule has its own unit test).
    route = ProxyRoute(https_proxy=ProxyEndpoint("http", "127.0.0.1", squid.port))
    api = https_api(upstream_https, "envproxy", transport={"ssl_insecure_skip_verify": True})
    gateway = await gateway_factory([api], upstream_proxy=route)
    assert (await get(gateway.ports["main"], "/envproxy/x")).status == 200
    await gateway.stop(1)
    assert len(await squid.wait_for_log(f"CONNECT 127.0.0.1:{upstream_https.port} ")) == 1


async def test_uptime_checks_of_an_upstream_use_its_apis_tls(
    gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    client_ca = trustme.CA()
    upstream = WebhookReceiver(tls=ca, require_client_cert=client_ca)
    await upstream.start()
    try:
        api = https_api(
            upstream,
            "checked",
            transport={"ssl_insecure_skip_verify": True},
            upstream_certificates={"*": client_pem(client_ca, "health-check", tmp_path)},
        )
        api["uptime_tests"] = {"check_list": [{"url": f"https://127.0.0.1:{upstream.port}/health"}]}
        gateway = await gateway_factory([api], uptime=UptimeSettings(interval=0.2, sample_size=1))
        checks = await upstream.wait_for(1)
        assert checks[0].path == "/health" and checks[0].client_cn == "health-check"

        async def reported_up() -> bool:
            return bool(gateway.board.reports) and gateway.board.reports[0].up

        await eventually(reported_up)
    finally:
        await upstream.stop()


async def test_ssl_cert_file_adds_to_the_system_trust(
    tmp_path: Path, ca: trustme.CA, upstream_https: WebhookReceiver
) -> None:
    ca_file = tmp_path / "extra-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    conf = write_config(tmp_path, [https_api(upstream_https, "trusted")])
    for env, expected in (({"SSL_CERT_FILE": str(ca_file)}, 200), ({}, 502)):
        node = await GatewayProcess.start(conf, env=env)
        try:
            assert (await get(node.port, "/trusted/x")).status == expected
        finally:
            await node.stop()
