"""The HTTP client of the gateway's own calls: JWKS, introspection, webhooks, health checks, discovery.

One `ServiceClient` per service type (`ServiceProfile`), built once with the snapshot: its TLS contexts and
connector are made in `__init__`, never per call. A call (`request`) is:

1. refused when the profile has `problems` (DECISIONS §10, fail closed): `ExternalServiceUnavailable`
   naming the service and the problem, one `[ExternalServices]` log line; never a direct fallback;
2. routed: `choose_proxy(route, scheme, host, port)` picks the proxy or None (bypass list, DECISIONS §7-8);
   the answer is remembered per (scheme, host, port);
3. sent on a pooled keep-alive connection for that route (plain HTTP through a proxy shares the proxy's
   connections, in absolute form with `Proxy-Authorization`), or on a new one from `ProxyConnector`;
4. bounded: the profile's `timeout` (or the call's) covers the whole call, connect phases included; the
   body is capped at `max_body` bytes (10 MiB unless told: OWASP API10, the answers are untrusted input);
5. answered as it came: redirects are **not** followed (reliability §3.2, SSRF) and a 3xx is returned.

A failure is raised once, named by phase (`errors.py`), after one `[ExternalServices]` warning with the
service, phase, target origin (never its path or query) and the proxy redacted. Nothing is retried, except
one new connection when a reused idle one turns out closed before any byte of the answer (idempotent
methods only). A proxy that was down is simply dialled again by the next call.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

from bascule.config.outbound import ProxyEndpoint, ProxyRoute, ServiceProfile, ServiceType
from bascule.core.proxy_route import choose_proxy as default_choose_proxy
from bascule.core.upstream_url import Origin
from bascule.errors import (
    ExternalServiceUnavailable,
    ProxyAuthenticationRequired,
    ProxyError,
    ResponseTooLarge,
    TlsSetupError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from bascule.outbound.client_tls import TlsMaterial, build_client_context, build_proxy_context
from bascule.outbound.http1 import ResponseHead, UpstreamConnection
from bascule.outbound.idle_pool import IdlePool
from bascule.outbound.proxy_connect import ConnectPlan, ProxyConnector, Target, plan_connection, proxy_authorization

log = logging.getLogger("bascule.outbound")

MAX_RESPONSE_BODY = 10 * 1024 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_ROUTE_CACHE_SIZE = 1024

ProxyChooser = Callable[[ProxyRoute, str, str, int], ProxyEndpoint | None]


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class _BodyCollector:
    """A `ResponseSink` that keeps the whole answer, up to `limit` body bytes."""

    def __init__(self, connection: UpstreamConnection, limit: int) -> None:
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.head: ResponseHead | None = None
        self.chunks: list[bytes] = []
        self._connection = connection
        self._room = limit
        self._limit = limit

    def response_head(self, head: ResponseHead) -> None:
        self.head = head
        if head.content_length is not None and head.content_length > self._limit:
            self._give_up(ResponseTooLarge(self._limit))

    def response_body(self, chunk: bytes) -> None:
        self._room -= len(chunk)
        if self._room < 0:
            self._give_up(ResponseTooLarge(self._limit))
            return
        self.chunks.append(chunk)

    def response_end(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def response_failed(self, error: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(error)

    def _give_up(self, error: Exception) -> None:
        self._connection.abort()  # the sink hears nothing more; the connection is never pooled
        self.response_failed(error)


PoolKey = tuple[Target | None, ProxyEndpoint | None, ssl.SSLContext | None]
"""Connections are shared per (target, proxy); plain HTTP through a proxy shares the proxy's (target None)."""


class _StreamProtocol(asyncio.StreamReaderProtocol):
    """asyncio's stream protocol, keeping the transport it is given (asyncio has no public getter)."""

    transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        super().connection_made(transport)


