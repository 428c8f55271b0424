"""`proxy_connect`: the pure plan and wire texts (tables), and the adapter against scripted loopback proxies
that misbehave in ways squid and tinyproxy will not on demand (no answer, garbage, a huge head)."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bascule.config.outbound import ProxyEndpoint
from bascule.errors import (
    ProxyAuthenticationRequired,
    ProxyConnectError,
    UpstreamConnectError,
)
from bascule.outbound.proxy_connect import (
    ConnectPlan,
    ProxyConnector,
    Target,
    connect_request,
    parse_connect_reply,
    plan_connection,
    proxy_authorization,
)

HTTP_PROXY = ProxyEndpoint("http", "proxy.example", 3128)
HTTPS_PROXY = ProxyEndpoint("https", "proxy.example", 3129)


@pytest.mark.parametrize(
    ("scheme", "proxy", "expected"),
    [
        ("http", None, ConnectPlan("t.example", 8000, None, False, False, False, False)),
        ("https", None, ConnectPlan("t.example", 8000, None, False, False, True, False)),
        ("http", HTTP_PROXY, ConnectPlan("proxy.example", 3128, HTTP_PROXY, False, False, False, True)),
        ("https", HTTP_PROXY, ConnectPlan("proxy.example", 3128, HTTP_PROXY, False, True, True, False)),
        ("http", HTTPS_PROXY, ConnectPlan("proxy.example", 3129, HTTPS_PROXY, True, False, False, True)),
        ("https", HTTPS_PROXY, ConnectPlan("proxy.example", 3129, HTTPS_PROXY, True, True, True, False)),
        ("redis", HTTP_PROXY, ConnectPlan("proxy.example", 3128, HTTP_PROXY, False, True, False, False)),
        ("rediss", HTTPS_PROXY, ConnectPlan("proxy.example", 3129, HTTPS_PROXY, True, True, True, False)),
        ("tcp", None, ConnectPlan("t.example", 8000, None, False, False, False, False)),
    ],
)
def test_plan(scheme: str, proxy: ProxyEndpoint | None, expected: ConnectPlan) -> None:
    assert plan_connection(Target(scheme, "t.example", 8000), proxy) == expected


def test_plan_refuses_unknown_schemes() -> None:
    with pytest.raises(ValueError, match="unsupported scheme"):
        plan_connection(Target("ftp", "t.example", 21), None)


def test_target_authority_brackets_ipv6() -> None:
    assert Target("https", "::1", 443).authority == "[::1]:443"
    assert str(Target("redis", "cache", 6379)) == "redis://cache:6379"


def test_proxy_authorization_is_basic_utf8() -> None:
    endpoint = ProxyEndpoint("http", "p", 1, "alice", "p@ss/w:rd é")
    value = proxy_authorization(endpoint)
    assert value.startswith(b"Basic ")
    assert base64.b64decode(value[6:]).decode() == "alice:p@ss/w:rd é"
    assert proxy_authorization(HTTP_PROXY) == b""


def test_connect_request() -> None:
    endpoint = ProxyEndpoint("http", "p", 1, "u", "pw")
    assert connect_request(Target("https", "::1", 8443), endpoint) == (
        b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nProxy-Authorization: Basic dTpwdw==\r\n\r\n"
    )
    assert connect_request(Target("https", "a.example", 443), HTTP_PROXY) == (
        b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 Connection established\r\n\r\n", (200, "Connection established")),
        (b"HTTP/1.0 200\r\n\r\n", (200, "")),
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
            (407, "Proxy Authentication Required"),
        ),
        (b"HTTP/1.1 503 \x1b[31mred\r\n\r\n", (503, "[31mred")),
    ],
)
def test_parse_connect_reply(head: bytes, expected: tuple[int, str]) -> None:
    assert parse_connect_reply(head) == expected


@pytest.mark.parametrize("head", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/2 200\r\n\r\n", b"HTTP/1.1 20x OK\r\n\r\n", b""])
def test_parse_connect_reply_refuses_what_is_not_a_status_line(head: bytes) -> None:
    with pytest.raises(ValueError):
        parse_connect_reply(head)


# -- the adapter against scripted proxies ------------------------------------------------------------------------
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Start = Callable[[Script], Awaitable[ProxyEndpoint]]


class Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = b""
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data


@pytest.fixture
async def scripted() -> AsyncIterator[Start]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> ProxyEndpoint:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")
                await script(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.transport.abort()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return ProxyEndpoint("http", "127.0.0.1", server.sockets[0].getsockname()[1], "alice", "hunter2-secret")

    yield start
    for server in servers:
        server.close()


async def answer(text: bytes) -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(text)
        await writer.drain()
        await reader.read(1)

    return script


TARGET = Target("redis", "cache.internal", 6379)


async def test_407_is_proxy_authentication_required_redacted(scripted: Start) -> None:
    proxy = await scripted(await answer(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\nsecret body"))
    with pytest.raises(ProxyAuthenticationRequired) as caught:
        await ProxyConnector(None, None).open(TARGET, proxy, Sink, 2.0)
    assert caught.value.phase == "proxy CONNECT" and caught.value.status == 407
    assert "proxy authentication required" in str(caught.value)
    assert f"alice:***@127.0.0.1:{proxy.port}" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "secret body" not in str(caught.value)


async def test_other_refusals_carry_the_status(scripted: Start) -> None:
    proxy = await scripted(await answer(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"))
    with pytest.raises(ProxyConnectError) as caught:
        await ProxyConnector(None, None).open(TARGET, proxy, Sink, 2.0)
    assert caught.value.status == 503 and "proxy answered 503 Service Unavailable" in str(caught.value)


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (b"garbage\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 20000, "reply head too large"),
        (b"", "timed out"),
    ],
)
async def test_broken_proxies_fail_in_proxy_connect_phase(scripted: Start, reply: bytes, cause: str) -> None:
    proxy = await scripted(await answer(reply))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ProxyConnectError) as caught:
        await ProxyConnector(None, None).open(TARGET, proxy, Sink, 0.3)
    assert caught.value.phase == "proxy CONNECT" and cause in caught.value.cause
    assert loop.time() - started < 1.0


async def test_proxy_closing_before_answering(scripted: Start) -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return

    proxy = await scripted(close)
    with pytest.raises(ProxyConnectError) as caught:
        await ProxyConnector(None, None).open(TARGET, proxy, Sink, 2.0)
    assert caught.value.phase == "proxy CONNECT"


async def test_tunnel_hands_early_bytes_to_the_protocol(scripted: Start) -> None:
    proxy = await scripted(await answer(b"HTTP/1.1 200 Connection established\r\n\r\n+PONG\r\n"))
    opened = await ProxyConnector(None, None).open(TARGET, proxy, Sink, 2.0)
    try:
        assert opened.protocol.received == b"+PONG\r\n" and not opened.absolute_form
    finally:
        assert opened.protocol.transport is not None
        opened.protocol.transport.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_refused_proxy_and_refused_target_are_told_apart() -> None:
    port = _closed_port()
    with pytest.raises(ProxyConnectError) as via_proxy:
        await ProxyConnector(None, None).open(TARGET, ProxyEndpoint("http", "127.0.0.1", port), Sink, 2.0)
    assert via_proxy.value.phase == "proxy connect" and "refused" in via_proxy.value.cause.lower()
    with pytest.raises(UpstreamConnectError) as direct:
        await ProxyConnector(None, None).open(Target("tcp", "127.0.0.1", port), None, Sink, 2.0)
    assert not isinstance(direct.value, ProxyConnectError) and "refused" in str(direct.value).lower()


async def test_a_tls_hop_without_a_context_is_refused_before_dialling() -> None:
    with pytest.raises(ValueError, match="no TLS context"):
        await ProxyConnector(None, None).open(Target("https", "127.0.0.1", _closed_port()), None, Sink, 1.0)
