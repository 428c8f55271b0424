"""`Authenticator.check`: answered at once when it can be, a coroutine when a JWKS or an introspection call
is needed; Tyk's texts; AuthFailure events without the token."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bascule.config.apis import ApiSettings
from bascule.config.auth import ApiAuth, Introspection, JwksSource, JwtAuth
from bascule.middleware.authenticate import Allowed, Authenticator, Refused
from bascule.middleware.introspection import TokenIntrospector
from bascule.middleware.jwks_cache import JwksCache
from bascule.outbound.service_client import ServiceResponse
from bascule.runtime.events import Event, EventBus

SECRET = b"unit-test-secret-of-32-bytes-ok!"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Idp:
    """Answers JWKS and introspection calls; counts them."""

    def __init__(self) -> None:
        self.calls = 0
        self.jwks = {"keys": [{**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1", "alg": "RS256"}]}

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> ServiceResponse:
        self.calls += 1
        if url.endswith("/introspect"):
            active = b"token=good" in body
            answer: dict[str, Any] = {"active": True, "sub": "carol"} if active else {"active": False}
            return ServiceResponse(200, (), json.dumps(answer).encode())
        return ServiceResponse(200, (), json.dumps(self.jwks).encode())


def api(auth: ApiAuth) -> ApiSettings:
    return ApiSettings("a", "a", "org", True, False, "/a/", True, "http://u", auth=auth)


@pytest.fixture
def idp() -> Idp:
    return Idp()


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def authenticator(idp: Idp, events: list[Event]) -> Authenticator:
    bus = EventBus()
    bus.subscribe(events.append)
    return Authenticator(JwksCache(idp), TokenIntrospector(idp), bus)


async def decide(authenticator: Authenticator, settings: ApiSettings, token: str | None) -> Allowed | Refused:
    headers = [(b"Authorization", f"Bearer {token}".encode())] if token else []
    outcome = authenticator.check(settings, headers, "/a/x", "10.0.0.1")
    return outcome if isinstance(outcome, Allowed | Refused) else await outcome


HMAC = api(ApiAuth(jwt=JwtAuth("hmac", static_key=SECRET)))
JWKS = api(ApiAuth(jwt=JwtAuth("rsa", jwks=(JwksSource("https://idp/jwks"),))))


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 60, **extra}


async def test_a_static_key_is_answered_without_waiting(authenticator: Authenticator) -> None:
    token = jwt.encode(claims(email="a@x"), SECRET, algorithm="HS256")
    outcome = authenticator.check(HMAC, [(b"authorization", token.encode())], "/a/", "ip")
    assert isinstance(outcome, Allowed)
    assert outcome.identity == "alice"
    assert outcome.claims["email"] == "a@x"


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        (None, 401, "Authorization field missing"),
        ("x.y.z", 403, "Key not authorized"),
        (jwt.encode(claims(), b"wrong-secret-of-thirty-two-bytes", algorithm="HS256"), 403, "Key not authorized"),
        (jwt.encode(claims(exp=1), SECRET, algorithm="HS256"), 401, "Key not authorized: token has expired"),
        (jwt.encode(claims(), KEY, algorithm="RS256"), 403, "Key not authorized: Unexpected signing method"),
    ],
)
async def test_refusals_use_tyks_texts_and_raise_auth_failure(
    authenticator: Authenticator, events: list[Event], token: str | None, status: int, message: str
) -> None:
    assert await decide(authenticator, HMAC, token) == Refused(status, message)
    [event] = events
    assert (event.name, event.api_id, event.message) == ("AuthFailure", "a", message)
    assert token is None or token not in json.dumps(event.meta)


async def test_a_jwks_is_fetched_once_then_answered_at_once(authenticator: Authenticator, idp: Idp) -> None:
    token = jwt.encode(claims(), KEY, algorithm="RS256", headers={"kid": "k1"})
    first = await asyncio.gather(*(decide(authenticator, JWKS, token) for _ in range(10)))
    assert {outcome.identity for outcome in first if isinstance(outcome, Allowed)} == {"alice"}
    assert idp.calls == 1
    assert isinstance(authenticator.check(JWKS, [(b"Authorization", token.encode())], "/", "ip"), Allowed)


async def test_an_unknown_kid_asks_again_once_then_is_refused(authenticator: Authenticator, idp: Idp) -> None:
    known = jwt.encode(claims(), KEY, algorithm="RS256", headers={"kid": "k1"})
    assert isinstance(await decide(authenticator, JWKS, known), Allowed)
    unknown = jwt.encode(claims(), KEY, algorithm="RS256", headers={"kid": "k9"})
    assert await decide(authenticator, JWKS, unknown) == Refused(403, "Key not authorized")
    assert idp.calls <= 2


async def test_introspection_passes_active_tokens_only(authenticator: Authenticator) -> None:
    settings = api(ApiAuth(introspection=Introspection("https://idp/introspect", "id", "secret")))
    good = await decide(authenticator, settings, "good")
    assert isinstance(good, Allowed) and good.identity == "carol"
    assert await decide(authenticator, settings, "other") == Refused(403, "Key not authorized")


async def test_no_method_configured_fails_closed(authenticator: Authenticator) -> None:
    settings = api(ApiAuth())
    assert await decide(authenticator, settings, None) == Refused(401, "Authorization field missing")
    assert await decide(authenticator, settings, "anything") == Refused(403, "Access to this API has been disallowed")
