"""`bascule.middleware.jwks_cache`: TTL, single flight, unknown-kid rate limit, stale bound, failure backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Iterable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bascule.errors import UpstreamConnectError
from bascule.middleware.jwks_cache import MAX_JWKS_BODY, JwksCache, JwksUnavailable
from bascule.outbound.service_client import ServiceResponse

URL = "https://user:pw@idp.example/jwks"
OTHER = "https://idp.example/other"
KEY_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(*kids: str) -> bytes:
    keys = [{**RSAAlgorithm.to_jwk(KEY_A.public_key(), as_dict=True), "kid": kid} for kid in kids]
    return json.dumps({"keys": keys}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeIdp:
    """A `request` that answers from `answers` (the last one repeats); an exception instance is raised."""

    def __init__(self, *answers: ServiceResponse | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay = delay
        self.gate: asyncio.Event | None = None
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> ServiceResponse:
        self.calls.append((method, url, dict(headers)))
        await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(body: bytes) -> ServiceResponse:
    return ServiceResponse(200, (("Content-Type", "application/json"),), body)


def make(idp: FakeIdp, clock: Clock, **kwargs: Any) -> JwksCache:
    """A cache whose fetches are at least 10 s apart (the tests step the clock in such units)."""
    return JwksCache(idp, clock=clock, **{"min_refetch_interval": 10.0, **kwargs})


async def test_fetch_sends_get_with_accept_json_and_caches_for_default_ttl() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")))
    cache = make(idp, clock)
    assert cache.cached(URL) is None
    keys = await cache.get(URL, None)
    assert keys.by_kid("a") is not None
    assert idp.calls == [("GET", URL, {"Accept": "application/json"})]
    clock.now += 239
    assert await cache.get(URL, None) is keys
    assert cache.cached(URL) is keys
    assert len(idp.calls) == 1
    clock.now += 2  # past 240 s
    await cache.get(URL, None)
    assert len(idp.calls) == 2


async def test_per_uri_ttl_and_urls_are_cached_separately() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")))
    cache = make(idp, clock, default_ttl=1000.0)
    await cache.get(URL, 30.0)
    await cache.get(OTHER, None)
    assert len(idp.calls) == 2
    clock.now += 31
    await cache.get(OTHER, None)
    assert len(idp.calls) == 2
    await cache.get(URL, 30.0)
    assert [call[1] for call in idp.calls] == [URL, OTHER, URL]


async def test_concurrent_gets_share_one_fetch() -> None:
    idp = FakeIdp(ok(jwks("a")), delay=0.01)
    cache = make(idp, Clock())
    results = await asyncio.gather(*(cache.get(URL, None) for _ in range(100)))
    assert len(idp.calls) == 1
    assert all(result is results[0] for result in results)


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    idp = FakeIdp(ok(jwks("a")))
    idp.gate = asyncio.Event()
    cache = make(idp, Clock())
    first = asyncio.create_task(cache.get(URL, None))
    second = asyncio.create_task(cache.get(URL, None))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    idp.gate.set()
    keys = await second
    assert keys.by_kid("a") is not None
    assert first.cancelled()
    assert len(idp.calls) == 1


async def test_unknown_kids_are_rate_limited() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")))
    cache = make(idp, clock)
    await cache.get(URL, None)
    clock.now += 20  # the initial fetch is past the refetch interval
    for i in range(1000):  # 1000 tokens with random kids over one second
        clock.now += 0.001
        keys = await cache.refresh_for_kid(URL, f"random-{random.getrandbits(64)}-{i}")
        assert keys.by_kid("a") is not None
    assert len(idp.calls) == 2


async def test_concurrent_unknown_kids_share_one_refetch() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")), delay=0.01)
    cache = make(idp, clock)
    await cache.get(URL, None)
    clock.now += 20
    await asyncio.gather(*(cache.refresh_for_kid(URL, f"k{i}") for i in range(1000)))
    assert len(idp.calls) == 2


async def test_refresh_for_kid_within_interval_of_last_fetch_serves_cached_set() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")), ok(jwks("a", "b")))
    cache = make(idp, clock)
    await cache.get(URL, None)
    clock.now += 5
    assert (await cache.refresh_for_kid(URL, "b")).by_kid("b") is None
    assert len(idp.calls) == 1


async def test_key_rotation_new_kid_found_after_refetch() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")), ok(jwks("b")))
    cache = make(idp, clock)
    assert (await cache.get(URL, None)).by_kid("b") is None
    clock.now += 11
    keys = await cache.refresh_for_kid(URL, "b")
    assert keys.by_kid("b") is not None
    assert cache.cached(URL) is keys
    # a kid already present needs no fetch
    clock.now += 11
    assert await cache.refresh_for_kid(URL, "b") is keys
    assert len(idp.calls) == 2


async def test_stale_set_serves_within_bound_with_one_warning_then_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    idp = FakeIdp(ok(jwks("a")), UpstreamConnectError("connection refused"))
    cache = make(idp, clock, default_ttl=60.0, stale_limit=3600.0)
    good = await cache.get(URL, None)
    caplog.set_level(logging.WARNING, "bascule.middleware.jwks")
    for _ in range(10):
        clock.now += 300
        assert await cache.get(URL, None) is good
        assert cache.cached(URL) is good
    assert len(idp.calls) == 11
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "idp.example/jwks" in warnings[0].getMessage()
    assert "pw" not in warnings[0].getMessage() and "user" not in warnings[0].getMessage()
    clock.now = 1000.0 + 3601  # older than the bound
    with pytest.raises(JwksUnavailable) as raised:
        await cache.get(URL, None)
    assert "pw" not in str(raised.value)
    assert cache.cached(URL) is None
    with pytest.raises(JwksUnavailable):
        await cache.refresh_for_kid(URL, "a")


async def test_recovery_after_failures_logs_and_next_burst_warns_again(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    bad = ServiceResponse(503, (), b"down")
    idp = FakeIdp(ok(jwks("a")), bad, bad, ok(jwks("b")), bad)
    cache = make(idp, clock, default_ttl=60.0)
    caplog.set_level(logging.INFO, "bascule.middleware.jwks")
    await cache.get(URL, None)
    for _ in range(3):
        clock.now += 61
        keys = await cache.get(URL, None)
    assert keys.by_kid("b") is not None
    clock.now += 61
    assert await cache.get(URL, None) is keys
    levels = [r.levelname for r in caplog.records]
    assert levels == ["WARNING", "INFO", "WARNING"]


async def test_no_good_set_ever_fails_at_once_and_backs_off() -> None:
    clock, idp = Clock(), FakeIdp(OSError("unreachable"), ok(jwks("a")))
    cache = make(idp, clock, min_refetch_interval=10.0)
    with pytest.raises(JwksUnavailable, match="unreachable"):
        await cache.get(URL, None)
    clock.now += 5  # within the backoff: no new fetch
    with pytest.raises(JwksUnavailable):
        await cache.get(URL, None)
    with pytest.raises(JwksUnavailable):
        await cache.refresh_for_kid(URL, "a")
    assert len(idp.calls) == 1
    clock.now += 5
    assert (await cache.get(URL, None)).by_kid("a") is not None
    assert len(idp.calls) == 2


async def test_failure_backoff_serves_stale_without_refetching() -> None:
    clock = Clock()
    idp = FakeIdp(ok(jwks("a")), TimeoutError(), ok(jwks("b")))
    cache = make(idp, clock, default_ttl=60.0)
    good = await cache.get(URL, None)
    clock.now += 61
    assert await cache.get(URL, None) is good  # failed refresh
    for _ in range(9):
        clock.now += 1
        assert await cache.get(URL, None) is good
    assert len(idp.calls) == 2
    clock.now += 1
    assert (await cache.get(URL, None)).by_kid("b") is not None


@pytest.mark.parametrize(
    "answer",
    [
        ServiceResponse(500, (), jwks("a")),
        ServiceResponse(302, (("Location", "http://elsewhere/"),), b""),
        ok(b"<html>not json</html>"),
        ok(b'{"no": "keys"}'),
        ok(b" " * (MAX_JWKS_BODY + 1)),
    ],
    ids=["500", "redirect", "not-json", "no-keys", "too-large"],
)
async def test_bad_answers_are_failures(answer: ServiceResponse) -> None:
    cache = make(FakeIdp(answer), Clock())
    with pytest.raises(JwksUnavailable):
        await cache.get(URL, None)
    assert cache.cached(URL) is None


async def test_cached_starts_a_background_refresh_past_ttl() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")), ok(jwks("b")))
    cache = make(idp, clock, default_ttl=60.0)
    old = await cache.get(URL, None)
    idp.gate = asyncio.Event()
    clock.now += 61
    assert cache.cached(URL) is old  # served at once, refresh in the background
    assert cache.cached(URL) is old
    idp.gate.set()
    await asyncio.sleep(0.01)
    assert len(idp.calls) == 2
    refreshed = cache.cached(URL)
    assert refreshed is not None and refreshed.by_kid("b") is not None


async def test_background_refresh_failure_is_retrieved_and_aclose_cancels() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")), OSError("down"), delay=0.005)
    cache = make(idp, clock, default_ttl=60.0, stale_limit=61.0)
    await cache.get(URL, None)
    clock.now += 60.5  # past TTL, within the stale bound: refresh starts, then the set gets too old
    assert cache.cached(URL) is not None
    clock.now += 1
    await asyncio.sleep(0.02)  # the refresh raised JwksUnavailable with nobody awaiting: no warning
    clock.now += 20
    assert cache.cached(URL) is None
    slow = make(FakeIdp(ok(jwks("a")), delay=10), Clock())
    pending = asyncio.create_task(slow.get(URL, None))
    await asyncio.sleep(0)
    await slow.aclose()
    with pytest.raises(asyncio.CancelledError):
        await pending


def test_cached_outside_a_loop_serves_without_refreshing() -> None:
    clock, idp = Clock(), FakeIdp(ok(jwks("a")))
    cache = make(idp, clock, default_ttl=60.0)
    keys = asyncio.run(cache.get(URL, None))
    clock.now += 61
    assert cache.cached(URL) is keys
    assert asyncio.run(cache.get(URL, None)) is not keys  # the refresh was not marked as attempted
    assert len(idp.calls) == 2
