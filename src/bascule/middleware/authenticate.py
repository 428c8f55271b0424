"""Deciding whether a request may use an API that is not keyless (issue 6, DECISIONS §10).

`Authenticator.check` answers at once when it can — a missing or malformed token, a static key, a JWKS
already cached that holds the token's key — and otherwise returns a coroutine the proxy awaits (a JWKS to
fetch, a `kid` to look up again, an introspection call). Every network call goes through the `oauth`
service (`JwksCache`, `TokenIntrospector`).

Rules (tests in `tests/unit/middleware/test_authenticate.py`):

* The token is read from the API's header (default `Authorization`), with or without `Bearer `. None: 401
  `Authorization field missing`.
* JWT: parse; `alg` must belong to the API's signing method; the key is the static one, or the JWKS keys
  with the token's `kid` (all keys fitting `alg` when the token has none or the API sets `skip_kid`),
  across the API's JWKS URLs in order. An unknown `kid` asks `JwksCache.refresh_for_kid` (rate limited).
  Then `exp`, `nbf`, `iat` with the skews, then the identity claim. Refusals carry Tyk's texts
  (`jwt_tokens.REFUSALS`). A JWKS that cannot be had: 403 `Key not authorized` (logged with the cause).
* Introspection (when the API has no JWT): `active` true passes with the answer's identity; false is 403
  `Key not authorized`; an IdP that cannot be reached is 403 too (fail closed).
* No JWT and no introspection on a non-keyless API: refused (`access.refusal`), as before.
* Each refusal publishes an `AuthFailure` event (`Meta`: `Message`, `Path`, `Origin`, `Key` = the last 4
  characters of the token behind `****`); the token itself is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from bascule.config.apis import ApiSettings
from bascule.config.auth import JwtAuth
from bascule.core.headers import Header
from bascule.middleware.access import MISSING, refusal
from bascule.middleware.introspection import IntrospectionUnavailable, TokenIntrospector
from bascule.middleware.jwks import JsonWebKeySet
from bascule.middleware.jwks_cache import JwksCache, JwksUnavailable
from bascule.middleware.jwt_claims import ClockSkews, check_times, identity
from bascule.middleware.jwt_keys import VerificationKey, key_from_source
from bascule.middleware.jwt_tokens import REFUSALS, ParsedToken, TokenRejected, parse_token, token_from_header
from bascule.middleware.jwt_tokens import verify_with_any as verify_token
from bascule.runtime.events import Event, EventBus

log = logging.getLogger("bascule.auth")

AUTH_FAILURE = "AuthFailure"
NOT_AUTHORIZED = REFUSALS["bad_signature"]


@dataclass(frozen=True, slots=True)
class Allowed:
    identity: str
    claims: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Refused:
    status: int
    message: str


Outcome = Allowed | Refused
PendingOutcome = Coroutine[Any, Any, Outcome]


class Authenticator:
    """One per gateway; `check` per request (see the module rules)."""

    def __init__(
        self,
        jwks: JwksCache,
        introspector: TokenIntrospector,
        bus: EventBus | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks
        self._introspector = introspector
        self._bus = bus
        self._clock = wall_clock
        self._static_keys: dict[tuple[bytes, str], VerificationKey] = {}

    def check(self, api: ApiSettings, headers: list[Header], path: str, origin: str) -> Outcome | PendingOutcome:
        auth = api.auth
        jwt, introspection = auth.jwt, auth.introspection
        header = (jwt.header if jwt is not None else introspection.header if introspection else "Authorization").lower()
        wanted = header.encode("latin-1")
        raw = next((value for name, value in headers if name.lower() == wanted), None)
        token = token_from_header(raw.decode("latin-1") if raw is not None else None)
        if jwt is None and introspection is None:
            refused = refusal(False, headers, wanted)
            assert refused is not None
            return self._refused(api, Refused(*refused), path, origin, token)
        if token is None:
            return self._refused(api, Refused(*MISSING), path, origin, None)
        if jwt is None:
            assert introspection is not None
            return self._introspect(api, token, path, origin)
        try:
            parsed = parse_token(token)
        except TokenRejected as exc:
            return self._rejected(api, exc, path, origin, token)
        if not jwt.jwks:
            return self._finish(api, jwt, parsed, [self._static_key(jwt)], path, origin, token)
        keys = self._cached_candidates(jwt, parsed)
        if keys is not None:
            return self._finish(api, jwt, parsed, keys, path, origin, token)
        return self._with_fetched_keys(api, jwt, parsed, path, origin, token)

    def _static_key(self, jwt: JwtAuth) -> VerificationKey:
        cache_key = (jwt.static_key, jwt.signing_method)
        key = self._static_keys.get(cache_key)
        if key is None:
            key = self._static_keys[cache_key] = key_from_source(jwt.static_key, jwt.signing_method)
        return key

    def _cached_candidates(self, jwt: JwtAuth, token: ParsedToken) -> list[VerificationKey] | None:
        """The keys to try from cached sets; None when a set is missing or lacks the token's kid."""
        found: list[VerificationKey] = []
        for source in jwt.jwks:
            keys = self._jwks.cached(source.url)
            if keys is None:
                return None
            found += _candidates(keys, jwt, token)
        return found or None

    async def _with_fetched_keys(
        self, api: ApiSettings, jwt: JwtAuth, token: ParsedToken, path: str, origin: str, raw: str
    ) -> Outcome:
        found: list[VerificationKey] = []
        try:
            for source in jwt.jwks:
                keys = await self._jwks.get(source.url, source.cache_timeout)
                candidates = _candidates(keys, jwt, token)
                if not candidates and token.kid is not None and not jwt.skip_kid:
                    candidates = _candidates(await self._jwks.refresh_for_kid(source.url, token.kid), jwt, token)
                found += candidates
        except JwksUnavailable as exc:
            log.warning("API %s: no JWKS to check a token with: %s", api.api_id, exc)
            return self._refused(api, Refused(*NOT_AUTHORIZED), path, origin, raw)
        return self._finish(api, jwt, token, found, path, origin, raw)

    def _finish(
        self,
        api: ApiSettings,
        jwt: JwtAuth,
        token: ParsedToken,
        keys: list[VerificationKey],
        path: str,
        origin: str,
        raw: str,
    ) -> Outcome:
        try:
            verify_token(token, keys, jwt.signing_method)
            skews = ClockSkews(jwt.expires_at_skew, jwt.issued_at_skew, jwt.not_before_skew)
            check_times(token.claims, self._clock(), skews)
            who = identity(token.claims, jwt.identity_base_field)
        except TokenRejected as exc:
            return self._rejected(api, exc, path, origin, raw)
        return Allowed(who, token.claims)

    async def _introspect(self, api: ApiSettings, token: str, path: str, origin: str) -> Outcome:
        settings = api.auth.introspection
        assert settings is not None
        try:
            answer = await self._introspector.introspect(settings, token)
        except IntrospectionUnavailable as exc:
            log.warning("API %s: token introspection failed: %s", api.api_id, exc)
            return self._refused(api, Refused(*NOT_AUTHORIZED), path, origin, token)
        if not answer.active:
            return self._refused(api, Refused(*NOT_AUTHORIZED), path, origin, token)
        return Allowed(answer.identity, answer.claims)

    def _rejected(self, api: ApiSettings, exc: TokenRejected, path: str, origin: str, token: str) -> Refused:
        log.info("API %s: token refused (%s): %s", api.api_id, exc.reason, exc.detail)
        return self._refused(api, Refused(exc.status, exc.message), path, origin, token)

    def _refused(self, api: ApiSettings, refused: Refused, path: str, origin: str, token: str | None) -> Refused:
        if self._bus is not None:
            key = f"****{token[-4:]}" if token and len(token) > 8 else ""
            meta = {"Path": path, "Origin": origin, "Key": key}
            self._bus.publish(Event(AUTH_FAILURE, api.api_id, api.org_id, refused.message, self._clock(), meta))
        return refused


def _candidates(keys: JsonWebKeySet, jwt: JwtAuth, token: ParsedToken) -> list[VerificationKey]:
    kid = None if jwt.skip_kid else token.kid
    return [key.key for key in keys.candidates(kid, token.alg)]
