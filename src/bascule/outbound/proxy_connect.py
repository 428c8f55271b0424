"""Opening connections through forward proxies (DECISIONS §7): direct, absolute-form, CONNECT, TLS-in-TLS.

`plan_connection` decides, without I/O, which hops a connection takes; `ProxyConnector.open` walks them:

    dial            TCP to the proxy, or to the target when there is no proxy       phase `proxy connect` / `connect`
    proxy TLS       only for an `https://` proxy, verified like any server          phase `proxy tls`
    CONNECT         `CONNECT host:port` for TLS targets and non-HTTP traffic         phase `proxy CONNECT`
    target TLS      end to end with the target, inside the tunnel when there is one  phase `tls`

A plain `http://` target behind a proxy takes no tunnel: the connection is to the proxy and every request on
it must use the absolute form (`GET http://host:port/path HTTP/1.1`, RFC 9112 §3.2.2) with the proxy's
credentials, which `Opened.absolute_form` and `proxy_authorization` tell the caller. Every phase is bounded
by the one deadline given to `open` (TLS phases also by the handshake timeout); each failure is raised once,
named by phase, with the proxy redacted, and nothing is retried here.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar, cast

from bascule.config.outbound import ProxyEndpoint
from bascule.errors import (
    ProxyAuthenticationRequired,
    ProxyConnectError,
    UpstreamConnectError,
    UpstreamHostLookupError,
    UpstreamTimeout,
    UpstreamTlsError,
)

P = TypeVar("P", bound=asyncio.Protocol)

PhaseObserver = Callable[[str, float, BaseException | None], None]
"""Hears a phase of `ProxyConnector.open` end: name, seconds taken, and None or the error it raised."""

MAX_CONNECT_REPLY = 16 * 1024
"""Bytes of a proxy's answer to CONNECT before the blank line; more is a broken proxy."""


class SchemeTraits(NamedTuple):
    tls: bool
    """The target speaks TLS end to end."""
    http: bool
    """Plain HTTP can go to a proxy in absolute form; anything else needs a tunnel."""


SCHEMES: Mapping[str, SchemeTraits] = {
    "http": SchemeTraits(tls=False, http=True),
    "https": SchemeTraits(tls=True, http=False),
    "redis": SchemeTraits(tls=False, http=False),
    "rediss": SchemeTraits(tls=True, http=False),
    "tcp": SchemeTraits(tls=False, http=False),
    "tls": SchemeTraits(tls=True, http=False),
}


class Target(NamedTuple):
    """Where a connection finally goes: `scheme` is one of `SCHEMES`."""

    scheme: str
    host: str
    port: int

    @property
    def authority(self) -> str:
        """`host:port`, IPv6 in brackets: the CONNECT target and the absolute-form authority."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{shown}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}"


@dataclass(frozen=True, slots=True)
class ConnectPlan:
    """The hops of one connection, decided before any I/O."""

    dial_host: str
    dial_port: int
    proxy: ProxyEndpoint | None
    proxy_tls: bool
    tunnel: bool
    target_tls: bool
    absolute_form: bool


def plan_connection(target: Target, proxy: ProxyEndpoint | None) -> ConnectPlan:
    """The hops to reach `target`, directly or through `proxy`; ValueError for an unknown scheme."""
    traits = SCHEMES.get(target.scheme)
    if traits is None:
        raise ValueError(f"unsupported scheme {target.scheme!r}")
    if proxy is None:
        return ConnectPlan(target.host, target.port, None, False, False, traits.tls, False)
    forward = traits.http and not traits.tls
    return ConnectPlan(
        dial_host=proxy.host,
        dial_port=proxy.port,
        proxy=proxy,
        proxy_tls=proxy.scheme == "https",
        tunnel=not forward,
        target_tls=traits.tls,
        absolute_form=forward,
    )


@lru_cache(maxsize=64)
def proxy_authorization(proxy: ProxyEndpoint) -> bytes:
    """The `Proxy-Authorization` value for the proxy's credentials (RFC 7617, UTF-8), or b"" without any."""
    if not proxy.username and not proxy.password:
        return b""
    credentials = f"{proxy.username}:{proxy.password}".encode()
    return b"Basic " + base64.b64encode(credentials)


