"""Checking a compact JWS token (RFC 7515, 7518, 7519): parsing it and verifying its signature. No I/O.

The steps, in the order a caller runs them, each raising `TokenRejected`:
1. `token_from_header`: the header value, with an optional case-insensitive `Bearer ` prefix removed.
2. `parse_token`: exactly three canonical unpadded base64url segments, at most `MAX_TOKEN_LENGTH` characters;
   the header a JSON object with a string `alg`, an optional string `kid` and no `crit`; the claims a JSON
   object. Duplicate member names, `NaN`/`Infinity` and over-deep nesting are refused.
3. `verify_signature`: `alg` must belong to the configured method (`jwt_keys.ALLOWED_ALGORITHMS`; never
   `none`), the key must fit `alg` (`jwt_keys.key_fits`), then the signature must verify: PKCS#1 v1.5 for RS,
   PSS with MGF1 and a salt as long as the hash for PS (RFC 7518 §3.5), raw `r || s` for ES (§3.4),
   a constant-time HMAC comparison for HS. `verify_with_any` does the same with JWKS candidates.
4. `jwt_claims.check_times` and `jwt_claims.identity`: the time claims with Tyk's skews, then who it is.

`TokenRejected.status` and `.message` are what the client sees: Tyk's texts from `gateway/mw_jwt.go`
(`REFUSALS`). `.detail` says what was wrong, for the log only.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bascule.middleware.jwt_keys import (
    ALGORITHMS,
    ALLOWED_ALGORITHMS,
    Algorithm,
    HmacSecret,
    SigningMethod,
    VerificationKey,
    decode_b64url,
    key_fits,
)

MAX_TOKEN_LENGTH = 16 * 1024  # characters; bounds base64, JSON and hashing work per request

Reason = Literal[
    "malformed",
    "alg_not_allowed",
    "key_mismatch",
    "no_key",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "issued_in_future",
    "no_identity",
]

# Tyk answers a bad signature, an unknown key or an unparsable token 403 `Key not authorized`; an `alg`
# outside the method 403 with its own text; a failed time claim 401 (mw_jwt.go `ProcessRequest`).
REFUSALS: Mapping[Reason, tuple[int, str]] = {
    "malformed": (403, "Key not authorized"),
    "alg_not_allowed": (403, "Key not authorized: Unexpected signing method"),
    "key_mismatch": (403, "Key not authorized"),
    "no_key": (403, "Key not authorized"),
    "bad_signature": (403, "Key not authorized"),
    "expired": (401, "Key not authorized: token has expired"),
    "not_yet_valid": (401, "Key not authorized: token is not valid yet"),
    "issued_in_future": (401, "Key not authorized: token used before issued"),
    "no_identity": (403, "no suitable claims for user ID were found"),
}


class TokenRejected(Exception):
    """A token that may not pass. `reason` is for code and metrics, `status`/`message` for the client,
    `detail` for the log (it may name claims, never the token or a key)."""

    def __init__(self, reason: Reason, detail: str = "", message: str | None = None) -> None:
        self.reason: Reason = reason
        self.status, default_message = REFUSALS[reason]
        self.message = default_message if message is None else message
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A token split and decoded, not yet trusted: nothing in it is checked until `verify_signature`."""

    header: Mapping[str, object]
    claims: Mapping[str, object]
    signing_input: bytes  # ASCII `<header>.<payload>` exactly as sent: what the signature covers
    signature: bytes
    alg: str
    kid: str | None


def token_from_header(value: str | None) -> str | None:
    """The token in an auth header value: `Bearer <t>` (the scheme in any case, then spaces or tabs) or a
    bare `<t>`, without surrounding whitespace.

    None when there is no value, or nothing but whitespace or the scheme word: the caller answers "missing".
    """
    if value is None:
        return None
    text = value.strip()
    words = text.split(None, 1)
    if words and words[0].lower() == "bearer":
        text = words[1] if len(words) == 2 else ""
    return text or None


