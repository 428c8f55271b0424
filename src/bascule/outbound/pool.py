"""Keep-alive connection pools, one idle list per origin.

`take_idle` hands out the most recently released idle connection (warm, least likely to have been closed
by the upstream) without waiting; `connect` dials a new one. There is no cap on connections in use, only on
idle ones kept. Idle connections older than `idle_timeout` are closed by a sweep every few seconds, never
on the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from bascule.outbound.connect import DirectConnector, Origin
from bascule.outbound.http1 import UpstreamConnection

SWEEP_INTERVAL = 5.0


class ConnectionPool:
    def __init__(self, connector: DirectConnector, max_idle_per_origin: int = 128, idle_timeout: float = 90.0) -> None:
        self._connector = connector
        self._idle: dict[Origin, deque[UpstreamConnection]] = {}
        self._max_idle = max_idle_per_origin
        self._idle_timeout = idle_timeout
        self._sweeper: asyncio.Task[None] | None = None

    def take_idle(self, origin: Origin) -> UpstreamConnection | None:
        """A pooled connection ready for one exchange, or None."""
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.is_reusable:
                return connection
        return None

    async def connect(self, origin: Origin, connect_timeout: float) -> UpstreamConnection:
        """A new connection; errors are named by phase (`bascule.outbound.connect`)."""
        return await self._connector.open(origin, lambda: UpstreamConnection(origin), connect_timeout)

    def release(self, connection: UpstreamConnection) -> None:
        """Give a connection back after an exchange; one not fit for reuse is closed instead."""
        if not connection.is_reusable:
            connection.close()
            return
        idle = self._idle.get(connection.origin)
        if idle is None:
            idle = self._idle[connection.origin] = deque()
        if len(idle) >= self._max_idle:
            idle.popleft().close()
        idle.append(connection)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    @property
    def idle_count(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            deadline = loop.time() - self._idle_timeout
            for origin, idle in list(self._idle.items()):
                kept = deque(c for c in idle if c.is_reusable and c.idle_since >= deadline)
                for connection in idle:
                    if connection not in kept:
                        connection.close()
                if kept:
                    self._idle[origin] = kept
                else:
                    del self._idle[origin]

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
