"""The gateway's own calls through real proxies (reliability §2.4 I, DECISIONS §7-10): squid plain, with basic
auth and with TLS to the proxy, tinyproxy; targets are HTTP and trustme HTTPS servers on 127.0.0.1, which
the proxies carry because loopback is proxied unless bypassed (DECISIONS §8)."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from proxy_peers import SquidPeer, TargetServer, TinyproxyPeer, start_all, stop_all

from bascule.config.outbound import (
    BypassEntry,
    PoolLimits,
    ProxyEndpoint,
    ProxyRoute,
    ServiceProfile,
    ServiceType,
    TlsClientSettings,
    TlsVersion,
)
from bascule.errors import (
    ExternalServiceUnavailable,
    ProxyAuthenticationRequired,
    ProxyConnectError,
    ProxyError,
    ResponseTooLarge,
    UpstreamTimeout,
    UpstreamTlsError,
)
from bascule.outbound.client_tls import TlsMaterial
from bascule.outbound.service_client import ServiceClient

PASSWORD = "s3cr3t-pw-9f1c"


@dataclass
class Pki:
    ca: trustme.CA
    server: trustme.LeafCert
    client: trustme.LeafCert
    stranger_ca: trustme.CA
    ca_file: Path
    client_cert_file: Path
    client_key_file: Path

    @property
    def trust(self) -> TlsMaterial:
        return TlsMaterial(ca_pem=self.ca.cert_pem.bytes())

    @property
    def mtls(self) -> TlsMaterial:
        key = self.client.private_key_pem.bytes()
        return TlsMaterial(self.client.cert_chain_pems[0].bytes(), key, self.ca.cert_pem.bytes())

    def server_context(self, require_client_cert: bool = False, max_version: str = "") -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.configure_cert(context)
        if require_client_cert:
            self.ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        if max_version == "1.2":
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        return context


@dataclass
class Proxies:
    squid: SquidPeer
    squid_auth: SquidPeer
    squid_tls: SquidPeer
    untrusted_tls: SquidPeer
    tinyproxy: TinyproxyPeer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    client = ca.issue_cert("client.bascule.test", common_name="client.bascule.test")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(directory / "client.pem"))
    client.private_key_pem.write_to_path(str(directory / "client-key.pem"))
    return Pki(
        ca=ca,
        server=ca.issue_cert("127.0.0.1", "localhost"),
        client=client,
        stranger_ca=trustme.CA(),
        ca_file=directory / "ca.pem",
        client_cert_file=directory / "client.pem",
        client_key_file=directory / "client-key.pem",
    )


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Proxies]:
    base = tmp_path_factory.mktemp("proxies")
    keys = base / "keys"
    keys.mkdir()
    pki.server.cert_chain_pems[0].write_to_path(str(keys / "proxy.pem"))
    pki.server.private_key_pem.write_to_path(str(keys / "proxy-key.pem"))
    stranger = pki.stranger_ca.issue_cert("127.0.0.1")
    stranger.cert_chain_pems[0].write_to_path(str(keys / "stranger.pem"))
    stranger.private_key_pem.write_to_path(str(keys / "stranger-key.pem"))
    peers = Proxies(
        squid=SquidPeer("squid"),
        squid_auth=SquidPeer("squid-auth", users={"alice": PASSWORD}),
        squid_tls=SquidPeer("squid-tls", tls_cert=keys / "proxy.pem", tls_key=keys / "proxy-key.pem"),
        untrusted_tls=SquidPeer("squid-stranger", tls_cert=keys / "stranger.pem", tls_key=keys / "stranger-key.pem"),
        tinyproxy=TinyproxyPeer("tinyproxy"),
    )
    all_peers = (peers.squid, peers.squid_auth, peers.squid_tls, peers.untrusted_tls, peers.tinyproxy)
    try:
        start_all(*all_peers)
        yield peers
    finally:
        stop_all(*all_peers)


@pytest.fixture
async def http_target() -> AsyncIterator[TargetServer]:
    server = await TargetServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def https_target(pki: Pki) -> AsyncIterator[TargetServer]:
    server = await TargetServer(tls=pki.server_context()).start()
    yield server
    await server.stop()


@pytest.fixture
async def mtls_target(pki: Pki) -> AsyncIterator[TargetServer]:
    server = await TargetServer(tls=pki.server_context(require_client_cert=True)).start()
    yield server
    await server.stop()


def profile(
    http: ProxyEndpoint | None = None,
    https: ProxyEndpoint | None = None,
    bypass: tuple[str, ...] = (),
    tls: TlsClientSettings | None = None,
    problems: tuple[str, ...] = (),
    timeout: float = 5.0,
) -> ServiceProfile:
    return ServiceProfile(
        service=ServiceType.OAUTH,
        proxy=ProxyRoute(http, https, tuple(BypassEntry(entry) for entry in bypass)),
        tls=tls or TlsClientSettings(),
        pool=PoolLimits(max_idle=50, max_idle_per_host=10, idle_timeout=30.0, tls_handshake_timeout=5.0),
        timeout=timeout,
        problems=problems,
    )


def tls_min(version: TlsVersion) -> TlsClientSettings:
    return TlsClientSettings(min_version=version)


def answer_of(body: bytes) -> dict[str, str | None]:
    answer: dict[str, str | None] = json.loads(body)
    return answer


# -- through squid -----------------------------------------------------------------------------------------
async def test_http_target_goes_to_squid_in_absolute_form(proxies: Proxies, http_target: TargetServer) -> None:
    async with ServiceClient(profile(http=proxies.squid.endpoint())) as client:
        first = await client.request("GET", http_target.url("/jwks?kid=1"))
        second = await client.request("GET", http_target.url("/second"))
    assert (first.status, second.status) == (200, 200)
    assert answer_of(first.body)["target"] == "/jwks?kid=1"  # squid turned it back into origin form
    assert http_target.requests[0].headers.get("via", "").endswith("(squid/5.7)")
    logged = await proxies.squid.wait_for_log(f"GET http://127.0.0.1:{http_target.port}/jwks?")  # query stripped
    assert len(logged) == 1 and "HIER_DIRECT/127.0.0.1" in logged[0]


async def test_https_target_goes_through_connect(proxies: Proxies, https_target: TargetServer, pki: Pki) -> None:
    async with ServiceClient(profile(http=proxies.squid.endpoint()), pki.trust) as client:
        responses = [await client.request("GET", https_target.url(f"/keys/{n}")) for n in range(3)]
    assert [r.status for r in responses] == [200, 200, 200]
    assert https_target.connections == 1  # one tunnel, kept alive
    assert len(await proxies.squid.wait_for_log(f"CONNECT 127.0.0.1:{https_target.port} ")) == 1


@pytest.mark.parametrize("source", ["store", "files"])
async def test_client_certificate_through_connect(
    proxies: Proxies, mtls_target: TargetServer, pki: Pki, source: str
) -> None:
    if source == "store":
        settings, material = TlsClientSettings(cert_id="client", ca_cert_ids=("ca",)), pki.mtls
    else:
        settings = TlsClientSettings(cert_file=pki.client_cert_file, key_file=pki.client_key_file, ca_file=pki.ca_file)
        material = None
    async with ServiceClient(profile(https=proxies.squid.endpoint(), tls=settings), material) as client:
        response = await client.request("POST", mtls_target.url("/introspect"), body=b"token=abc")
    assert response.status == 200
    assert answer_of(response.body)["client_cn"] == "client.bascule.test"


async def test_without_client_certificate_the_target_refuses(
    proxies: Proxies, mtls_target: TargetServer, pki: Pki
) -> None:
    async with ServiceClient(profile(https=proxies.squid.endpoint()), pki.trust) as client:
        with pytest.raises(ProxyError):
            await client.request("GET", mtls_target.url("/"))
    assert mtls_target.requests == []


# -- TLS to the proxy ----------------------------------------------------------------------------------------
async def test_https_proxy_carries_http_and_tls_in_tls(
    proxies: Proxies, http_target: TargetServer, https_target: TargetServer, pki: Pki
) -> None:
    endpoint = proxies.squid_tls.endpoint()
    async with ServiceClient(profile(http=endpoint, https=endpoint), pki.trust) as client:
        plain = await client.request("GET", http_target.url("/over-tls-proxy"))
        nested = await client.request("GET", https_target.url("/tls-in-tls"))
    assert (plain.status, nested.status) == (200, 200)
    assert await proxies.squid_tls.wait_for_log(f"GET http://127.0.0.1:{http_target.port}/over-tls-proxy ")
    assert await proxies.squid_tls.wait_for_log(f"CONNECT 127.0.0.1:{https_target.port} ")


async def test_https_proxy_with_an_untrusted_certificate_fails_in_proxy_tls(
    proxies: Proxies, https_target: TargetServer, pki: Pki
) -> None:
    endpoint = proxies.untrusted_tls.endpoint()
    async with ServiceClient(profile(https=endpoint), pki.trust) as client:
        with pytest.raises(ProxyConnectError) as caught:
            await client.request("GET", https_target.url("/"))
    assert caught.value.phase == "proxy tls"
    assert "certificate verify failed" in str(caught.value)
    assert https_target.requests == []


# -- basic auth ------------------------------------------------------------------------------------------------
async def test_basic_auth_with_credentials(
    proxies: Proxies, http_target: TargetServer, https_target: TargetServer, pki: Pki
) -> None:
    endpoint = proxies.squid_auth.endpoint("alice", PASSWORD)
    async with ServiceClient(profile(http=endpoint), pki.trust) as client:
        plain = await client.request("GET", http_target.url("/as-alice"))
        tunnelled = await client.request("GET", https_target.url("/as-alice"))
    assert (plain.status, tunnelled.status) == (200, 200)
    assert "proxy-authorization" not in http_target.requests[0].headers  # squid consumes it
    get = await proxies.squid_auth.wait_for_log(f"GET http://127.0.0.1:{http_target.port}/as-alice alice ")
    tunnel = await proxies.squid_auth.wait_for_log(f"CONNECT 127.0.0.1:{https_target.port} alice ")
    assert len(get) == 1 and len(tunnel) == 1


@pytest.mark.parametrize("password", ["", "wrong-password"])
@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_basic_auth_refused_is_a_redacted_407(
    proxies: Proxies,
    http_target: TargetServer,
    https_target: TargetServer,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    scheme: str,
    password: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = proxies.squid_auth.endpoint("alice" if password else "", password)
    target = http_target if scheme == "http" else https_target
    async with ServiceClient(profile(http=endpoint), pki.trust) as client:
        with pytest.raises(ProxyAuthenticationRequired) as caught:
            await client.request("GET", target.url("/refused"))
    assert "proxy authentication required" in str(caught.value)
    assert caught.value.phase == ("proxy request" if scheme == "http" else "proxy CONNECT")
    assert f"127.0.0.1:{proxies.squid_auth.port}" in str(caught.value)
    records = [r for r in caplog.records if "[ExternalServices]" in r.getMessage()]
    assert len(records) == 1 and "proxy authentication required" in records[0].getMessage()
    for text in (str(caught.value), caplog.text):
        assert PASSWORD not in text and (not password or password not in text)
    assert target.requests == []


# -- tinyproxy, bypass ------------------------------------------------------------------------------------------
async def test_tinyproxy_carries_http_and_connect(
    proxies: Proxies, http_target: TargetServer, https_target: TargetServer, pki: Pki
) -> None:
    endpoint = proxies.tinyproxy.endpoint()
    async with ServiceClient(profile(http=endpoint, https=endpoint), pki.trust) as client:
        plain = await client.request("GET", http_target.url("/via-tinyproxy"))
        tunnelled = await client.request("GET", https_target.url("/via-tinyproxy"))
    assert (plain.status, tunnelled.status) == (200, 200)
    assert await proxies.tinyproxy.wait_for_log(f"GET http://127.0.0.1:{http_target.port}/via-tinyproxy HTTP/1.1")
    assert await proxies.tinyproxy.wait_for_log(f"CONNECT 127.0.0.1:{https_target.port} HTTP/1.1")


async def test_bypass_list_sends_the_call_direct(proxies: Proxies, http_target: TargetServer) -> None:
    other = await TargetServer().start()
    try:
        route = profile(http=proxies.squid.endpoint(), bypass=(f"127.0.0.1:{http_target.port}",))
        async with ServiceClient(route) as client:
            bypassed = await client.request("GET", http_target.url("/bypassed-call"))
            proxied = await client.request("GET", other.url("/proxied-sentinel"))
    finally:
        await other.stop()
    assert (bypassed.status, proxied.status) == (200, 200)
    assert "via" not in http_target.requests[0].headers
    assert await proxies.squid.wait_for_log("/proxied-sentinel ")  # squid logged the later call...
    assert not [line for line in proxies.squid.log_lines() if "/bypassed-call" in line]  # ...and not this one


# -- proxy down, then back -----------------------------------------------------------------------------------
async def test_proxy_down_then_back_without_a_new_client(
    http_target: TargetServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = TinyproxyPeer("tinyproxy-restart")
    start_all(proxy)
    try:
        async with ServiceClient(profile(http=proxy.endpoint("bob", PASSWORD))) as client:
            assert (await client.request("GET", http_target.url("/before"))).status == 200
            proxy.kill()
            for _ in range(2):
                with pytest.raises(ProxyConnectError) as caught:
                    await client.request("GET", http_target.url("/while-down"))
                assert caught.value.phase == "proxy connect"
            start_all(proxy)
            assert (await client.request("GET", http_target.url("/after"))).status == 200
    finally:
        stop_all(proxy)
    lines = [r.getMessage() for r in caplog.records if "[ExternalServices]" in r.getMessage()]
    assert len(lines) == 2  # one per failed call, no retry storm
    for line in lines:
        assert "oauth" in line and "proxy connect" in line and f"127.0.0.1:{proxy.port}" in line
        assert "connection refused" in line.lower() and "***@" in line
    assert PASSWORD not in caplog.text
    assert [r.target for r in http_target.requests] == ["/before", "/after"]


# -- fail closed, TLS versions, limits -----------------------------------------------------------------------------
async def test_profile_with_problems_fails_closed(http_target: TargetServer, caplog: pytest.LogCaptureFixture) -> None:
    problem = 'Failed to configure proxy: invalid HTTP proxy URL: parse "http://badproxy:wrong_port"'
    async with ServiceClient(profile(problems=(problem,))) as client:
        with pytest.raises(ExternalServiceUnavailable) as caught:
            await client.request("GET", http_target.url("/"))
    assert "oauth" in str(caught.value) and problem in str(caught.value)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[ExternalServices]")]
    assert len(lines) == 1 and problem in lines[0] and "oauth" in lines[0]
    assert http_target.requests == []


async def test_unusable_tls_settings_fail_closed(tmp_path: Path, https_target: TargetServer) -> None:
    key_path = tmp_path / "secret-key-location.pem"
    settings = TlsClientSettings(cert_file=tmp_path / "missing.pem", key_file=key_path)
    async with ServiceClient(profile(tls=settings)) as client:
        with pytest.raises(ExternalServiceUnavailable) as caught:
            await client.request("GET", https_target.url("/"))
    assert "Failed to load client certificate" in str(caught.value)
    assert str(key_path) not in str(caught.value)


@pytest.mark.parametrize("through_proxy", [False, True])
async def test_tls_version_mismatch_fails_in_the_tls_phase(proxies: Proxies, pki: Pki, through_proxy: bool) -> None:
    capped = await TargetServer(tls=pki.server_context(max_version="1.2")).start()
    try:
        route = profile(https=proxies.squid.endpoint() if through_proxy else None, tls=tls_min("1.3"))
        async with ServiceClient(route, pki.trust) as client:
            with pytest.raises(UpstreamTlsError) as caught:
                await client.request("GET", capped.url("/"))
    finally:
        await capped.stop()
    assert caught.value.phase == "tls"
    assert capped.requests == []


async def test_redirects_are_returned_not_followed(http_target: TargetServer) -> None:
    async with ServiceClient(profile()) as client:
        response = await client.request("GET", http_target.url("/redirect"))
    assert response.status == 302 and response.header("location") == "http://127.0.0.1:1/"
    assert len(http_target.requests) == 1


async def test_body_cap_and_timeout(http_target: TargetServer) -> None:
    async with ServiceClient(profile(timeout=0.3)) as client:
        assert len((await client.request("GET", http_target.url("/bytes/1000"))).body) == 1000
        with pytest.raises(UpstreamTimeout) as caught:
            await client.request("GET", http_target.url("/hang"))
        assert caught.value.phase == "response"
    async with ServiceClient(profile(), max_body=999) as small:
        with pytest.raises(ResponseTooLarge):
            await small.request("GET", http_target.url("/bytes/1000"))
