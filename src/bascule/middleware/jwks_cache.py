"""JWKS fetched through the `oauth` service client and cached per URL (issue 6, point 2). One per gateway.

Invariants (each has a test in `tests/unit/middleware/test_jwks_cache.py`):
- A set is fresh for `ttl` seconds after the fetch that brought it (the URI's `cacheTimeout`, else
  `default_ttl`, 240 s as Tyk's `jwks.cache.timeout`). Tyk's plain-URL caching quirk is not copied.
- Fetches of one URL start at least `min_refetch_interval` (1 s) apart, whatever asked for them: TTL
  expiry, an unknown `kid`, or a retry after a failure. So a flood of tokens with random `kid`s costs the
  identity provider at most one fetch a second per URL, a down identity provider is not hammered, and a
  key published by rotation is found within a second of its first use. The first fetch is never delayed.
- One fetch at a time per URL: concurrent callers await the same task (single flight); a caller that is
  cancelled leaves the fetch running for the others (`asyncio.shield`).
- A fetch is good when the answer is 2xx, at most `MAX_JWKS_BODY` (1 MiB) and `parse_jwks` accepts it. A
  failed fetch keeps the last good set serving until it is older than `stale_limit` (1 h, counted from the
  last good fetch): one warning per failure burst, one info line when a fetch succeeds again. Past the
  bound, or with no good set ever, callers get `JwksUnavailable` (fail closed).
- `cached` does no I/O: it returns a set younger than `stale_limit`, and when that set is past its TTL it
  starts the refresh in the background (stale-while-revalidate, same rate limit and single flight).
- Log lines name the URL through `redact_url`; nothing else of the request is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from bascule.errors import ExternalServiceUnavailable, ProxyError
from bascule.middleware.jwks import JsonWebKeySet, parse_jwks
from bascule.observability.redaction import redact_url
from bascule.outbound.service_client import ServiceResponse

log = logging.getLogger("bascule.middleware.jwks")

MAX_JWKS_BODY = 1024 * 1024
DEFAULT_TTL = 240.0
STALE_LIMIT = 3600.0
MIN_REFETCH_INTERVAL = 1.0

FETCH_FAILURES: tuple[type[Exception], ...] = (ProxyError, OSError, ExternalServiceUnavailable, ValueError)
"""What a `ServiceClient.request` raises when the call fails (TimeoutError is an OSError; ValueError: a URL
the client cannot send, or, here, an answer `parse_jwks` refuses)."""


class ServiceCaller(Protocol):
    """The part of `outbound.ServiceClient` the identity-provider calls use; tests pass a fake."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        timeout: float | None = None,
    ) -> ServiceResponse: ...


