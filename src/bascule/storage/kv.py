"""The key-value storage that bascule's stores are written against: Redis-shaped, and only what they need.

A store (certificates now; host state, analytics and locks later) owns its key names, which are Tyk's so
that a Redis shared with Tyk nodes holds the same keys (`cert-raw-<id>`, `cert-<org>-index`, see
`storage.certificates`). The embedded default is `storage.memory.MemoryKeyValueStore`; a Redis
implementation fits the same protocol with one command per method, named next to each method below.

Rules, which every implementation keeps (one test row each in `tests/unit/storage/test_memory_kv.py`;
a Redis implementation should run the same table):

* Keys are `str`, values and list items `bytes`.
* A key holds either a value (`get`, `set`, `add`) or a list (`list_*`). Using a key as the other kind
  raises `WrongKeyKind` (Redis: `WRONGTYPE`); `delete` and `keys` work on both kinds.
* `add` writes only when the key does not exist, and says whether it wrote: the one atomic
  check-and-set the stores need (two nodes adding the same certificate: one wins).
* A list whose last item is removed no longer exists, and reading a missing list gives `[]`.
* `ttl` (seconds, > 0) makes a value expire: after it, the key reads as missing. `set` and `add` without
  `ttl` write a value that never expires (and `set` clears an earlier expiry, as Redis `SET` does).
  `refresh(key, value, ttl)` extends the life of `key` only while it still holds `value`: how the owner of
  a lock keeps it without taking it from a node that has since won it; `release(key, value)` removes it on
  the same condition.
* `keys(prefix)` matches `prefix` literally (a Redis implementation escapes `*?[]\\` for `SCAN MATCH`)
  and returns the keys sorted.
"""

from __future__ import annotations

from typing import Protocol


class WrongKeyKind(Exception):
    """A value operation on a list key, or a list operation on a value key (Redis `WRONGTYPE`)."""

    def __init__(self, key: str, expected: str) -> None:
        self.key = key
        super().__init__(f"key {key!r} does not hold a {expected}")


class KeyValueStore(Protocol):
    """Async key-value storage (see the module rules)."""

    async def get(self, key: str) -> bytes | None:
        """The value at `key`, None when there is none. Redis: `GET`."""

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Write `value` at `key`, replacing any value. Redis: `SET [PX ms]`."""

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Write `value` only if `key` does not exist; True when written. Redis: `SET key value NX [PX ms]`."""

    async def refresh(self, key: str, value: bytes, ttl: float) -> bool:
        """Give `key` `ttl` more seconds if it holds `value`; True when it did. Redis: a compare-and-PEXPIRE
        script (one atomic step)."""

    async def delete(self, key: str) -> bool:
        """Remove `key` (value or list); True when it existed. Redis: `DEL`."""

    async def release(self, key: str, value: bytes) -> bool:
        """Remove `key` only while it holds `value` (giving up a lock without taking another node's); True when
        removed. Redis: a compare-and-DEL script (one atomic step)."""

    async def keys(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted. Redis: `SCAN MATCH <escaped prefix>*`."""

    async def list_append(self, key: str, item: bytes) -> None:
        """Append `item` to the list at `key`, creating it. Redis: `RPUSH`."""

    async def list_remove(self, key: str, item: bytes) -> int:
        """Remove every occurrence of `item`; how many were removed. Redis: `LREM key 0 item`."""

    async def list_items(self, key: str) -> list[bytes]:
        """The whole list at `key`, in order; `[]` when there is none. Redis: `LRANGE key 0 -1`."""
