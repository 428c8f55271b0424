"""RFC 7662 token introspection through the `oauth` service client (issue 6, point 3). One per gateway.

Invariants (each has a test in `tests/unit/middleware/test_introspection.py`):
- The call is `POST settings.url` with an `application/x-www-form-urlencoded` body of `token`, `client_id`
  and `client_secret`, as Tyk sends it (RFC 6749 §2.3.1 allows credentials in the body). No `Authorization:
  Basic` is added: RFC 6749 §2.3 forbids more than one client authentication method per request.
- The answer must be 2xx, at most `MAX_ANSWER_BODY` (1 MiB) and a JSON object; anything else, or a transport
  failure, raises `IntrospectionUnavailable` and nothing is cached (fail closed: the caller refuses).
- `active` is true only when the answer's `active` is JSON `true`; missing or anything else is inactive.
- The identity is the first non-empty string of `settings.identity_base_field` (when set), `sub`, `username`;
  "" when none is (the caller decides what an active answer without identity means).
- Answers, active and inactive, are cached by SHA-256 of the token (with the endpoint URL and client id) for
  `settings.cache_timeout` seconds (0: not cached), and never past the answer's `exp` (a number, Unix time,
  read against `wall_clock`); an answer whose `exp` has passed is not cached. The cache holds at most
  `max_entries`; the oldest entry is dropped first.
- Concurrent introspections of one token share one call; a cancelled caller does not cancel it.
- The token and the client secret are never logged; the URL is logged through `redact_url`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlencode

from bascule.config.auth import Introspection
from bascule.middleware.jwks_cache import FETCH_FAILURES, ServiceCaller
from bascule.observability.redaction import redact_url
from bascule.outbound.service_client import ServiceResponse

log = logging.getLogger("bascule.middleware.introspection")

MAX_ANSWER_BODY = 1024 * 1024
IDENTITY_FALLBACKS = ("sub", "username")

_CacheKey = tuple[str, str, bytes]
"""(endpoint URL, client id, SHA-256 of the token)."""


@dataclass(frozen=True, slots=True)
class IntrospectionResult:
    """What the authorization server said about a token; `claims` is its whole JSON answer, read-only."""

    active: bool
    identity: str
    claims: Mapping[str, object]


class IntrospectionUnavailable(Exception):
    """The introspection endpoint (`url`, redacted) gave no usable answer; `reason` says why."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"introspection at {url} failed: {reason}")


class TokenIntrospector:
    """Introspects tokens with `client` (the `oauth` service client); see the module invariants."""

    def __init__(
        self,
        client: ServiceCaller,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_entries: int = 100_000,
    ) -> None:
        self._client = client
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_entries = max_entries
        self._cache: OrderedDict[_CacheKey, tuple[float, IntrospectionResult]] = OrderedDict()
        self._calls: dict[_CacheKey, asyncio.Task[IntrospectionResult]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    async def introspect(self, settings: Introspection, token: str) -> IntrospectionResult:
        """The server's answer for `token`, cached or fetched; `IntrospectionUnavailable` when it has none."""
        key = (settings.url, settings.client_id, hashlib.sha256(token.encode()).digest())
        cached = self._cached(key)
        if cached is not None:
            return cached
        call = self._calls.get(key)
        if call is None:
            call = asyncio.get_running_loop().create_task(self._call(settings, token, key))
            self._calls[key] = call
            call.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(call)

    async def aclose(self) -> None:
        """Cancel the calls in flight (gateway shutdown)."""
        calls = list(self._calls.values())
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    def _cached(self, key: _CacheKey) -> IntrospectionResult | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, result = entry
        if self._clock() < expires:
            return result
        del self._cache[key]
        return None

    def _forget(self, key: _CacheKey, call: asyncio.Task[IntrospectionResult]) -> None:
        if self._calls.get(key) is call:
            del self._calls[key]
        if not call.cancelled():
            call.exception()  # retrieved: an answer whose callers all left must not log "never retrieved"

    async def _call(self, settings: Introspection, token: str, key: _CacheKey) -> IntrospectionResult:
        form = urlencode({"token": token, "client_id": settings.client_id, "client_secret": settings.client_secret})
        headers = (("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"))
        try:
            response = await self._client.request("POST", settings.url, headers, form.encode("ascii"))
            answer = _answer_of(response)
        except FETCH_FAILURES as exc:
            reason = str(exc) or type(exc).__name__
            url = redact_url(settings.url)
            log.warning("[Introspection] %s: no usable answer (%s)", url, reason)
            raise IntrospectionUnavailable(url, reason) from None
        result = _result_of(answer, settings.identity_base_field)
        self._store(key, result, settings.cache_timeout, answer.get("exp"))
        return result

    def _store(self, key: _CacheKey, result: IntrospectionResult, timeout: float, exp: object) -> None:
        lifetime = timeout
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            lifetime = min(lifetime, exp - self._wall_clock())
        if lifetime <= 0:
            return
        self._cache[key] = (self._clock() + lifetime, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)


def _answer_of(response: ServiceResponse) -> dict[str, object]:
    """The JSON object of a 2xx answer; ValueError otherwise (the body is never quoted: it may echo the token)."""
    if not 200 <= response.status < 300:
        raise ValueError(f"status {response.status}")
    if len(response.body) > MAX_ANSWER_BODY:
        raise ValueError(f"body larger than {MAX_ANSWER_BODY} bytes")
    try:
        answer = json.loads(response.body)
    except (ValueError, RecursionError):
        raise ValueError("answer is not valid JSON") from None
    if not isinstance(answer, dict):
        raise ValueError("answer is not a JSON object")
    return answer


def _result_of(answer: dict[str, object], identity_field: str) -> IntrospectionResult:
    fields = (identity_field, *IDENTITY_FALLBACKS) if identity_field else IDENTITY_FALLBACKS
    identity = next((v for f in fields if isinstance(v := answer.get(f), str) and v), "")
    return IntrospectionResult(active=answer.get("active") is True, identity=identity, claims=MappingProxyType(answer))
