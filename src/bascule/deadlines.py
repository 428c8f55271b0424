"""Deadlines that move on every request without churning the event loop's timer heap.

Setting or clearing a `Deadline` only stores a number. One loop timer per deadline is pending at most; when
it fires early (the deadline moved later) it re-arms itself for the new time, and when the deadline was
cleared it does nothing. A keep-alive connection serving thousands of requests thus arms a handful of loop
timers instead of one per request, and the callback still runs no earlier than the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    __slots__ = ("_at", "_callback", "_handle", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._at: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def is_set(self) -> bool:
        return self._at is not None

    def set_in(self, seconds: float) -> None:
        """Run the callback `seconds` from now unless cleared or moved before then; 0 or less: never."""
        if seconds <= 0:
            self._at = None
            return
        at = self._loop.time() + seconds
        self._at = at
        if self._handle is None:
            self._handle = self._loop.call_at(at, self._fire)

    def clear(self) -> None:
        self._at = None

    def close(self) -> None:
        self._at = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        at = self._at
        if at is None:
            return
        if self._loop.time() < at:
            self._handle = self._loop.call_at(at, self._fire)
            return
        self._at = None
        self._callback()
