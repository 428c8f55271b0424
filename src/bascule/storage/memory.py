"""The embedded storage: `storage.kv.KeyValueStore` in this process's memory (DECISIONS §1: no Redis needed).

Nothing survives a restart and nothing is shared with another process or node; with `storage.type:
redis` every node sees the same data. Each method runs to its end without awaiting, so on one event loop
every operation is atomic (`add` included).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

from bascule.storage.kv import WrongKeyKind


class MemoryKeyValueStore:
    """A dict of values and lists, keeping the `KeyValueStore` rules. Expired values are dropped when read."""

    __slots__ = ("_clock", "_deadlines", "_entries", "_expires")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: dict[str, bytes | list[bytes]] = {}
        self._expires: dict[str, float] = {}
        self._deadlines: list[tuple[float, str]] = []
        """A heap of (expiry, key): each write drops what has expired, so keys never read again (webhook
        cooldowns) do not pile up."""
        self._clock = clock

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        if isinstance(entry, list):
            raise WrongKeyKind(key, "value")
        return entry

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._write(key, bytes(value), ttl)

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        self._write(key, bytes(value), ttl)
        return True

    async def refresh(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(key) != value:
            return False
        self._expires[key] = expires = self._clock() + ttl
        heapq.heappush(self._deadlines, (expires, key))
        return True

    async def release(self, key: str, value: bytes) -> bool:
        if self._live(key) != value:
            return False
        return await self.delete(key)

    async def delete(self, key: str) -> bool:
        self._expires.pop(key, None)
        return self._entries.pop(key, None) is not None

    async def keys(self, prefix: str) -> list[str]:
        return sorted(key for key in list(self._entries) if key.startswith(prefix) and self._live(key) is not None)

    def _write(self, key: str, value: bytes, ttl: float | None) -> None:
        now = self._clock()
        self._sweep(now)
        self._entries[key] = value
        if ttl is None:
            self._expires.pop(key, None)
        else:
            self._expires[key] = now + ttl
            heapq.heappush(self._deadlines, (now + ttl, key))

    def _sweep(self, now: float) -> None:
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            expires, key = heapq.heappop(deadlines)
            if self._expires.get(key) == expires:  # not rewritten or refreshed since
                del self._expires[key]
                del self._entries[key]

    def _live(self, key: str) -> bytes | list[bytes] | None:
        """The entry at `key`, after dropping it if it has expired."""
        expires = self._expires.get(key)
        if expires is not None and self._clock() >= expires:
            del self._expires[key]
            del self._entries[key]
            return None
        return self._entries.get(key)

    async def list_append(self, key: str, item: bytes) -> None:
        self._list(key, create=True).append(bytes(item))

    async def list_remove(self, key: str, item: bytes) -> int:
        items = self._list(key, create=False)
        kept = [existing for existing in items if existing != item]
        removed = len(items) - len(kept)
        if kept:
            items[:] = kept
        else:
            self._entries.pop(key, None)
        return removed

    async def list_items(self, key: str) -> list[bytes]:
        return list(self._list(key, create=False))

    def _list(self, key: str, create: bool) -> list[bytes]:
        entry = self._live(key)
        if entry is None:
            fresh: list[bytes] = []
            if create:
                self._entries[key] = fresh
            return fresh
        if not isinstance(entry, list):
            raise WrongKeyKind(key, "list")
        return entry
