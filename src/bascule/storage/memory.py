"""The embedded storage: `storage.kv.KeyValueStore` in this process's memory (DECISIONS §1: no Redis needed).

Nothing survives a restart and nothing is shared with another process or node; with `storage.type:
redis` every node sees the same data. Each method runs to its end without awaiting, so on one event loop
every operation is atomic (`add` included).
"""

from __future__ import annotations

from bascule.storage.kv import WrongKeyKind


class MemoryKeyValueStore:
    """A dict of values and lists, keeping the `KeyValueStore` rules."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, bytes | list[bytes]] = {}

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if isinstance(entry, list):
            raise WrongKeyKind(key, "value")
        return entry

    async def set(self, key: str, value: bytes) -> None:
        self._entries[key] = bytes(value)

    async def add(self, key: str, value: bytes) -> bool:
        if key in self._entries:
            return False
        self._entries[key] = bytes(value)
        return True

    async def delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    async def keys(self, prefix: str) -> list[str]:
        return sorted(key for key in self._entries if key.startswith(prefix))

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
        entry = self._entries.get(key)
        if entry is None:
            fresh: list[bytes] = []
            if create:
                self._entries[key] = fresh
            return fresh
        if not isinstance(entry, list):
            raise WrongKeyKind(key, "list")
        return entry
