"""Byte streams for Redis connections, opened as the `storage` service profile says (DECISIONS §7, §11).

`redis_stream_opener(profile, use_tls, material)` builds, once, what every Redis connection of the gateway
uses: the proxy route, the TLS contexts and the `ProxyConnector`. Calling the opener with `(host, port,
timeout)` gives an `(asyncio.StreamReader, asyncio.StreamWriter)` pair for redis-py
(`bascule.storage.redis_connection`), connected

    direct                      no proxy for `redis(s)://host:port`, or the host is in the bypass list
    through a CONNECT tunnel    `choose_proxy(route, "rediss" if use_tls else "redis", host, port)` gave a
                                proxy: Redis is not HTTP, so it always takes a tunnel (`plan_connection`)
    with TLS end to end         when `use_tls` (`storage.use_ssl`): the context is
                                `build_client_context(profile.tls, material, alpn=())`, so the profile's
                                resolved mTLS (`external_services.storage.mtls`, else the legacy `storage.*`
                                fields) applies, client certificate, CA, versions and `insecure_skip_verify`
                                included; inside the tunnel when there is one.

Fail closed (DECISIONS §10): a profile with problems, or TLS settings that do not build (missing file,
store id without its material), give an opener that refuses every call with `ExternalServiceUnavailable`
naming the service and the cause, after one `[ExternalServices]` error line at build time; it never falls
back to a plain or unverified connection. Connect errors are the connector's, named by phase with the
proxy redacted (`bascule.errors`); nothing is retried here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import cast

from bascule.config.outbound import ProxyEndpoint, ProxyRoute, ServiceProfile
from bascule.core.proxy_route import choose_proxy as default_choose_proxy
from bascule.errors import ExternalServiceUnavailable, TlsSetupError
from bascule.outbound.client_tls import TlsMaterial, build_client_context, build_proxy_context
from bascule.outbound.proxy_connect import ProxyConnector, Target

log = logging.getLogger("bascule.outbound")

STREAM_LIMIT = 64 * 1024
"""The StreamReader's buffer limit, as `asyncio.open_connection`'s default."""

ProxyChooser = Callable[[ProxyRoute, str, str, int], ProxyEndpoint | None]
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _StreamProtocol(asyncio.StreamReaderProtocol):
    """A StreamReaderProtocol that keeps the transport it was finally given (after TLS, when any)."""

    stream_transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stream_transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        super().connection_made(transport)


class RedisStreamOpener:
    """Opens Redis streams through the storage profile's proxy and TLS (see the module docstring)."""

    def __init__(
        self,
        profile: ServiceProfile,
        use_tls: bool,
        material: TlsMaterial | None = None,
        *,
        choose_proxy: ProxyChooser | None = None,
    ) -> None:
        """TlsSetupError when the TLS settings cannot be built; `redis_stream_opener` turns it into refusals."""
        self._route = profile.proxy
        self._scheme = "rediss" if use_tls else "redis"
        self._choose = choose_proxy or default_choose_proxy
        route = profile.proxy
        needs_proxy_tls = any(p is not None and p.scheme == "https" for p in (route.http_proxy, route.https_proxy))
        self._connector = ProxyConnector(
            build_client_context(profile.tls, material, alpn=()) if use_tls else None,
            build_proxy_context(profile.tls, material) if needs_proxy_tls else None,
            profile.pool.tls_handshake_timeout,
        )

    async def __call__(self, host: str, port: int, timeout: float) -> Streams:
        proxy = self._choose(self._route, self._scheme, host, port)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop)
        opened = await self._connector.open(
            Target(self._scheme, host, port), proxy, lambda: _StreamProtocol(reader, loop=loop), timeout
        )
        protocol = opened.protocol
        transport = protocol.stream_transport
        assert transport is not None  # the connector hands the connection over before returning
        raw = transport.get_extra_info("socket")
        if raw is not None:
            with contextlib.suppress(OSError):  # only latency is at stake
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class RefusingOpener:
    """The opener of a storage service that cannot be set up: every call fails closed with the cause."""

    def __init__(self, service: str, problems: tuple[str, ...]) -> None:
        self.problems = problems
        self._service = service

    async def __call__(self, host: str, port: int, timeout: float) -> Streams:
        raise ExternalServiceUnavailable(self._service, self.problems)


def redis_stream_opener(
    profile: ServiceProfile, use_tls: bool, material: TlsMaterial | None = None
) -> RedisStreamOpener | RefusingOpener:
    """The opener for the storage profile, or one that refuses every call when the profile is unusable."""
    problems = list(profile.problems)
    if not problems:
        try:
            return RedisStreamOpener(profile, use_tls, material)
        except TlsSetupError as exc:
            problems.append(f"Failed to configure TLS: {exc}")
    service = str(profile.service)
    log.error("[ExternalServices] %s: Redis connections are refused: %s", service, "; ".join(problems))
    return RefusingOpener(service, tuple(problems))