class ServiceClient:
    """HTTP/1.1 calls for one service type, through the profile's proxies, TLS, pool and timeout."""

    def __init__(
        self,
        profile: ServiceProfile,
        tls_material: TlsMaterial | None = None,
        *,
        choose_proxy: ProxyChooser | None = None,
        max_body: int = MAX_RESPONSE_BODY,
    ) -> None:
        self.profile = profile
        self.service = str(profile.service)
        self._choose = choose_proxy or default_choose_proxy
        self._max_body = max_body
        self._routes: dict[tuple[str, str, int], ProxyEndpoint | None] = {}
        self._pool: IdlePool[PoolKey] = IdlePool(profile.pool)
        self._connector = ProxyConnector(None, None)
        problems = list(profile.problems)
        if not problems:
            try:
                self._connector = _build_connector(profile, tls_material)
            except TlsSetupError as exc:
                problems.append(f"Failed to configure TLS: {exc}")
        self.problems = tuple(problems)
        """Why calls are refused: the profile's problems, and a TLS setup that failed here."""
        self._refusal = _refusal_text(profile.proxy, self.problems)

    async def __aenter__(self) -> ServiceClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the idle connections; calls in flight finish on theirs."""
        self._pool.close()

    @property
    def idle_connections(self) -> int:
        return self._pool.idle_count

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> ServiceResponse:
        """One call (module rules 1-5); ValueError for a URL, method or header that cannot be sent.
        `tls_context` replaces the profile's TLS towards an `https://` target (an uptime check of an API's
        upstream uses that API's trust, client certificate and pins); the proxy is still the profile's."""
        if self.problems:
            log.error("[ExternalServices] %s: call refused: %s", self.service, self._refusal)
            raise ExternalServiceUnavailable(self.service, self.problems)
        target, path, authority = _parse_url(url)
        proxy = self._proxy_for(target)
        plan = plan_connection(target, proxy)
        head = _request_head(method, target, path, authority, headers, body, plan)
        deadline = asyncio.get_running_loop().time() + (self.profile.timeout if timeout is None else timeout)
        try:
            return await self._exchange(target, plan, method, head, body, deadline, tls_context)
        except (ProxyError, OSError) as exc:
            phase = getattr(exc, "phase", "response" if isinstance(exc, UpstreamProtocolError) else "connect")
            via = proxy.redacted if proxy is not None else "direct"
            cause = getattr(exc, "cause", None) or exc
            log.warning(
                "[ExternalServices] %s: call to %s via %s failed in phase %r: %s",
                self.service,
                target,
                via,
                phase,
                cause,
            )
            raise

    async def open_stream(
        self, scheme: str, host: str, port: int, timeout: float | None = None, tls_context: ssl.SSLContext | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A byte stream to `scheme://host:port` (`tcp` or `tls`) through the profile's proxy (a CONNECT
        tunnel) and TLS, for socket checks; refused and logged like `request`."""
        if self.problems:
            log.error("[ExternalServices] %s: call refused: %s", self.service, self._refusal)
            raise ExternalServiceUnavailable(self.service, self.problems)
        if scheme not in ("tcp", "tls"):
            raise ValueError(f"unsupported stream scheme {scheme!r}")
        target = Target(scheme, host, port)
        proxy = self._proxy_for(target)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self._max_body, loop=loop)
        budget = self.profile.timeout if timeout is None else timeout
        context = tls_context if scheme == "tls" else None
        opened = await self._connector.open(target, proxy, lambda: _StreamProtocol(reader), budget, target_tls=context)
        protocol = opened.protocol
        assert protocol.transport is not None  # connection_made has run
        return reader, asyncio.StreamWriter(protocol.transport, protocol, reader, loop)

    def _proxy_for(self, target: Target) -> ProxyEndpoint | None:
        key = (target.scheme, target.host, target.port)
        if key in self._routes:
            return self._routes[key]
        if len(self._routes) >= _ROUTE_CACHE_SIZE:
            self._routes.clear()
        proxy = self._routes[key] = self._choose(self.profile.proxy, target.scheme, target.host, target.port)
        return proxy

    async def _exchange(
        self,
        target: Target,
        plan: ConnectPlan,
        method: str,
        head: bytes,
        body: bytes,
        deadline: float,
        tls_context: ssl.SSLContext | None = None,
    ) -> ServiceResponse:
        context = tls_context if plan.target_tls else None
        key: PoolKey = (None if plan.absolute_form else target, plan.proxy, context)
        connection = self._pool.take(key)
        if connection is not None:
            try:
                return await self._send(connection, key, target, plan, method == "HEAD", head, body, deadline)
            except UpstreamProtocolError as exc:
                if isinstance(exc, ResponseTooLarge) or connection.received_any or method not in IDEMPOTENT:
                    raise
                # An idle connection the peer closed as we reused it: one new connection, as Go does.
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise UpstreamTimeout("connect")
        origin = Origin(target.host, target.port, plan.target_tls)
        opened = await self._connector.open(
            target, plan.proxy, lambda: UpstreamConnection(origin), remaining, target_tls=context
        )
        return await self._send(opened.protocol, key, target, plan, method == "HEAD", head, body, deadline)

    async def _send(
        self,
        connection: UpstreamConnection,
        key: PoolKey,
        target: Target,
        plan: ConnectPlan,
        head_request: bool,
        head: bytes,
        body: bytes,
        deadline: float,
    ) -> ServiceResponse:
        collector = _BodyCollector(connection, self._max_body)
        connection.begin(head, head_request, collector)
        if body:
            connection.write(body)
        try:
            async with asyncio.timeout_at(deadline):
                await collector.done
        except TimeoutError:
            connection.abort()
            raise UpstreamTimeout("response") from None
        except BaseException:
            connection.abort()
            raise
        answer = collector.head
        assert answer is not None
        self._pool.put(key, connection)
        if answer.status == 407 and plan.absolute_form and plan.proxy is not None:
            raise ProxyAuthenticationRequired("proxy request", plan.proxy.redacted, target.authority)
        return ServiceResponse(
            status=answer.status,
            headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers),
            body=b"".join(collector.chunks),
        )


