"""The `KeyValueStore` rules (storage/kv.py) as one table, run on every implementation: in memory, and on a
real redis-server (`RedisKeyValueStore`, direct, through the outbound layer's opener as the app wires it).

Each row is a sequence of calls on a fresh, empty store, with what each call must return, or the exception
it must raise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from redis_peers import RedisPeer

from bascule.config.gateway import StorageSettings
from bascule.config.outbound import ServiceType
from bascule.config.outbound_defaults import default_profile
from bascule.outbound.redis_stream import redis_stream_opener
from bascule.storage.kv import KeyValueStore, WrongKeyKind
from bascule.storage.memory import MemoryKeyValueStore
from bascule.storage.redis import RedisKeyValueStore


@dataclass(frozen=True)
class Raises:
    error: type[Exception]


Call = tuple[str, tuple[object, ...], object]

CONTRACT: dict[str, list[Call]] = {
    "a missing key reads as None": [("get", ("a",), None)],
    "set, get, and set again replaces": [
        ("set", ("a", b"1"), None),
        ("get", ("a",), b"1"),
        ("set", ("a", b"2"), None),
        ("get", ("a",), b"2"),
    ],
    "values are bytes, any bytes": [
        ("set", ("bin", b"\x00\xff\r\n*$"), None),
        ("get", ("bin",), b"\x00\xff\r\n*$"),
        ("set", ("empty", b""), None),
        ("get", ("empty",), b""),
    ],
    "a buffer is copied in": [("set", ("a", bytearray(b"abc")), None), ("get", ("a",), b"abc")],
    "add writes only a missing key": [
        ("add", ("a", b"first"), True),
        ("add", ("a", b"second"), False),
        ("get", ("a",), b"first"),
    ],
    "add does not write over a list": [
        ("list_append", ("l", b"x"), None),
        ("add", ("l", b"value"), False),
        ("list_items", ("l",), [b"x"]),
    ],
    "set replaces a list": [("list_append", ("l", b"x"), None), ("set", ("l", b"v"), None), ("get", ("l",), b"v")],
    "delete says whether the key existed, value or list": [
        ("set", ("a", b"1"), None),
        ("list_append", ("l", b"x"), None),
        ("delete", ("a",), True),
        ("delete", ("a",), False),
        ("delete", ("l",), True),
        ("get", ("a",), None),
        ("list_items", ("l",), []),
    ],
    "lists keep order and duplicates": [
        *(("list_append", ("l", item), None) for item in (b"a", b"b", b"a", b"c")),
        ("list_items", ("l",), [b"a", b"b", b"a", b"c"]),
        ("list_remove", ("l", b"a"), 2),
        ("list_items", ("l",), [b"b", b"c"]),
        ("list_remove", ("l", b"zzz"), 0),
    ],
    "a list emptied no longer exists": [
        ("list_append", ("l", b"a"), None),
        ("list_remove", ("l", b"a"), 1),
        ("keys", ("l",), []),
        ("list_remove", ("missing", b"a"), 0),
        ("list_items", ("missing",), []),
        ("keys", ("missing",), []),
    ],
    "keys match the prefix literally, sorted, both kinds": [
        *(("set", (key, b""), None) for key in ("cert-raw-b", "cert-raw-a", "cert-org-index", "cert-raw*", "other")),
        ("list_append", ("cert-raw-list", b"x"), None),
        ("keys", ("cert-raw-",), ["cert-raw-a", "cert-raw-b", "cert-raw-list"]),
        ("keys", ("cert-raw*",), ["cert-raw*"]),
        ("keys", ("none",), []),
        ("keys", ("",), ["cert-org-index", "cert-raw*", "cert-raw-a", "cert-raw-b", "cert-raw-list", "other"]),
    ],
    "glob characters in a prefix are literal": [
        *(("set", (key, b""), None) for key in ("a?c", "abc", "a[b]x", "ab", "a\\b", "a\\\\b", "h*llo", "hello")),
        ("keys", ("a?",), ["a?c"]),
        ("keys", ("a[b]",), ["a[b]x"]),
        ("keys", ("a\\",), ["a\\\\b", "a\\b"]),
        ("keys", ("h*",), ["h*llo"]),
    ],
    "keys are text, not only ASCII": [("set", ("clé-é", b"1"), None), ("keys", ("clé",), ["clé-é"])],
    "get on a list is WrongKeyKind": [("list_append", ("l", b"1"), None), ("get", ("l",), Raises(WrongKeyKind))],
    "list_append on a value is WrongKeyKind": [
        ("set", ("v", b"1"), None),
        ("list_append", ("v", b"x"), Raises(WrongKeyKind)),
        ("get", ("v",), b"1"),
    ],
    "list_remove on a value is WrongKeyKind": [
        ("set", ("v", b"1"), None),
        ("list_remove", ("v", b"x"), Raises(WrongKeyKind)),
    ],
    "list_items on a value is WrongKeyKind": [("set", ("v", b"1"), None), ("list_items", ("v",), Raises(WrongKeyKind))],
}


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisPeer]:
    peer = RedisPeer().start()
    yield peer
    peer.stop()


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryKeyValueStore()
        return
    server: RedisPeer = request.getfixturevalue("redis_server")
    raw = Redis(host="127.0.0.1", port=server.port)
    await raw.flushdb()
    await raw.aclose()
    settings = StorageSettings(kind="redis", host="127.0.0.1", port=server.port, timeout=2.0)
    store = RedisKeyValueStore(settings, redis_stream_opener(default_profile(ServiceType.STORAGE), use_tls=False))
    yield store
    await store.close()


@pytest.mark.parametrize("calls", CONTRACT.values(), ids=CONTRACT.keys())
async def test_contract(kv: KeyValueStore, calls: list[Call]) -> None:
    for number, (method, args, expected) in enumerate(calls, 1):
        where = f"call {number}: {method}{args!r}"
        if isinstance(expected, Raises):
            with pytest.raises(expected.error):
                await getattr(kv, method)(*args)
            continue
        result = await getattr(kv, method)(*args)
        assert result == expected, where
        assert type(result) is type(expected), where  # bytes, not a memoryview or bytearray


async def test_a_caller_reusing_its_buffer_does_not_change_the_stored_value(kv: KeyValueStore) -> None:
    value = bytearray(b"abc")
    await kv.set("a", value)  # type: ignore[arg-type]  # a caller may pass a buffer it reuses
    value[0] = ord("z")
    assert await kv.get("a") == b"abc"


async def test_a_value_with_a_ttl_is_gone_after_it(kv: KeyValueStore) -> None:
    await kv.set("short", b"1", ttl=0.1)
    assert await kv.add("lock", b"me", ttl=0.1) is True
    await kv.set("forever", b"1")
    assert await kv.get("short") == b"1"
    await asyncio.sleep(0.2)
    assert await kv.get("short") is None
    assert await kv.keys("") == ["forever"]
    assert await kv.add("lock", b"other", ttl=5) is True  # the expired lock can be taken


async def test_set_without_ttl_clears_an_earlier_expiry(kv: KeyValueStore) -> None:
    await kv.set("a", b"1", ttl=0.1)
    await kv.set("a", b"2")
    await asyncio.sleep(0.2)
    assert await kv.get("a") == b"2"


async def test_refresh_extends_only_the_holders_key(kv: KeyValueStore) -> None:
    assert await kv.add("lock", b"me", ttl=0.2) is True
    assert await kv.refresh("lock", b"someone-else", 5) is False
    assert await kv.refresh("lock", b"me", 5) is True
    await asyncio.sleep(0.3)
    assert await kv.get("lock") == b"me"
    assert await kv.refresh("missing", b"me", 5) is False


async def test_release_removes_only_the_holders_key(kv: KeyValueStore) -> None:
    assert await kv.add("lock", b"me", ttl=5) is True
    assert await kv.release("lock", b"someone-else") is False
    assert await kv.get("lock") == b"me"
    assert await kv.release("lock", b"me") is True
    assert await kv.get("lock") is None
    assert await kv.release("lock", b"me") is False
