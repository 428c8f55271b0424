"""Authentication against an identity provider (issue 6): JWT with a static key or a JWKS fetched through the
`oauth` external service, token introspection, identity forwarded upstream, AuthFailure events. Real HTTPS
servers with trustme certificates, real squid."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from check_peers import write_leaf
from conftest import GatewayFactory, classic_api
from http_client import fetch
from idp_peers import IntrospectionServer, JwksServer, SigningKey
from proxy_peers import SquidPeer, start_all, stop_all
from upstream_peer import UpstreamPeer

from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.translate_external_services import translate_external_services
from bascule.config.outbound import ServiceProfile, ServiceType
from bascule.runtime.events import Event

SECRET = b"a-shared-hmac-secret-of-32-bytes!"


def jwt_api(upstream: UpstreamPeer, method: str, source: str, **extra: Any) -> dict[str, Any]:
    api = classic_api("secured", "/secured/", upstream.url)
    api.update(use_keyless=False, enable_jwt=True, jwt_signing_method=method, jwt_source=source, **extra)
    return api


def hs256(claims: dict[str, Any], key: bytes = SECRET, **headers: Any) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers=headers or None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fresh(sub: str = "alice", **claims: Any) -> dict[str, Any]:
    return {"sub": sub, "exp": int(time.time()) + 300, **claims}


def profiles(tyk_conf: dict[str, Any]) -> dict[ServiceType, ServiceProfile]:
    return dict(translate_external_services(TykGatewayConf.model_validate(tyk_conf), {}).profiles)


async def get(port: int, token: str | None, **headers: str) -> Any:
    sent = {**(bearer(token) if token else {}), **headers}
    return await fetch(port, "GET", "/secured/x", headers=sent)


# -- static keys --------------------------------------------------------------------------------------------
async def test_hmac_tokens_pass_and_every_bad_token_gets_tyks_answer(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    source = base64.b64encode(SECRET).decode()
    gateway = await gateway_factory([jwt_api(upstream, "hmac", source)])
    port = gateway.ports["main"]
    failures: list[Event] = []
    gateway.events.subscribe(failures.append)

    ok = await get(port, hs256(fresh()), **{"X-Tyk-Identity": "mallory"})
    assert ok.status == 200
    seen = dict(ok.json()["headers"])
    assert seen["X-Tyk-Identity"] == "alice"  # the client's own header replaced

    cases = [
        (None, 401, "Authorization field missing"),
        (hs256(fresh(), key=b"another-secret-of-32-bytes-long!"), 403, "Key not authorized"),
        (hs256(fresh(exp=int(time.time()) - 10)), 401, "Key not authorized: token has expired"),
        (jwt.encode(fresh(), None, algorithm="none"), 403, "Key not authorized: Unexpected signing method"),
        ("not.a.token", 403, "Key not authorized"),
    ]
    for token, status, message in cases:
        answer = await get(port, token)
        assert (answer.status, answer.json()) == (status, {"error": message}), token
    assert [event.name for event in failures] == ["AuthFailure"] * len(cases)
    assert all(
        token is None or token not in json.dumps(event.meta)
        for event, (token, _, _) in zip(failures, cases, strict=True)
    )


# -- JWKS over HTTPS ----------------------------------------------------------------------------------------
@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "idp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
async def idp(ca: trustme.CA) -> AsyncIterator[JwksServer]:
    server = JwksServer(tls=ca, keys=[SigningKey.rsa("key-1")])
    await server.start()
    yield server
    await server.stop()


def rs256(key: SigningKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})


async def test_jwks_over_https_is_fetched_once_and_a_rotated_key_is_picked_up(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, idp: JwksServer, ca_file: str
) -> None:
    oauth = profiles({"external_services": {"oauth": {"mtls": {"enabled": True, "ca_file": ca_file}}}})
    gateway = await gateway_factory([jwt_api(upstream, "rsa", f"{idp.url}/jwks")], external_services=oauth)
    port = gateway.ports["main"]
    [key] = idp.keys
    statuses = await asyncio.gather(*(get(port, rs256(key, fresh())) for _ in range(20)))
    assert {answer.status for answer in statuses} == {200}
    assert idp.fetches() == 1

    rotated = SigningKey.rsa("key-2")
    idp.keys.append(rotated)
    await asyncio.sleep(1.1)  # fetches of one URL are at least a second apart
    rotated_answer = await get(port, rs256(rotated, fresh("bob")))
    assert dict(rotated_answer.json()["headers"])["X-Tyk-Identity"] == "bob"
    assert idp.fetches() == 2

    forged = SigningKey.rsa("key-1")  # the same kid, another key
    assert (await get(port, rs256(forged, fresh()))).status == 403


async def test_random_kids_cause_a_bounded_number_of_fetches(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, idp: JwksServer, ca_file: str
) -> None:
    oauth = profiles({"external_services": {"oauth": {"mtls": {"enabled": True, "ca_file": ca_file}}}})
    gateway = await gateway_factory([jwt_api(upstream, "rsa", f"{idp.url}/jwks")], external_services=oauth)
    port = gateway.ports["main"]
    [key] = idp.keys
    assert (await get(port, rs256(key, fresh()))).status == 200
    tokens = [
        jwt.encode(fresh(), key.private, algorithm="RS256", headers={"kid": secrets.token_hex(8)}) for _ in range(1000)
    ]
    answers = []
    for batch in range(0, 1000, 100):
        answers += await asyncio.gather(*(get(port, token) for token in tokens[batch : batch + 100]))
    assert {answer.status for answer in answers} == {403}
    assert idp.fetches() <= 3


async def test_the_last_good_keys_serve_while_the_idp_is_down(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, idp: JwksServer, ca_file: str
) -> None:
    oauth = profiles({"external_services": {"oauth": {"mtls": {"enabled": True, "ca_file": ca_file}}}})
    api = jwt_api(upstream, "rsa", f"{idp.url}/jwks")
    gateway = await gateway_factory([api], external_services=oauth, jwks_cache_timeout=0.2)
    port = gateway.ports["main"]
    [key] = idp.keys
    assert (await get(port, rs256(key, fresh()))).status == 200
    await idp.stop()
    await asyncio.sleep(0.4)  # the cached set is past its lifetime; refreshing fails
    assert (await get(port, rs256(key, fresh()))).status == 200


async def test_a_jwks_server_asking_for_a_client_certificate_gets_the_oauth_services(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, ca: trustme.CA, ca_file: str, tmp_path: Path
) -> None:
    client_ca = trustme.CA()
    client = write_leaf(client_ca, "gateway.example", tmp_path)
    cert, key = client.cert, client.key
    idp = JwksServer(tls=ca, require_client_cert=client_ca, keys=[SigningKey.ec("ec-1")])
    await idp.start()
    try:
        mtls = {"enabled": True, "ca_file": ca_file, "cert_file": str(cert), "key_file": str(key)}
        oauth = profiles({"external_services": {"oauth": {"mtls": mtls}}})
        gateway = await gateway_factory([jwt_api(upstream, "ecdsa", f"{idp.url}/jwks")], external_services=oauth)
        [signing] = idp.keys
        token = jwt.encode(fresh(), signing.private, algorithm="ES256", headers={"kid": signing.kid})
        assert (await get(gateway.ports["main"], token)).status == 200
        assert idp.requests[0].client_cn == "gateway.example"
    finally:
        await idp.stop()


# -- through squid ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def squid() -> Iterator[SquidPeer]:
    peer = SquidPeer("squid-oauth")
    start_all(peer)
    yield peer
    stop_all(peer)


async def test_jwks_goes_through_the_oauth_proxy_unless_bypassed(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, idp: JwksServer, ca_file: str, squid: SquidPeer
) -> None:
    proxy = f"http://127.0.0.1:{squid.port}"
    mtls = {"enabled": True, "ca_file": ca_file}
    via_proxy = profiles(
        {"external_services": {"oauth": {"proxy": {"enabled": True, "https_proxy": proxy}, "mtls": mtls}}}
    )
    gateway = await gateway_factory([jwt_api(upstream, "rsa", f"{idp.url}/jwks")], external_services=via_proxy)
    [key] = idp.keys
    assert (await get(gateway.ports["main"], rs256(key, fresh()))).status == 200
    await gateway.stop(1)  # squid logs a tunnel when it closes
    assert len(await squid.wait_for_log(f"CONNECT 127.0.0.1:{idp.port} ")) == 1

    bypassed = {"enabled": True, "https_proxy": proxy, "bypass_proxy": f"127.0.0.1:{idp.port}"}
    direct = profiles({"external_services": {"global": bypassed, "oauth": {"mtls": mtls}}})
    api = jwt_api(upstream, "rsa", f"{idp.url}/jwks")
    api.update(api_id="secured2")
    api["proxy"]["listen_path"] = "/secured/"
    other = await gateway_factory([api], external_services=direct)
    assert (await get(other.ports["main"], rs256(key, fresh()))).status == 200
    await other.stop(1)
    await asyncio.sleep(0.2)
    assert len([line for line in squid.log_lines() if "CONNECT" in line]) == 1  # still only the first tunnel


# -- introspection ------------------------------------------------------------------------------------------
async def test_introspection_active_inactive_and_cached(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, ca: trustme.CA, ca_file: str
) -> None:
    server = IntrospectionServer(tls=ca, active={"opaque-good-token": {"sub": "carol", "scope": "read"}})
    await server.start()
    try:
        api = classic_api("secured", "/secured/", upstream.url)
        introspection = {
            "enabled": True,
            "url": f"{server.url}/introspect",
            "client_id": server.client_id,
            "client_secret": server.client_secret,
            "cache": {"enabled": True, "timeout": 60},
        }
        api.update(use_keyless=False, external_oauth={"enabled": True, "providers": [{"introspection": introspection}]})
        oauth = profiles({"external_services": {"oauth": {"mtls": {"enabled": True, "ca_file": ca_file}}}})
        gateway = await gateway_factory([api], external_services=oauth)
        port = gateway.ports["main"]
        good = await get(port, "opaque-good-token")
        assert good.status == 200
        assert dict(good.json()["headers"])["X-Tyk-Identity"] == "carol"
        assert (await get(port, "opaque-good-token")).status == 200
        assert (await get(port, "revoked-token")).status == 403
        assert len(server.requests) == 2  # the good token's answer was cached
        assert b"s3cret" not in json.dumps([seen.headers for seen in upstream.requests]).encode()
    finally:
        await server.stop()


async def test_chosen_claims_are_forwarded_and_oas_jwt_schemes_work(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    classic = jwt_api(upstream, "hmac", base64.b64encode(SECRET).decode())
    classic["version_data"] = {
        "not_versioned": True,
        "default_version": "Default",
        "versions": {
            "Default": {"name": "Default", "global_headers": {"X-User-Email": "$tyk_context.jwt_claims_email"}}
        },
    }
    oas = {
        "openapi": "3.0.3",
        "info": {"title": "oas-secured", "version": "1"},
        "paths": {},
        "components": {"securitySchemes": {"jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "x-tyk-api-gateway": {
            "info": {"id": "oas-secured", "name": "oas-secured", "state": {"active": True}},
            "server": {
                "listenPath": {"value": "/oas-secured/", "strip": True},
                "authentication": {
                    "enabled": True,
                    "securitySchemes": {
                        "jwtAuth": {
                            "enabled": True,
                            "source": base64.b64encode(SECRET).decode(),
                            "signingMethod": "hmac",
                            "identityBaseField": "user_id",
                        }
                    },
                },
            },
            "upstream": {"url": upstream.url},
        },
    }
    gateway = await gateway_factory([classic, oas])
    port = gateway.ports["main"]
    token = hs256(fresh(email="alice@example.com", user_id="u-42"))
    seen = dict((await get(port, token, **{"X-User-Email": "forged@example.com"})).json()["headers"])
    assert seen["X-User-Email"] == "alice@example.com"
    without_claim = hs256(fresh(user_id="u-1"))  # no email: the client's own header must not pass either
    seen = dict((await get(port, without_claim, **{"X-User-Email": "forged@example.com"})).json()["headers"])
    assert "X-User-Email" not in seen
    answer = await fetch(port, "GET", "/oas-secured/x", headers=bearer(token))
    assert answer.status == 200
    assert dict(answer.json()["headers"])["X-Tyk-Identity"] == "u-42"
    assert (await fetch(port, "GET", "/oas-secured/x")).status == 401


async def test_jwks_goes_through_the_global_proxy(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, idp: JwksServer, ca_file: str, squid: SquidPeer
) -> None:
    proxy = f"http://127.0.0.1:{squid.port}"
    conf = {
        "external_services": {
            "global": {"enabled": True, "https_proxy": proxy},
            "oauth": {"mtls": {"enabled": True, "ca_file": ca_file}},
        }
    }
    gateway = await gateway_factory([jwt_api(upstream, "rsa", f"{idp.url}/jwks")], external_services=profiles(conf))
    [key] = idp.keys
    before = len([line for line in squid.log_lines() if f"CONNECT 127.0.0.1:{idp.port} " in line])
    assert (await get(gateway.ports["main"], rs256(key, fresh()))).status == 200
    await gateway.stop(1)
    await squid.wait_for_log(f"CONNECT 127.0.0.1:{idp.port} ")
    assert len([line for line in squid.log_lines() if f"CONNECT 127.0.0.1:{idp.port} " in line]) == before + 1
