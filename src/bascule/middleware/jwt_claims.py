"""What a verified token's claims allow: its time window (`check_times`) and who it is (`identity`). No I/O.

Both run after `jwt_tokens.verify_signature`: nothing in the claims is trusted before that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bascule.middleware.jwt_tokens import Reason, TokenRejected


@dataclass(frozen=True, slots=True)
class ClockSkews:
    """Seconds of leeway per claim: Tyk's `jwt_expires_at_validation_skew`, `jwt_issued_at_validation_skew`,
    `jwt_not_before_validation_skew` (0 by default, never negative)."""

    expires_at: float = 0
    issued_at: float = 0
    not_before: float = 0

    def __post_init__(self) -> None:
        if min(self.expires_at, self.issued_at, self.not_before) < 0:
            raise ValueError("clock skews must not be negative")


def check_times(claims: Mapping[str, object], now: float, skews: ClockSkews) -> None:
    """Return if the time claims hold at `now` (Unix seconds); raise TokenRejected otherwise.

    Each claim is optional. When present it must be a JSON number (not a boolean, string or null; a float
    must be finite), else it fails as that claim would. With the skews:
    - `nbf`: `not_yet_valid` when `now + not_before < nbf`;
    - `iat`: `issued_in_future` when `now + issued_at < iat`;
    - `exp`: `expired` when `now - expires_at >= exp` (RFC 7519 §4.1.4: now must be before exp, as in Tyk's
      jwt library). Unlike Tyk, `exp: 0` is a time in 1970, not "no expiry".
    They are checked in that order and the first failure is reported: Tyk checks exp, iat, nbf and reports
    the last failure, so both name the same claim when several fail.
    """
    nbf = _time_claim(claims, "nbf", "not_yet_valid")
    if nbf is not None and now + skews.not_before < nbf:
        raise TokenRejected("not_yet_valid", f"nbf {nbf} is after {now} + {skews.not_before}")
    iat = _time_claim(claims, "iat", "issued_in_future")
    if iat is not None and now + skews.issued_at < iat:
        raise TokenRejected("issued_in_future", f"iat {iat} is after {now} + {skews.issued_at}")
    exp = _time_claim(claims, "exp", "expired")
    if exp is not None and now - skews.expires_at >= exp:
        raise TokenRejected("expired", f"exp {exp} is not after {now} - {skews.expires_at}")


def _time_claim(claims: Mapping[str, object], name: str, reason: Reason) -> int | float | None:
    if name not in claims:
        return None
    value = claims[name]
    # Ints are compared exactly, never converted: a 400-digit exp must not overflow a float.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise TokenRejected(reason, f"{name} is not a number")


def identity(claims: Mapping[str, object], identity_base_field: str) -> str:
    """Who the token speaks for: Tyk's rule for an API with a central `jwt_source` (mw_jwt.go).

    1. `identity_base_field`, when set: the claim of that name if it is a non-empty string; else, if the name
       has dots, the nested claim it paths to (`user.id` → `{"user": {"id": ...}}`). An empty string there
       is refused; a missing or non-string claim falls through to `sub`.
    2. `sub`, if it is a non-empty string; an empty `sub` is refused.
    3. Otherwise refused. Each refusal is `no_identity`, 403, with Tyk's text.
    """
    if identity_base_field:
        found = [claims.get(identity_base_field)]
        if "." in identity_base_field:
            found.append(_nested_claim(claims, identity_base_field.split(".")))
        for value in found:
            if isinstance(value, str) and value:
                return value
        if "" in found:
            raise TokenRejected(
                "no_identity",
                f"claim {identity_base_field} is empty",
                f"found an empty user ID in predefined base claim, claim: {identity_base_field}",
            )
    sub = claims.get("sub")
    if isinstance(sub, str):
        if sub:
            return sub
        raise TokenRejected("no_identity", "sub is empty", "found an empty user ID in sub claim")
    raise TokenRejected("no_identity", f"neither {identity_base_field or 'a base field'} nor sub is a string")


def _nested_claim(claims: Mapping[str, object], path: list[str]) -> object:
    value: object = claims
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value
