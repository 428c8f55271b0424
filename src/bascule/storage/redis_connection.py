"""The one redis-py connection class bascule uses: its byte stream comes from an injected `StreamOpener`.

redis-py 5.3's `redis.asyncio.connection.Connection._connect` dials with `asyncio.open_connection`, and its
`SSLConnection` adds TLS with redis-py's own context. bascule's Redis connections go direct, with TLS, or
through a CONNECT tunnel with TLS inside, as the outbound layer decides (DECISIONS §7, §11). So this class
overrides `_connect` only: the opener returns `(reader, writer)` already connected, TLS already done when
configured, and redis-py never wraps it again (this class is never combined with `SSLConnection`, and no
`ssl` argument reaches redis-py). Everything on top of the stream stays redis-py's: RESP parsing, AUTH,
SELECT, timeouts on reads and writes, and the pool's check that a reused connection is still open.

The opener is a collaborator (STYLE rule 7): the storage layer may not import the outbound layer, so the
app passes `bascule.outbound.redis_stream.redis_stream_opener(...)` in; tests may pass any coroutine
function of the same shape. `_connect` is bounded by redis-py's `socket_connect_timeout`, given to the
opener as its deadline, and redis-py turns whatever the opener raises into a `redis.ConnectionError`
(`from` the original, which `bascule.storage.redis` reads for the log line).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from redis.asyncio.connection import Connection

DEFAULT_CONNECT_TIMEOUT = 5.0
"""Seconds, when redis-py was given no connect timeout (bascule always gives `storage.timeout`)."""


class StreamOpener(Protocol):
    """Connects to a Redis server (through whatever proxy and TLS apply) and returns the byte streams."""

    async def __call__(
        self, host: str, port: int, timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...


class OpenedStreamConnection(Connection):
    """A redis-py TCP connection whose stream is opened by `open_stream` (see the module docstring)."""

    def __init__(self, *, open_stream: StreamOpener, **kwargs: Any) -> None:
        self._open_stream = open_stream
        super().__init__(**kwargs)

    async def _connect(self) -> None:
        timeout = self.socket_connect_timeout or DEFAULT_CONNECT_TIMEOUT
        self._reader, self._writer = await self._open_stream(self.host, self.port, timeout)
