"""The `KeyValueStore` rules (storage/kv.py), one test each, on the in-memory implementation."""

from __future__ import annotations

import pytest

from bascule.storage.kv import KeyValueStore, WrongKeyKind
from bascule.storage.memory import MemoryKeyValueStore


@pytest.fixture
def kv() -> KeyValueStore:
    return MemoryKeyValueStore()


async def test_get_set_and_replace(kv: KeyValueStore) -> None:
    assert await kv.get("a") is None
    await kv.set("a", b"1")
    assert await kv.get("a") == b"1"
    await kv.set("a", b"2")
    assert await kv.get("a") == b"2"


async def test_add_writes_only_a_missing_key(kv: KeyValueStore) -> None:
    assert await kv.add("a", b"first") is True
    assert await kv.add("a", b"second") is False
    assert await kv.get("a") == b"first"
    await kv.list_append("l", b"x")
    assert await kv.add("l", b"value") is False


async def test_delete_says_whether_the_key_existed(kv: KeyValueStore) -> None:
    await kv.set("a", b"1")
    await kv.list_append("l", b"x")
    assert await kv.delete("a") is True
    assert await kv.delete("a") is False
    assert await kv.delete("l") is True
    assert await kv.get("a") is None
    assert await kv.list_items("l") == []


async def test_keys_match_the_prefix_literally_and_sorted(kv: KeyValueStore) -> None:
    for key in ("cert-raw-b", "cert-raw-a", "cert-org-index", "cert-raw*", "other"):
        await kv.set(key, b"")
    await kv.list_append("cert-raw-list", b"x")
    assert await kv.keys("cert-raw-") == ["cert-raw-a", "cert-raw-b", "cert-raw-list"]
    assert await kv.keys("cert-raw*") == ["cert-raw*"]
    assert await kv.keys("none") == []
    assert len(await kv.keys("")) == 6


async def test_lists_keep_order_and_duplicates(kv: KeyValueStore) -> None:
    for item in (b"a", b"b", b"a", b"c"):
        await kv.list_append("l", item)
    assert await kv.list_items("l") == [b"a", b"b", b"a", b"c"]
    assert await kv.list_remove("l", b"a") == 2
    assert await kv.list_items("l") == [b"b", b"c"]
    assert await kv.list_remove("l", b"zzz") == 0


async def test_a_list_emptied_no_longer_exists(kv: KeyValueStore) -> None:
    await kv.list_append("l", b"a")
    assert await kv.list_remove("l", b"a") == 1
    assert await kv.keys("l") == []
    assert await kv.list_remove("missing", b"a") == 0
    assert await kv.list_items("missing") == []
    assert await kv.keys("missing") == []


async def test_values_are_copied_in(kv: KeyValueStore) -> None:
    value = bytearray(b"abc")
    await kv.set("a", value)  # type: ignore[arg-type]  # a caller may pass a buffer it reuses
    value[0] = ord("z")
    assert await kv.get("a") == b"abc"


@pytest.mark.parametrize(
    "misuse",
    ["get", "list_append", "list_remove", "list_items"],
)
async def test_a_key_used_as_the_other_kind_raises(kv: KeyValueStore, misuse: str) -> None:
    await kv.set("value", b"1")
    await kv.list_append("list", b"1")
    with pytest.raises(WrongKeyKind):
        if misuse == "get":
            await kv.get("list")
        elif misuse == "list_append":
            await kv.list_append("value", b"x")
        elif misuse == "list_remove":
            await kv.list_remove("value", b"x")
        else:
            await kv.list_items("value")


async def test_expired_keys_that_are_never_read_again_are_dropped_by_later_writes() -> None:
    now = [0.0]
    store = MemoryKeyValueStore(clock=lambda: now[0])
    for i in range(1000):
        await store.add(f"webhook.cache.{i}", b"1", ttl=1.0)
    now[0] = 2.0
    await store.set("other", b"x")
    assert await store.keys("webhook.cache.") == []
    assert len(store._entries) == 1
