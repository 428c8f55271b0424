"""Keep-alive connections to upstreams, one idle list per origin (`IdlePool`).

`take_idle` hands out the most recently released idle connection (warm, least likely to have been closed
by the upstream) without waiting; `connect` dials a new one. There is no cap on connections in use, only on
idle ones kept; idle connections past `idle_timeout` are closed by a timer, never on the request path.
"""

from __future__ import annotations

from bascule.config.outbound import PoolLimits
from bascule.core.upstream_url import Origin
from bascule.outbound.http1 import UpstreamConnection
from bascule.outbound.idle_pool import IdlePool
from bascule.outbound.proxy_connect import ProxyConnector, Target

# Go's http.Transport defaults as Tyk sets them for upstreams (tyk-behaviour §3.7): idle 90 s.
UPSTREAM_POOL = PoolLimits(max_idle=4096, max_idle_per_host=128, idle_timeout=90.0, tls_handshake_timeout=10.0)


class ConnectionPool:
    def __init__(self, connector: ProxyConnector, limits: PoolLimits = UPSTREAM_POOL) -> None:
        self._connector = connector
        self._idle: IdlePool[Origin] = IdlePool(limits)

    def take_idle(self, origin: Origin) -> UpstreamConnection | None:
        """A pooled connection ready for one exchange, or None."""
        return self._idle.take(origin)

    async def connect(self, origin: Origin, connect_timeout: float) -> UpstreamConnection:
        """A new connection, dialled by the one connect path (`bascule.outbound.proxy_connect`); errors are
        named by phase."""
        target = Target("https" if origin.tls else "http", origin.host, origin.port)
        opened = await self._connector.open(target, None, lambda: UpstreamConnection(origin), connect_timeout)
        return opened.protocol

    def release(self, connection: UpstreamConnection) -> None:
        """Give a connection back after an exchange; one not fit for reuse is closed instead."""
        self._idle.put(connection.origin, connection)

    @property
    def idle_count(self) -> int:
        return self._idle.idle_count

    async def close(self) -> None:
        self._idle.close()
