"""`service_client`: URL and request-head rules (tables), the idle pool's bounds, the body cap, routing and
fail-closed construction. The wire behaviour through real proxies is in `tests/integration/test_outbound_proxies.py`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pytest

from bascule.config.outbound import (
    PoolLimits,
    ProxyEndpoint,
    ProxyRoute,
    ServiceProfile,
    ServiceType,
    TlsClientSettings,
)
from bascule.config.outbound_defaults import default_profile, default_profiles
from bascule.errors import ExternalServiceUnavailable, ResponseTooLarge, UpstreamProtocolError
from bascule.outbound.client_tls import TlsMaterial
from bascule.outbound.http1 import ResponseHead
from bascule.outbound.idle_pool import IdlePool
from bascule.outbound.proxy_connect import Opened, Target, plan_connection
from bascule.outbound.service_client import (
    ServiceClient,
    _BodyCollector,
    _parse_url,
    _request_head,
    build_service_clients,
)

PROXY = ProxyEndpoint("http", "proxy.example", 3128, "alice", "pw")


@pytest.mark.parametrize(
    ("url", "target", "path", "authority"),
    [
        ("http://a.example/x?y=1", Target("http", "a.example", 80), "/x?y=1", "a.example"),
        ("HTTPS://A.example:8443", Target("https", "a.example", 8443), "/", "a.example:8443"),
        ("https://[::1]/jwks", Target("https", "::1", 443), "/jwks", "[::1]"),
        (
            "http://bücher.example/é s",
            Target("http", "xn--bcher-kva.example", 80),
            "/%C3%A9%20s",
            "xn--bcher-kva.example",
        ),
        ("http://a.example/p%2Fq?x=%20&y=a/b", Target("http", "a.example", 80), "/p%2Fq?x=%20&y=a/b", "a.example"),
    ],
)
def test_parse_url(url: str, target: Target, path: str, authority: str) -> None:
    assert _parse_url(url) == (target, path, authority)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://a.example/", "unsupported URL scheme"),
        ("//a.example/", "unsupported URL scheme"),
        ("http://user:pw@a.example/", "credentials in the URL"),
        ("http:///path", "no host"),
        ("http://a.example:99999/", "out of range"),
    ],
)
def test_parse_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _parse_url(url)


def head_for(
    url: str,
    proxy: ProxyEndpoint | None,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    target, path, authority = _parse_url(url)
    return _request_head(method, target, path, authority, headers, body, plan_connection(target, proxy))


def test_origin_form_direct_and_through_a_tunnel() -> None:
    expected = b"GET /a?b HTTP/1.1\r\nHost: t.example:8080\r\n\r\n"
    assert head_for("http://t.example:8080/a?b", None) == expected
    assert head_for("https://t.example/a", PROXY) == b"GET /a HTTP/1.1\r\nHost: t.example\r\n\r\n"


def test_absolute_form_with_proxy_credentials() -> None:
    assert head_for("http://t.example/a?b", PROXY, "POST", [("X-Id", "1")], b"{}") == (
        b"POST http://t.example/a?b HTTP/1.1\r\nHost: t.example\r\nX-Id: 1\r\nContent-Length: 2\r\n"
        b"Proxy-Authorization: Basic YWxpY2U6cHc=\r\n\r\n"
    )


def test_framing_headers_are_the_clients() -> None:
    headers = [("Host", "virtual.example"), ("Content-Length", "99"), ("Transfer-Encoding", "chunked"),
               ("Connection", "close"), ("Proxy-Authorization", "Basic stolen")]  # fmt: skip
    assert head_for("http://t.example/", None, "PUT", headers) == (
        b"PUT / HTTP/1.1\r\nHost: virtual.example\r\nContent-Length: 0\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GET /x", []), ("GET", [("X-A", "1\r\nEvil: yes")]), ("GET", [("Bad Name", "1")]), ("GET", [("X", "a\nb")])],
)
def test_injection_is_refused(method: str, headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError):
        head_for("http://t.example/", None, method, headers)


# -- the idle pool ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class FakeConnection:
    idle_since: float
    is_reusable: bool = True
    aborted: bool = False

    def abort(self) -> None:
        self.aborted = True
        self.is_reusable = False


LIMITS = PoolLimits(max_idle=3, max_idle_per_host=2, idle_timeout=30.0, tls_handshake_timeout=5.0)
A = (Target("http", "a", 80), None)
B = (Target("http", "b", 80), None)


async def test_pool_keeps_the_newest_within_the_per_host_and_total_bounds() -> None:
    pool = IdlePool(LIMITS)
    now = asyncio.get_running_loop().time()
    first, second, third = (FakeConnection(now) for _ in range(3))
    for connection in (first, second, third):
        pool.put(A, connection)  # type: ignore[arg-type]
    assert first.aborted and pool.idle_count == 2  # per-host bound: the oldest goes
    fourth, fifth = FakeConnection(now), FakeConnection(now)
    pool.put(B, fourth)  # type: ignore[arg-type]
    pool.put(B, fifth)  # type: ignore[arg-type]
    assert fifth.aborted and pool.idle_count == 3  # total bound: the newcomer goes
    assert pool.take(A) is third and pool.take(A) is second and pool.take(A) is None
    pool.close()
    assert fourth.aborted and pool.idle_count == 0


async def test_pool_drops_expired_and_closed_connections() -> None:
    pool = IdlePool(LIMITS)
    now = asyncio.get_running_loop().time()
    stale, closed, fresh = FakeConnection(now - 31), FakeConnection(now), FakeConnection(now)
    pool.put(A, stale)  # type: ignore[arg-type]
    pool.put(A, fresh)  # type: ignore[arg-type]
    assert pool.take(A) is fresh
    pool.put(A, closed)  # type: ignore[arg-type]
    closed.is_reusable = False
    assert pool.take(A) is None and stale.aborted and pool.idle_count == 0
    pool.close()


async def test_pool_without_keep_alive() -> None:
    pool = IdlePool(PoolLimits(10, 0, 30.0, 5.0))
    connection = FakeConnection(0.0)
    pool.put(A, connection)  # type: ignore[arg-type]
    assert connection.aborted and pool.idle_count == 0


# -- body cap ----------------------------------------------------------------------------------------------------
def response_head(length: int | None) -> ResponseHead:
    return ResponseHead(status=200, reason=b"OK", headers=[], content_length=length, keep_alive=True)


@pytest.mark.parametrize("declared", [11, None])
async def test_body_cap(declared: int | None) -> None:
    connection = FakeConnection(0.0)
    collector = _BodyCollector(connection, 10)  # type: ignore[arg-type]
    collector.response_head(response_head(declared))
    collector.response_body(b"x" * 6)
    collector.response_body(b"x" * 5)
    with pytest.raises(ResponseTooLarge):
        await collector.done
    assert connection.aborted


async def test_body_within_the_cap() -> None:
    collector = _BodyCollector(FakeConnection(0.0), 10)  # type: ignore[arg-type]
    collector.response_head(response_head(10))
    collector.response_body(b"x" * 10)
    collector.response_end()
    await collector.done
    assert b"".join(collector.chunks) == b"x" * 10


# -- construction, routing ---------------------------------------------------------------------------------------
async def test_problems_and_tls_setup_failures_fail_closed() -> None:
    broken = replace(default_profile(ServiceType.HEALTH), problems=("invalid HTTP proxy URL",))
    with pytest.raises(ExternalServiceUnavailable, match="health is not usable: invalid HTTP proxy URL"):
        await ServiceClient(broken).request("GET", "http://a.example/")
    unknown_cert = replace(default_profile(ServiceType.WEBHOOKS), tls=TlsClientSettings(cert_id="gone"))
    client = ServiceClient(unknown_cert)
    assert client.problems == ("Failed to configure TLS: Certificate not found in store: gone",)


async def test_proxy_choice_is_asked_once_per_destination() -> None:
    asked: list[tuple[str, str, int]] = []

    def choose(route: ProxyRoute, scheme: str, host: str, port: int) -> ProxyEndpoint | None:
        asked.append((scheme, host, port))
        return None

    client = ServiceClient(default_profile(ServiceType.OAUTH), choose_proxy=choose)
    for _ in range(3):
        client._proxy_for(Target("https", "a.example", 443))
    client._proxy_for(Target("http", "a.example", 80))
    assert asked == [("https", "a.example", 443), ("http", "a.example", 80)]


def test_one_client_per_service_type() -> None:
    seen: list[ServiceType] = []

    def material_for(profile: ServiceProfile) -> TlsMaterial | None:
        seen.append(profile.service)
        return None

    clients = build_service_clients(default_profiles(), material_for)
    assert set(clients) == set(ServiceType) == set(seen)
    assert all(client.profile.service is service and not client.problems for service, client in clients.items())


# -- one new connection for a stale idle one ----------------------------------------------------------------------
class ScriptedConnection:
    """Answers `begin` at once: 200, or the failure of a peer that closed the idle connection."""

    def __init__(self, stale: bool) -> None:
        self.stale = stale
        self.received_any = False
        self.is_reusable = True
        self.idle_since = 0.0

    def begin(self, head: bytes, head_request: bool, sink: object) -> None:
        if self.stale:
            self.is_reusable = False
            sink.response_failed(UpstreamProtocolError("upstream closed the connection"))  # type: ignore[attr-defined]
            return
        sink.response_head(ResponseHead(200, b"OK", [], 0, True))  # type: ignore[attr-defined]
        sink.response_end()  # type: ignore[attr-defined]

    def write(self, data: bytes) -> None: ...

    def abort(self) -> None:
        self.is_reusable = False


class ScriptedConnector:
    def __init__(self) -> None:
        self.opened = 0

    async def open(
        self, target: Target, proxy: object, factory: object, timeout: float, target_tls: object = None
    ) -> Opened[object]:
        self.opened += 1
        return Opened(ScriptedConnection(stale=False), False, None)


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("PUT", True), ("POST", False)])
async def test_a_stale_idle_connection_gets_one_new_connection(method: str, retried: bool) -> None:
    client = ServiceClient(default_profile(ServiceType.WEBHOOKS))
    connector = ScriptedConnector()
    client._connector = connector  # type: ignore[assignment]
    target = Target("http", "a.example", 80)
    stale = ScriptedConnection(stale=True)
    stale.idle_since = asyncio.get_running_loop().time()
    client._pool.put((target, None, None), stale)  # type: ignore[arg-type]
    if retried:
        assert (await client.request(method, "http://a.example/")).status == 200
    else:
        with pytest.raises(UpstreamProtocolError):
            await client.request(method, "http://a.example/")
    assert stale.stale and not stale.is_reusable  # it was tried first
    assert connector.opened == (1 if retried else 0)
    await client.close()
