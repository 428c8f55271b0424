"""`bascule.middleware.introspection`: RFC 7662 form, active rule, identity, cache bounds, failures, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import pytest

from bascule.config.auth import Introspection
from bascule.errors import UpstreamTimeout
from bascule.middleware.introspection import IntrospectionUnavailable, TokenIntrospector
from bascule.outbound.service_client import ServiceResponse

TOKEN = "tok-7f3a9c-secret-bearer"
SECRET = "s3cr3t-client-pass"
SETTINGS = Introspection(url="https://idp.example/introspect", client_id="gw", client_secret=SECRET, cache_timeout=60)
WALL = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeServer:
    """A `request` answering from `answers` (the last repeats); dicts are sent as JSON, exceptions raised."""

    def __init__(self, *answers: dict[str, Any] | ServiceResponse | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay = delay
        self.gate: asyncio.Event | None = None
        self.calls: list[tuple[str, str, dict[str, str], bytes]] = []

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> ServiceResponse:
        self.calls.append((method, url, dict(headers), body))
        await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, dict):
            return ServiceResponse(200, (("Content-Type", "application/json"),), json.dumps(answer).encode())
        return answer


def make(server: FakeServer, **kwargs: Any) -> tuple[TokenIntrospector, Clock]:
    clock = Clock(500.0)
    return TokenIntrospector(server, clock=clock, wall_clock=lambda: WALL + clock.now, **kwargs), clock


async def test_posts_rfc7662_form_with_client_credentials() -> None:
    server = FakeServer({"active": True, "sub": "alice", "scope": "read"})
    introspector, _ = make(server)
    result = await introspector.introspect(SETTINGS, TOKEN)
    assert result.active and result.identity == "alice" and result.claims["scope"] == "read"
    [(method, url, headers, body)] = server.calls
    assert (method, url) == ("POST", "https://idp.example/introspect")
    assert headers == {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    assert parse_qs(body.decode()) == {"token": [TOKEN], "client_id": ["gw"], "client_secret": [SECRET]}


@pytest.mark.parametrize(
    ("answer", "active"),
    [
        ({"active": True}, True),
        ({"active": False, "sub": "alice"}, False),
        ({"sub": "alice"}, False),
        ({"active": "true"}, False),
        ({"active": 1}, False),
    ],
)
async def test_active_only_when_json_true(answer: dict[str, Any], active: bool) -> None:
    introspector, _ = make(FakeServer(answer))
    assert (await introspector.introspect(SETTINGS, TOKEN)).active is active


@pytest.mark.parametrize(
    ("field", "answer", "identity"),
    [
        ("", {"active": True, "sub": "s", "username": "u"}, "s"),
        ("", {"active": True, "username": "u"}, "u"),
        ("client_id", {"active": True, "client_id": "c", "sub": "s"}, "c"),
        ("client_id", {"active": True, "client_id": 7, "sub": "s"}, "s"),
        ("", {"active": True, "sub": ""}, ""),
    ],
)
async def test_identity_field_then_sub_then_username(field: str, answer: dict[str, Any], identity: str) -> None:
    introspector, _ = make(FakeServer(answer))
    settings = Introspection(url=SETTINGS.url, client_id="gw", client_secret=SECRET, identity_base_field=field)
    assert (await introspector.introspect(settings, TOKEN)).identity == identity


@pytest.mark.parametrize("active", [True, False])
async def test_answers_cached_until_timeout(active: bool) -> None:
    server = FakeServer({"active": active, "sub": "alice"})
    introspector, clock = make(server)
    first = await introspector.introspect(SETTINGS, TOKEN)
    clock.now += 59
    assert await introspector.introspect(SETTINGS, TOKEN) is first
    assert len(server.calls) == 1
    clock.now += 1
    await introspector.introspect(SETTINGS, TOKEN)
    assert len(server.calls) == 2


async def test_cache_keyed_by_token_and_endpoint() -> None:
    server = FakeServer({"active": True, "sub": "alice"})
    introspector, _ = make(server)
    other = Introspection(
        url="https://other.example/introspect", client_id="gw", client_secret=SECRET, cache_timeout=60
    )
    await introspector.introspect(SETTINGS, TOKEN)
    await introspector.introspect(SETTINGS, TOKEN + "x")
    await introspector.introspect(other, TOKEN)
    await introspector.introspect(SETTINGS, TOKEN)
    assert len(server.calls) == 3


async def test_zero_timeout_does_not_cache() -> None:
    server = FakeServer({"active": True, "sub": "alice"})
    introspector, _ = make(server)
    settings = Introspection(url=SETTINGS.url, client_id="gw", client_secret=SECRET, cache_timeout=0)
    await introspector.introspect(settings, TOKEN)
    await introspector.introspect(settings, TOKEN)
    assert len(server.calls) == 2 and len(introspector) == 0


async def test_cache_never_outlives_exp() -> None:
    server = FakeServer({"active": True, "sub": "alice", "exp": WALL + 500 + 10})  # expires in 10 s
    introspector, clock = make(server)
    await introspector.introspect(SETTINGS, TOKEN)
    clock.now += 9
    await introspector.introspect(SETTINGS, TOKEN)
    assert len(server.calls) == 1
    clock.now += 1
    await introspector.introspect(SETTINGS, TOKEN)
    assert len(server.calls) == 2


async def test_answer_with_past_exp_is_not_cached() -> None:
    server = FakeServer({"active": False, "exp": WALL})
    introspector, _ = make(server)
    await introspector.introspect(SETTINGS, TOKEN)
    assert len(introspector) == 0


async def test_cache_is_bounded_oldest_evicted() -> None:
    server = FakeServer({"active": True, "sub": "alice"})
    introspector, _ = make(server, max_entries=3)
    for token in ("t1", "t2", "t3", "t4"):
        await introspector.introspect(SETTINGS, token)
    assert len(introspector) == 3
    await introspector.introspect(SETTINGS, "t2")  # still cached
    assert len(server.calls) == 4
    await introspector.introspect(SETTINGS, "t1")  # evicted
    assert len(server.calls) == 5


@pytest.mark.parametrize(
    "failure",
    [
        UpstreamTimeout("response"),
        ConnectionRefusedError("refused"),
        ServiceResponse(500, (), b'{"active": true}'),
        ServiceResponse(401, (), b""),
        ServiceResponse(200, (), b"not json " + TOKEN.encode()),
        ServiceResponse(200, (), b'["active"]'),
        ServiceResponse(200, (), b" " * (1024 * 1024 + 1)),
    ],
    ids=["timeout", "refused", "500", "401", "not-json", "not-object", "too-large"],
)
async def test_failures_raise_and_are_not_cached(failure: ServiceResponse | Exception) -> None:
    server = FakeServer(failure, {"active": True, "sub": "alice"})
    introspector, _ = make(server)
    with pytest.raises(IntrospectionUnavailable) as raised:
        await introspector.introspect(SETTINGS, TOKEN)
    assert TOKEN not in str(raised.value) and SECRET not in str(raised.value)
    assert len(introspector) == 0
    assert (await introspector.introspect(SETTINGS, TOKEN)).active
    assert len(server.calls) == 2


async def test_concurrent_introspections_share_one_call() -> None:
    server = FakeServer({"active": True, "sub": "alice"}, delay=0.01)
    introspector, _ = make(server)
    settings = Introspection(url=SETTINGS.url, client_id="gw", client_secret=SECRET, cache_timeout=0)
    results = await asyncio.gather(*(introspector.introspect(settings, TOKEN) for _ in range(100)))
    assert len(server.calls) == 1 and all(r is results[0] for r in results)


async def test_cancelled_caller_leaves_the_shared_call_running() -> None:
    server = FakeServer({"active": True, "sub": "alice"})
    server.gate = asyncio.Event()
    introspector, _ = make(server)
    first = asyncio.create_task(introspector.introspect(SETTINGS, TOKEN))
    second = asyncio.create_task(introspector.introspect(SETTINGS, TOKEN))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    server.gate.set()
    assert (await second).identity == "alice"
    assert first.cancelled() and len(server.calls) == 1


async def test_token_and_secret_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeServer(
        {"active": True, "sub": "alice"},
        ServiceResponse(400, (), f"bad token {TOKEN}".encode()),
        ServiceResponse(200, (), f"{{{TOKEN}".encode()),
        OSError("down"),
    )
    introspector, _ = make(server)
    settings = Introspection(
        url="https://gw:pw@idp.example/introspect", client_id="gw", client_secret=SECRET, cache_timeout=0
    )
    await introspector.introspect(settings, TOKEN)
    for _ in range(3):
        with pytest.raises(IntrospectionUnavailable):
            await introspector.introspect(settings, TOKEN)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 3
    for text in (caplog.text, *(r.getMessage() for r in caplog.records)):
        assert TOKEN not in text and SECRET not in text and ":pw@" not in text


async def test_aclose_cancels_calls_in_flight() -> None:
    introspector, _ = make(FakeServer({"active": True}, delay=10))
    pending = asyncio.create_task(introspector.introspect(SETTINGS, TOKEN))
    await asyncio.sleep(0)
    await introspector.aclose()
    with pytest.raises(asyncio.CancelledError):
        await pending