def build_service_clients(
    profiles: Mapping[ServiceType, ServiceProfile],
    material_for: Callable[[ServiceProfile], TlsMaterial | None] = lambda _: None,
) -> dict[ServiceType, ServiceClient]:
    """One client per service type, with the certificate store's material for each (None: files only)."""
    return {service: ServiceClient(profile, material_for(profile)) for service, profile in profiles.items()}


def _refusal_text(route: ProxyRoute, problems: tuple[str, ...]) -> str:
    """The problems, and the proxies (redacted) the service would have used."""
    named = (("http_proxy", route.http_proxy), ("https_proxy", route.https_proxy))
    shown = [f"{name}={proxy.redacted}" for name, proxy in named if proxy is not None]
    return "; ".join(problems) + (f" ({', '.join(shown)})" if shown else "")


def _build_connector(profile: ServiceProfile, material: TlsMaterial | None) -> ProxyConnector:
    route = profile.proxy
    needs_proxy_tls = any(p is not None and p.scheme == "https" for p in (route.http_proxy, route.https_proxy))
    return ProxyConnector(
        build_client_context(profile.tls, material),
        build_proxy_context(profile.tls, material) if needs_proxy_tls else None,
        profile.pool.tls_handshake_timeout,
    )


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "proxy-authorization", "host"})
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"


def _parse_url(url: str) -> tuple[Target, str, str]:
    """Target, origin-form request target (path and query) and authority (`host[:port]`) of an http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
    if "@" in parts.netloc:
        raise ValueError("credentials in the URL are not sent; use an Authorization header")
    host = parts.hostname
    if not host:
        raise ValueError("URL has no host")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    explicit = parts.port  # ValueError for an invalid port
    port = explicit if explicit is not None else (443 if scheme == "https" else 80)
    target = Target(scheme, host, port)
    shown = f"[{host}]" if ":" in host else host
    authority = shown if explicit is None else target.authority
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    return target, path, authority


def _request_head(
    method: str,
    target: Target,
    path: str,
    authority: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    plan: ConnectPlan,
) -> bytes:
    """The request head; framing headers are the client's (a caller's `Host` is kept, its framing dropped)."""
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"invalid method {method!r}")
    host = authority
    lines: list[str] = []
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or _UNSAFE_VALUE.search(value):
            raise ValueError(f"invalid header {name!r}")
        lowered = name.lower()
        if lowered == "host":
            host = value
        elif lowered not in _FRAMING:
            lines.append(f"{name}: {value}")
    request_target = f"{target.scheme}://{authority}{path}" if plan.absolute_form else path
    lines[:0] = [f"{method} {request_target} HTTP/1.1", f"Host: {host}"]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    encoded = ("\r\n".join(lines) + "\r\n").encode("latin-1")
    if plan.absolute_form and plan.proxy is not None and (credentials := proxy_authorization(plan.proxy)):
        encoded += b"Proxy-Authorization: " + credentials + b"\r\n"
    return encoded + b"\r\n"
