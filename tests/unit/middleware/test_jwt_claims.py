"""`bascule.middleware.jwt_claims`: time claims at their exact boundaries, with and without skew; identity."""

from __future__ import annotations

import pytest

from bascule.middleware.jwt_claims import ClockSkews, check_times, identity
from bascule.middleware.jwt_tokens import TokenRejected

T = 1_700_000_000
NO_SKEW = ClockSkews()


def reason_of(claims: dict[str, object], now: float, skews: ClockSkews = NO_SKEW) -> str | None:
    try:
        check_times(claims, now, skews)
    except TokenRejected as exc:
        return exc.reason
    return None


@pytest.mark.parametrize(
    ("claims", "now", "skews", "reason"),
    [
        # exp: valid strictly before exp (+ skew); at exp it has expired
        ({"exp": T}, T - 1, NO_SKEW, None),
        ({"exp": T}, T - 0.001, NO_SKEW, None),
        ({"exp": T}, T, NO_SKEW, "expired"),
        ({"exp": T}, T + 1, NO_SKEW, "expired"),
        ({"exp": T}, T + 9.999, ClockSkews(expires_at=10), None),
        ({"exp": T}, T + 10, ClockSkews(expires_at=10), "expired"),
        ({"exp": T + 0.5}, T + 0.4, NO_SKEW, None),
        ({"exp": T + 0.5}, T + 0.5, NO_SKEW, "expired"),
        # nbf: valid from nbf (- skew) on
        ({"nbf": T}, T, NO_SKEW, None),
        ({"nbf": T}, T - 0.001, NO_SKEW, "not_yet_valid"),
        ({"nbf": T}, T - 1, NO_SKEW, "not_yet_valid"),
        ({"nbf": T}, T - 10, ClockSkews(not_before=10), None),
        ({"nbf": T}, T - 10.001, ClockSkews(not_before=10), "not_yet_valid"),
        # iat: valid from iat (- skew) on
        ({"iat": T}, T, NO_SKEW, None),
        ({"iat": T}, T - 1, NO_SKEW, "issued_in_future"),
        ({"iat": T}, T - 5, ClockSkews(issued_at=5), None),
        ({"iat": T}, T - 6, ClockSkews(issued_at=5), "issued_in_future"),
        # each skew widens its own claim only
        ({"exp": T}, T + 5, ClockSkews(issued_at=60, not_before=60), "expired"),
        ({"nbf": T}, T - 5, ClockSkews(expires_at=60, issued_at=60), "not_yet_valid"),
        ({"iat": T}, T - 5, ClockSkews(expires_at=60, not_before=60), "issued_in_future"),
        # absent claims are not required
        ({}, T, NO_SKEW, None),
        ({"sub": "x"}, 0, NO_SKEW, None),
        # all three in the window
        ({"nbf": T - 10, "iat": T - 10, "exp": T + 10}, T, NO_SKEW, None),
        # several failing: nbf, then iat, then exp is named (the claim Tyk names too)
        ({"nbf": T + 10, "iat": T + 10, "exp": T - 10}, T, NO_SKEW, "not_yet_valid"),
        ({"iat": T + 10, "exp": T - 10}, T, NO_SKEW, "issued_in_future"),
        # exp 0 is 1970, not "never"
        ({"exp": 0}, T, NO_SKEW, "expired"),
        # a huge integer is compared exactly, without overflowing a float
        ({"exp": 10**400}, T, ClockSkews(expires_at=1.5), None),
        ({"nbf": 10**400}, T, ClockSkews(not_before=1.5), "not_yet_valid"),
        ({"exp": -(10**400)}, T, NO_SKEW, "expired"),
    ],
)
def test_time_claims(claims: dict[str, object], now: float, skews: ClockSkews, reason: str | None) -> None:
    assert reason_of(claims, now, skews) == reason


@pytest.mark.parametrize("value", ["1700000000", None, True, False, [T], {"t": T}, float("inf"), float("nan")])
@pytest.mark.parametrize(
    ("claim", "reason"), [("exp", "expired"), ("nbf", "not_yet_valid"), ("iat", "issued_in_future")]
)
def test_a_time_claim_that_is_not_a_number_fails_as_that_claim(claim: str, reason: str, value: object) -> None:
    assert reason_of({claim: value}, T, ClockSkews(expires_at=10**6, issued_at=10**6, not_before=10**6)) == reason


@pytest.mark.parametrize(
    ("reason", "status", "message"),
    [
        ("expired", 401, "Key not authorized: token has expired"),
        ("not_yet_valid", 401, "Key not authorized: token is not valid yet"),
        ("issued_in_future", 401, "Key not authorized: token used before issued"),
    ],
)
def test_time_refusals_carry_tyks_status_and_text(reason: str, status: int, message: str) -> None:
    claims = {"expired": {"exp": T - 1}, "not_yet_valid": {"nbf": T + 1}, "issued_in_future": {"iat": T + 1}}[reason]
    with pytest.raises(TokenRejected) as caught:
        check_times(claims, T, NO_SKEW)
    assert (caught.value.reason, caught.value.status, caught.value.message) == (reason, status, message)


def test_negative_skews_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ClockSkews(expires_at=-1)


# --- identity -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "base_field", "expected"),
    [
        ({"sub": "alice"}, "", "alice"),
        ({"sub": "alice", "email": "a@example.com"}, "email", "a@example.com"),
        ({"sub": "alice"}, "email", "alice"),  # missing base field: fall back to sub
        ({"sub": "alice", "email": 42}, "email", "alice"),  # non-string base field: fall back to sub
        ({"sub": "alice", "email": None}, "email", "alice"),
        ({"sub": "alice", "user": {"id": "u-7"}}, "user.id", "u-7"),  # dotted path: nested claim
        ({"sub": "alice", "user.id": "literal", "user": {"id": "u-7"}}, "user.id", "literal"),  # literal first
        ({"sub": "alice", "user.id": 5, "user": {"id": "u-7"}}, "user.id", "u-7"),
        ({"sub": "alice", "user": "flat"}, "user.id", "alice"),
        ({"sub": "alice", "a": {"b": {"c": "deep"}}}, "a.b.c", "deep"),
    ],
)
def test_identity(claims: dict[str, object], base_field: str, expected: str) -> None:
    assert identity(claims, base_field) == expected


@pytest.mark.parametrize(
    ("claims", "base_field", "message"),
    [
        ({}, "", "no suitable claims for user ID were found"),
        ({"sub": 42}, "", "no suitable claims for user ID were found"),
        ({"email": 42}, "email", "no suitable claims for user ID were found"),
        ({"sub": ""}, "", "found an empty user ID in sub claim"),
        ({"sub": ""}, "email", "found an empty user ID in sub claim"),
        # an empty base field is refused, not replaced by sub
        ({"sub": "alice", "email": ""}, "email", "found an empty user ID in predefined base claim, claim: email"),
        (
            {"sub": "alice", "user": {"id": ""}},
            "user.id",
            "found an empty user ID in predefined base claim, claim: user.id",
        ),
    ],
)
def test_identity_refusals(claims: dict[str, object], base_field: str, message: str) -> None:
    with pytest.raises(TokenRejected) as caught:
        identity(claims, base_field)
    assert (caught.value.reason, caught.value.status, caught.value.message) == ("no_identity", 403, message)