def connect_request(target: Target, proxy: ProxyEndpoint) -> bytes:
    """The tunnel request (RFC 9110 §9.3.6): authority-form target, `Host`, and the proxy's credentials."""
    authority = target.authority.encode("ascii")
    lines = [b"CONNECT " + authority + b" HTTP/1.1", b"Host: " + authority]
    credentials = proxy_authorization(proxy)
    if credentials:
        lines.append(b"Proxy-Authorization: " + credentials)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def parse_connect_reply(head: bytes) -> tuple[int, str]:
    """Status and printable reason of a proxy's reply head; ValueError when it is not an HTTP/1.x status line."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0") or len(parts[1]) != 3 or not parts[1].isdigit():
        raise ValueError("not an HTTP/1.x status line")
    reason = parts[2] if len(parts) == 3 else b""
    shown = "".join(c for c in reason.decode("latin-1")[:64] if c.isprintable())
    return int(parts[1]), shown


@dataclass(frozen=True, slots=True)
class Opened(Generic[P]):
    """A connection handed to its protocol: requests on it use the absolute form when `absolute_form`."""

    protocol: P
    absolute_form: bool
    proxy: ProxyEndpoint | None


class _Handshake(asyncio.Protocol):
    """Holds a connection while it is set up: collects the proxy's reply to CONNECT."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self._waiter: asyncio.Future[bytes] | None = None
        self._lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(self.buffer[: end + 4])
            del self.buffer[: end + 4]
            waiter.set_result(head)
        elif len(self.buffer) > MAX_CONNECT_REPLY:
            waiter.set_exception(ValueError("reply head too large"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionResetError("connection closed by the proxy")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    async def reply_head(self) -> bytes:
        self._waiter = asyncio.get_running_loop().create_future()
        if self._lost is not None:
            raise self._lost
        self.data_received(b"")
        return await self._waiter


class ProxyConnector:
    """Opens connections as `plan_connection` says; built once per profile with its TLS contexts.

    `target_tls` verifies the targets (and presents the client certificate); `proxy_tls` verifies `https://`
    proxies. Either may be None when no such hop is ever taken; a plan that needs a missing one is a ValueError.
    `open(..., target_tls=...)` overrides the target context for one connection (upstream TLS chooses it per
    host: `UpstreamTlsPolicy.context_for`), so `ProxyConnector(None, ...)` serves callers that always pass one.
    """

    def __init__(
        self,
        target_tls: ssl.SSLContext | None,
        proxy_tls: ssl.SSLContext | None,
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        self._target_tls = target_tls
        self._proxy_tls = proxy_tls
        self._tls_timeout = tls_handshake_timeout

    async def open(
        self,
        target: Target,
        proxy: ProxyEndpoint | None,
        protocol_factory: Callable[[], P],
        timeout: float,
        on_phase: PhaseObserver | None = None,
        target_tls: ssl.SSLContext | None = None,
    ) -> Opened[P]:
        """Connect to `target` (through `proxy` when given) and hand the connection to a new protocol.

        `on_phase`, when given, hears each phase as it ends: its name, the seconds it took, and None or the
        error raised for it (the named one, as `open` raises it). `bascule doctor --probe` times phases so.
        `target_tls`, when given, replaces the connector's target context for this connection.
        """
        plan = plan_connection(target, proxy)
        target_context = target_tls if target_tls is not None else self._target_tls
        if (plan.proxy_tls and self._proxy_tls is None) or (plan.target_tls and target_context is None):
            raise ValueError(f"no TLS context configured for {target} via {proxy.redacted if proxy else 'direct'}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        shown = proxy.redacted if proxy is not None else ""
        phase = "proxy connect" if proxy is not None else "connect"
        handshake = _Handshake()
        transport: asyncio.Transport | None = None
        began = time.perf_counter()
        try:
            async with asyncio.timeout_at(deadline):
                transport, _ = await loop.create_connection(lambda: handshake, plan.dial_host, plan.dial_port)
            began = _observed(on_phase, phase, began)
            if plan.proxy_tls:
                phase = "proxy tls"
                assert proxy is not None
                transport = await self._start_tls(transport, handshake, self._proxy_tls, proxy.host, deadline)
                handshake.transport = transport
                began = _observed(on_phase, phase, began)
            if plan.tunnel:
                phase = "proxy CONNECT"
                assert proxy is not None
                await self._tunnel(handshake, target, proxy, deadline)
                began = _observed(on_phase, phase, began)
            protocol = protocol_factory()
            if plan.target_tls:
                phase = "tls"
                if handshake.buffer:
                    raise ssl.SSLError("the proxy sent bytes before the TLS handshake")
                transport = await self._start_tls(transport, protocol, target_context, target.host, deadline)
                began = _observed(on_phase, phase, began)
            else:
                transport.set_protocol(protocol)
        except BaseException as exc:
            if transport is not None:
                transport.abort()
            if isinstance(exc, Exception):
                error = _named(exc, phase, target, shown)
                if on_phase is not None:
                    on_phase(phase, time.perf_counter() - began, error)
                raise error from exc
            raise
        protocol.connection_made(transport)
        if handshake.buffer and not plan.target_tls:
            protocol.data_received(bytes(handshake.buffer))
        return Opened(protocol, plan.absolute_form, proxy)

    async def _start_tls(
        self,
        transport: asyncio.Transport,
        protocol: asyncio.BaseProtocol,
        context: ssl.SSLContext | None,
        host: str,
        deadline: float,
    ) -> asyncio.Transport:
        assert context is not None  # checked before dialling
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(min(deadline, loop.time() + self._tls_timeout)):
            upgraded = await loop.start_tls(transport, protocol, context, server_hostname=host)
        if upgraded is None:
            raise ssl.SSLError("TLS handshake did not complete")
        return upgraded

    async def _tunnel(self, handshake: _Handshake, target: Target, proxy: ProxyEndpoint, deadline: float) -> None:
        assert handshake.transport is not None
        handshake.transport.write(connect_request(target, proxy))
        async with asyncio.timeout_at(deadline):
            head = await handshake.reply_head()
        status, reason = parse_connect_reply(head)
        if status == 407:
            raise ProxyAuthenticationRequired("proxy CONNECT", proxy.redacted, target.authority)
        if not 200 <= status < 300:
            cause = f"proxy answered {status} {reason}".rstrip()
            raise ProxyConnectError("proxy CONNECT", proxy.redacted, cause, target.authority, status)


def _observed(on_phase: PhaseObserver | None, phase: str, began: float) -> float:
    """Tell `on_phase` (if any) that `phase` ended well; the time the next phase begins from.

    Phases are timed with `perf_counter`: uvloop's `loop.time()` is libuv's cached millisecond clock."""
    if on_phase is None:
        return began
    now = time.perf_counter()
    on_phase(phase, now - began, None)
    return now


def _named(exc: Exception, phase: str, target: Target, proxy: str) -> Exception:
    """The error `exc` means in `phase`: by proxy hop, target connect or target TLS, with the proxy redacted."""
    if isinstance(exc, ProxyConnectError | UpstreamTlsError):
        return exc
    if phase.startswith("proxy"):
        return ProxyConnectError(phase, proxy, _cause(exc), target.authority)
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(phase)
    if phase == "tls":
        return UpstreamTlsError(str(target), _cause(exc), proxy)
    if isinstance(exc, socket.gaierror):
        return UpstreamHostLookupError(f"connect to {target}: host lookup failed: {exc.strerror}")
    return UpstreamConnectError(f"connect to {target}: {_cause(exc)}")


def _cause(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, socket.gaierror):
        return f"host lookup failed: {exc.strerror}"
    if isinstance(exc, OSError):  # by errno: asyncio says "Connect call failed (...)", uvloop "Connection refused"
        return os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__