class JwksUnavailable(Exception):
    """No key set may be used for `url` (redacted): never fetched successfully, or the last good one is older
    than the stale bound. `reason` is the last failure."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"JWKS {url} unavailable: {reason}")


@dataclass(slots=True)
class _UrlState:
    keys: JsonWebKeySet | None = None
    fetched_at: float = 0.0
    """Clock time of the last good fetch (meaningful when `keys` is set)."""
    ttl: float = DEFAULT_TTL
    """The TTL the last `get` asked for, used by `cached` to decide on a background refresh."""
    attempted_at: float | None = None
    """Clock time the last fetch started."""
    failing: bool = False
    """The last fetch failed (its burst's warning has been logged)."""
    last_error: str = ""
    fetch: asyncio.Task[JsonWebKeySet] | None = None


class JwksCache:
    """Key sets by URL, fetched with `client` (the `oauth` service client); see the module invariants."""

    def __init__(
        self,
        client: ServiceCaller,
        default_ttl: float = DEFAULT_TTL,
        *,
        clock: Callable[[], float] = time.monotonic,
        stale_limit: float = STALE_LIMIT,
        min_refetch_interval: float = MIN_REFETCH_INTERVAL,
    ) -> None:
        self._client = client
        self._default_ttl = default_ttl
        self._clock = clock
        self._stale_limit = stale_limit
        self._min_interval = min_refetch_interval
        self._states: dict[str, _UrlState] = {}

    def cached(self, url: str) -> JsonWebKeySet | None:
        """The set for `url` if younger than the stale bound, else None; no I/O. A set past its TTL is
        returned and a background refresh is started (when the rate limit allows and a loop is running)."""
        state = self._states.get(url)
        if state is None:
            return None
        now = self._clock()
        if not self._is_usable(state, now):
            return None
        if not self._is_fresh(state, now, state.ttl) and state.fetch is None and self._may_fetch(state, now):
            with contextlib.suppress(RuntimeError):  # no running loop: the next `get` refreshes
                self._start_fetch(url, state, now)
        return state.keys

    async def get(self, url: str, ttl: float | None = None) -> JsonWebKeySet:
        """A fresh set for `url`, fetching it if needed; the stale set when a refresh fails within the bound;
        else `JwksUnavailable`."""
        state = self._states.setdefault(url, _UrlState())
        state.ttl = self._default_ttl if ttl is None else ttl
        now = self._clock()
        if state.keys is not None and self._is_fresh(state, now, state.ttl):
            return state.keys
        return await self._obtain(url, state, now)

    async def refresh_for_kid(self, url: str, kid: str) -> JsonWebKeySet:
        """The set after one refetch for a `kid` not in it, if the rate limit allows; else the cached set
        (or `JwksUnavailable`). A set that already has `kid` is returned without a fetch."""
        state = self._states.setdefault(url, _UrlState())
        now = self._clock()
        if state.keys is not None and state.keys.by_kid(kid) is not None and self._is_usable(state, now):
            return state.keys
        return await self._obtain(url, state, now)

    async def aclose(self) -> None:
        """Cancel the fetches in flight (gateway shutdown)."""
        tasks = [state.fetch for state in self._states.values() if state.fetch is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _obtain(self, url: str, state: _UrlState, now: float) -> JsonWebKeySet:
        """Join the fetch in flight, start one if allowed, else serve what the last fetches left."""
        if state.fetch is None and self._may_fetch(state, now):
            self._start_fetch(url, state, now)
        if state.fetch is not None:
            return await asyncio.shield(state.fetch)
        return self._fallback(url, state, now)

    def _is_fresh(self, state: _UrlState, now: float, ttl: float) -> bool:
        return state.keys is not None and now - state.fetched_at < ttl

    def _is_usable(self, state: _UrlState, now: float) -> bool:
        return state.keys is not None and now - state.fetched_at <= self._stale_limit

    def _may_fetch(self, state: _UrlState, now: float) -> bool:
        return state.attempted_at is None or now - state.attempted_at >= self._min_interval

    def _fallback(self, url: str, state: _UrlState, now: float) -> JsonWebKeySet:
        if state.keys is not None and self._is_usable(state, now):
            return state.keys
        if state.keys is not None:
            reason = f"last good key set is older than {self._stale_limit:g} s ({state.last_error})"
        else:
            reason = state.last_error or "not fetched yet"
        raise JwksUnavailable(redact_url(url), reason)

    def _start_fetch(self, url: str, state: _UrlState, now: float) -> None:
        loop = asyncio.get_running_loop()  # RuntimeError before any state changes
        state.attempted_at = now
        task = loop.create_task(self._fetch(url, state))
        state.fetch = task
        task.add_done_callback(lambda done: self._forget(state, done))

    @staticmethod
    def _forget(state: _UrlState, task: asyncio.Task[JsonWebKeySet]) -> None:
        if state.fetch is task:
            state.fetch = None
        if not task.cancelled():
            task.exception()  # retrieved: a refresh nobody awaited must not log "never retrieved"

    async def _fetch(self, url: str, state: _UrlState) -> JsonWebKeySet:
        try:
            response = await self._client.request("GET", url, (("Accept", "application/json"),))
            keys = _keys_from(response)
        except FETCH_FAILURES as exc:
            return self._failed(url, state, str(exc) or type(exc).__name__)
        if state.failing:
            log.info("[JWKS] %s: fetched again after failures", redact_url(url))
        state.keys, state.fetched_at, state.failing, state.last_error = keys, self._clock(), False, ""
        return keys

    def _failed(self, url: str, state: _UrlState, reason: str) -> JsonWebKeySet:
        state.last_error = reason
        now = self._clock()
        if not state.failing:
            state.failing = True
            serving = "serving the last good key set" if self._is_usable(state, now) else "no usable key set"
            log.warning("[JWKS] %s: fetch failed (%s); %s", redact_url(url), reason, serving)
        return self._fallback(url, state, now)


def _keys_from(response: ServiceResponse) -> JsonWebKeySet:
    """The key set of a JWKS answer; ValueError for a non-2xx, oversized or unparseable one."""
    if not 200 <= response.status < 300:
        raise ValueError(f"status {response.status}")
    if len(response.body) > MAX_JWKS_BODY:
        raise ValueError(f"body larger than {MAX_JWKS_BODY} bytes")
    return parse_jwks(response.body)