def parse_token(token: str) -> ParsedToken:
    """Split and decode a compact JWS; `TokenRejected("malformed")` for anything not well formed."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected("malformed", f"token longer than {MAX_TOKEN_LENGTH} characters")
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenRejected("malformed", f"{len(segments)} segments, not 3")
    encoded_header, encoded_claims, encoded_signature = segments
    header = _json_object(encoded_header, "header")
    claims = _json_object(encoded_claims, "claims")
    try:
        signature = decode_b64url(encoded_signature)
    except ValueError as exc:
        raise TokenRejected("malformed", f"signature: {exc}") from None
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise TokenRejected("malformed", "header has no string alg")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenRejected("malformed", "header kid is not a string")
    if "crit" in header:
        # RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not understand: all of them.
        raise TokenRejected("malformed", "header has crit extensions")
    return ParsedToken(
        header=MappingProxyType(header),
        claims=MappingProxyType(claims),
        signing_input=f"{encoded_header}.{encoded_claims}".encode("ascii"),
        signature=signature,
        alg=alg,
        kid=kid,
    )


def _json_object(segment: str, part: str) -> dict[str, object]:
    try:
        value = json.loads(
            decode_b64url(segment).decode("utf-8"),
            object_pairs_hook=_unique_members,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        # These messages name a position or a rule, never the token's content.
        raise TokenRejected("malformed", f"{part}: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise TokenRejected("malformed", f"{part} is not a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member name")  # RFC 7515 §4: reject, rather than pick one
    return members


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def verify_signature(token: ParsedToken, key: VerificationKey, method: SigningMethod) -> None:
    """Return if `key` made `token`'s signature with an algorithm `method` allows; raise TokenRejected if not.

    The order is fixed: `alg_not_allowed` (outside the method, or `none`), then `key_mismatch` (the key is
    not of the kind `alg` needs), then `bad_signature`.
    """
    algorithm = _allowed_algorithm(token, method)
    if not key_fits(key, algorithm.name):
        raise TokenRejected("key_mismatch", f"{type(key).__name__} cannot verify {algorithm.name}")
    if not _signature_is_valid(algorithm, key, token.signing_input, token.signature):
        raise TokenRejected("bad_signature", f"{algorithm.name} signature does not verify")


def verify_with_any(token: ParsedToken, keys: Iterable[VerificationKey], method: SigningMethod) -> None:
    """`verify_signature` with the first of `keys` that verifies (JWKS candidates, best first).

    `alg_not_allowed` comes before everything, `no_key` when `keys` is empty; otherwise `bad_signature`
    if none verifies.
    """
    _allowed_algorithm(token, method)
    tried = False
    for key in keys:
        tried = True
        try:
            verify_signature(token, key, method)
        except TokenRejected:
            continue
        return
    if not tried:
        raise TokenRejected("no_key", f"no key for kid {(token.kid or '')[:64]!r} and alg {token.alg}")
    raise TokenRejected("bad_signature", f"no candidate key verifies the {token.alg} signature")


def _allowed_algorithm(token: ParsedToken, method: SigningMethod) -> Algorithm:
    if token.alg not in ALLOWED_ALGORITHMS[method]:
        raise TokenRejected("alg_not_allowed", f"alg {token.alg[:32]!r} is not allowed for method {method}")
    return ALGORITHMS[token.alg]


def _signature_is_valid(algorithm: Algorithm, key: VerificationKey, message: bytes, signature: bytes) -> bool:
    digest = algorithm.hash()
    try:
        if isinstance(key, HmacSecret):
            expected = hmac.digest(key.secret, message, digest.name)
            return hmac.compare_digest(expected, signature)
        if isinstance(key, rsa.RSAPublicKey):
            scheme: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                if algorithm.scheme == "pss"
                else padding.PKCS1v15()
            )
            key.verify(signature, message, scheme, digest)
            return True
        der = _jose_to_der(signature, key)
        if der is None:
            return False
        key.verify(der, message, ec.ECDSA(digest))
        return True
    except (InvalidSignature, ValueError):
        return False


def _jose_to_der(signature: bytes, key: ec.EllipticCurvePublicKey) -> bytes | None:
    """RFC 7518 §3.4: an ES signature is `r || s`, each as long as the curve's coordinate; None if not."""
    size = (key.curve.key_size + 7) // 8
    if len(signature) != 2 * size:
        return None
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    return encode_dss_signature(r, s)
