"""Keep-alive connections to upstreams, one idle list per origin (`IdlePool`).

`take_idle` hands out the most recently released idle connection (warm, least likely to have been closed
by the upstream) without waiting; `connect` dials a new one. There is no cap on connections in use, only on
idle ones kept; idle connections past `idle_timeout` are closed by a timer, never on the request path.
"""

from __future__ import annotations

from collections.abc import Hashable

from bascule.config.outbound import PoolLimits
from bascule.core.upstream_url import Origin
from bascule.outbound.dial_plan import DialPlan
from bascule.outbound.http1 import UpstreamConnection
from bascule.outbound.idle_pool import IdlePool
from bascule.outbound.proxy_connect import ProxyConnector, Target

# Go's http.Transport defaults as Tyk sets them for upstreams (tyk-behaviour §3.7): idle 90 s.
UPSTREAM_POOL = PoolLimits(max_idle=4096, max_idle_per_host=128, idle_timeout=90.0, tls_handshake_timeout=10.0)


class ConnectionPool:
    """Idle connections keyed by origin, or by (origin, plan) for an API with its own `DialPlan`."""

    def __init__(self, connector: ProxyConnector, limits: PoolLimits = UPSTREAM_POOL) -> None:
        self._connector = connector
        self._idle: IdlePool[Hashable] = IdlePool(limits)

    def take_idle(self, origin: Origin, plan: DialPlan | None = None) -> UpstreamConnection | None:
        """A pooled connection ready for one exchange, or None."""
        return self._idle.take(origin if plan is None else (origin, plan))

    async def connect(self, origin: Origin, connect_timeout: float, plan: DialPlan | None = None) -> UpstreamConnection:
        """A new connection, dialled by the one connect path (`bascule.outbound.proxy_connect`); errors are
        named by phase. With a plan: its TLS context for this host, and its proxy (always a tunnel)."""
        if plan is None:
            target = Target("https" if origin.tls else "http", origin.host, origin.port)
            opened = await self._connector.open(target, None, lambda: UpstreamConnection(origin), connect_timeout)
            return opened.protocol
        proxy = plan.proxy_for(origin.tls, origin.host, origin.port)
        scheme = "https" if origin.tls else ("tcp" if proxy is not None else "http")
        target = Target(scheme, origin.host, origin.port)
        context = plan.context_for(origin.host, origin.port, str(target))  # raises for a plan that failed
        if not origin.tls:
            context = None
        opened = await self._connector.open(
            target, proxy, lambda: UpstreamConnection(origin, plan), connect_timeout, target_tls=context
        )
        return opened.protocol

    def release(self, connection: UpstreamConnection) -> None:
        """Give a connection back after an exchange; one not fit for reuse is closed instead."""
        plan = connection.plan
        self._idle.put(connection.origin if plan is None else (connection.origin, plan), connection)

    @property
    def idle_count(self) -> int:
        return self._idle.idle_count

    async def close(self) -> None:
        self._idle.close()
