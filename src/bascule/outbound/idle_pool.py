"""Idle keep-alive connections, kept per key and bounded: one mechanism for every pool bascule has."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from bascule.config.outbound import PoolLimits
from bascule.outbound.http1 import UpstreamConnection

K = TypeVar("K")


class IdlePool(Generic[K]):
    """Idle keep-alive connections per key, newest first, bounded by the profile's `PoolLimits`.

    At most `max_idle_per_host` per key (the oldest is closed for a newer one) and `max_idle` in all (a
    connection beyond that is closed). One idle past `idle_timeout` is closed when met by `take` or by a
    timer that runs while anything is idle; no task, no scan on the request path. Idle connections are
    dropped with `abort`: nothing is owed on them, and a TLS close would wait for the peer's close_notify.
    """

    def __init__(self, limits: PoolLimits) -> None:
        self._limits = limits
        self._idle: dict[K, deque[UpstreamConnection]] = {}
        self._count = 0
        self._sweep: asyncio.TimerHandle | None = None

    def take(self, key: K) -> UpstreamConnection | None:
        """The newest idle connection for `key` that is open and not past `idle_timeout`."""
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest_allowed = asyncio.get_running_loop().time() - self._limits.idle_timeout
        while idle:
            connection = idle.pop()
            self._count -= 1
            if connection.is_reusable and connection.idle_since >= oldest_allowed:
                return connection
            connection.abort()
        return None

    def put(self, key: K, connection: UpstreamConnection) -> None:
        limits = self._limits
        if not connection.is_reusable or limits.max_idle_per_host <= 0 or self._count >= limits.max_idle:
            connection.abort()
            return
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = deque()
        if len(idle) >= limits.max_idle_per_host:
            idle.popleft().abort()
            self._count -= 1
        idle.append(connection)
        self._count += 1
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(limits.idle_timeout / 2, self._close_expired)

    def _close_expired(self) -> None:
        self._sweep = None
        oldest_allowed = asyncio.get_running_loop().time() - self._limits.idle_timeout
        for key, idle in list(self._idle.items()):
            kept = deque(c for c in idle if c.is_reusable and c.idle_since >= oldest_allowed)
            for connection in idle:
                if connection not in kept:
                    connection.abort()
            self._count -= len(idle) - len(kept)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle:
            self._sweep = asyncio.get_running_loop().call_later(self._limits.idle_timeout / 2, self._close_expired)

    @property
    def idle_count(self) -> int:
        return self._count

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()
        self._count = 0
