"""Message bodies in flight: a bounded buffer between a protocol callback and the task relaying it.

`feed` runs in a protocol's `data_received`; `read` runs in the relaying task. When more than `high`
bytes wait unread, the producer is asked to pause (its transport stops reading); once the reader has taken
the buffer down to `low`, it is asked to resume. Memory per body in flight is therefore bounded by `high`
plus one socket read, however large the body.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class BodyStream:
    __slots__ = (
        "_chunks",
        "_eof",
        "_error",
        "_high",
        "_low",
        "_pause",
        "_paused",
        "_resume",
        "_size",
        "_waiter",
    )

    def __init__(
        self,
        pause: Callable[[], None],
        resume: Callable[[], None],
        high: int = HIGH_WATER,
        low: int = LOW_WATER,
    ) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._pause = pause
        self._resume = resume
        self._paused = False
        self._high = high
        self._low = low

    @property
    def at_eof(self) -> bool:
        """True once the whole body has been fed and read."""
        return self._eof and not self._chunks

    @property
    def is_complete(self) -> bool:
        """True once the producer has fed the end of the body (it may still wait unread)."""
        return self._eof

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._chunks.append(chunk)
        self._size += len(chunk)
        self._wake()
        if self._size > self._high and not self._paused:
            self._paused = True
            self._pause()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def feed_error(self, error: BaseException) -> None:
        if not self._eof:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def read_nowait(self) -> bytes | None:
        """The next buffered chunk, b"" at the end of the body, or None when the reader must wait."""
        if self._chunks:
            chunk = self._chunks.popleft()
            self._size -= len(chunk)
            if self._paused and self._size <= self._low:
                self._paused = False
                self._resume()
            return chunk
        if self._error is not None:
            raise self._error
        if self._eof:
            return b""
        return None

    async def read(self) -> bytes:
        """The next chunk, or b"" once the body has ended. Raises the producer's error, if any."""
        while True:
            chunk = self.read_nowait()
            if chunk is not None:
                return chunk
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            await waiter
