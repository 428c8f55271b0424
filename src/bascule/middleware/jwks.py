"""JSON Web Key Sets (RFC 7517), parsed by a pure function. Fetching is `jwks_cache`'s; Tyk's `jwt_source` rule
(URL, base64 URL, or key) is applied once, at load, by `compat.tyk.translate_auth`.

`parse_jwks` keeps every key it can verify signatures with and lists the ones it skips, with why, so one odd
key in an identity provider's set neither fails the whole set nor disappears silently. A key is kept when:
- `kty` is `RSA` (`n`, `e`; 2048 to 16384 bits), `EC` (`crv` P-256/P-384/P-521, `x`, `y` each a full
  coordinate, on the curve) or `oct` (`k`); any other `kty` is skipped;
- `use`, if present, is `sig`, and `key_ops`, if present, includes `verify`;
- `alg`, if present, is a JWS algorithm this key fits (`jwt_keys.key_fits`);
- `x5c`, if present, starts with a certificate whose public key has that `kty`; with no bare members that
  key is used, and with bare members (`n`/`e`, `crv`/`x`/`y`) both must be the same key. Only the first
  certificate is read: the chain is a carrier for the key, not validated (nor is Tyk's).
Private members (`d`, `p`, ...) are never read. Only the first `MAX_KEYS` entries are considered.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bascule.middleware.jwt_keys import (
    ALGORITHMS,
    HmacSecret,
    VerificationKey,
    checked_public_key,
    decode_b64url,
    key_fits,
)

MAX_KEYS = 100

# Builds a key from its bare members (`n`/`e`, `crv`/`x`/`y`, `k`); None when it has none of them.
_KeyBuilder = Callable[[Mapping[str, object]], VerificationKey | None]


@dataclass(frozen=True, slots=True)
class JsonWebKey:
    """One usable verification key of a set; `alg`, when the set names one, is the only alg it verifies."""

    kid: str | None
    kty: str
    alg: str | None
    key: VerificationKey

    def fits(self, alg: str) -> bool:
        """True when a token signed with `alg` may be verified with this key."""
        return (self.alg is None or self.alg == alg) and key_fits(self.key, alg)


@dataclass(frozen=True, slots=True)
class SkippedKey:
    """An entry of `keys` that was not kept: its position, its `kid` if it had a string one, and why."""

    index: int
    kid: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class JsonWebKeySet:
    """The usable keys of one JWKS document, in document order, indexed by `kid`; `skipped` says what was not."""

    keys: tuple[JsonWebKey, ...]
    skipped: tuple[SkippedKey, ...] = ()
    _by_kid: Mapping[str, tuple[JsonWebKey, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, tuple[JsonWebKey, ...]] = {}
        for key in self.keys:
            if key.kid is not None:
                index[key.kid] = (*index.get(key.kid, ()), key)
        object.__setattr__(self, "_by_kid", index)

    def by_kid(self, kid: str) -> JsonWebKey | None:
        """The first key with this `kid`, if any."""
        found = self._by_kid.get(kid, ())
        return found[0] if found else None

    def candidates(self, kid: str | None, alg: str) -> tuple[JsonWebKey, ...]:
        """The keys to try for a token, in set order: those with its `kid` that fit `alg`; with no `kid` (none
        in the token, or the caller ignores it), every key that fits `alg`."""
        pool = self.keys if kid is None else self._by_kid.get(kid, ())
        return tuple(key for key in pool if key.fits(alg))


class _Skip(Exception):
    """Internal: this entry is not a usable key, for the reason given."""


def parse_jwks(body: bytes) -> JsonWebKeySet:
    """The usable keys of a JWKS document; ValueError if it is not JSON or has no `keys` array.

    The caller bounds the body size; this bounds the number of entries read (`MAX_KEYS`).
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"JWKS is not valid JSON: {str(exc)[:120]}") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError('JWKS is not a JSON object with a "keys" array')
    keys: list[JsonWebKey] = []
    skipped: list[SkippedKey] = []
    for index, entry in enumerate(entries[:MAX_KEYS]):
        try:
            keys.append(_parse_key(entry))
        except _Skip as exc:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            skipped.append(SkippedKey(index, kid if isinstance(kid, str) else None, str(exc)))
    if len(entries) > MAX_KEYS:
        skipped.append(SkippedKey(MAX_KEYS, None, f"{len(entries) - MAX_KEYS} entries beyond the first {MAX_KEYS}"))
    return JsonWebKeySet(tuple(keys), tuple(skipped))


def _parse_key(entry: object) -> JsonWebKey:
    if not isinstance(entry, dict):
        raise _Skip("not a JSON object")
    kty, kid, use, alg = (entry.get(name) for name in ("kty", "kid", "use", "alg"))
    if not isinstance(kty, str):
        raise _Skip("no kty")
    if kid is not None and not isinstance(kid, str):
        raise _Skip("kid is not a string")
    if use is not None and use != "sig":
        raise _Skip(f"use is {_shown(use)}, not 'sig'")
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise _Skip("key_ops does not include 'verify'")
    if alg is not None and (not isinstance(alg, str) or alg not in ALGORITHMS):
        raise _Skip(f"alg {_shown(alg)} is not a JWS algorithm bascule verifies")
    build = _BARE_KEYS.get(kty)
    if build is None:
        raise _Skip(f"kty {_shown(kty)} is not RSA, EC or oct")
    key = _resolve_key(kty, _bare_key(build, entry), entry.get("x5c"))
    if alg is not None and not key_fits(key, alg):
        raise _Skip(f"alg {alg} does not fit this {kty} key")
    return JsonWebKey(kid=kid, kty=kty, alg=alg, key=key)


def _shown(value: object) -> str:
    """A member value as it may appear in a log line: repr'd and cut short (the document is not ours)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _resolve_key(kty: str, bare: VerificationKey | None, x5c: object) -> VerificationKey:
    if x5c is None:
        if bare is None:
            raise _Skip(f"{kty} key has neither its members nor x5c")
        return bare
    if kty == "oct":
        raise _Skip("an oct key cannot have x5c")
    certified = _certificate_key(x5c)
    if not isinstance(certified, _KTY_TYPES[kty]):
        raise _Skip(f"x5c certificate key is not {kty}")
    if bare is not None and _spki(bare) != _spki(certified):
        raise _Skip("x5c certificate key and the key members disagree")
    return certified


def _bare_key(build: _KeyBuilder, entry: Mapping[str, object]) -> VerificationKey | None:
    try:
        return build(entry)
    except (ValueError, TypeError) as exc:
        raise _Skip(str(exc) or type(exc).__name__) from None


def _member(entry: Mapping[str, object], name: str) -> bytes:
    value = entry.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is missing or not a string")
    try:
        # go-jose tolerates trailing padding on key members; so do we.
        return decode_b64url(value.rstrip("="))
    except ValueError:
        raise ValueError(f"{name} is not base64url") from None


def _rsa_key(entry: Mapping[str, object]) -> VerificationKey | None:
    if "n" not in entry and "e" not in entry:
        return None
    n = int.from_bytes(_member(entry, "n"), "big")
    e = int.from_bytes(_member(entry, "e"), "big")
    return checked_public_key(rsa.RSAPublicNumbers(e, n).public_key())


_CURVES: Mapping[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}


def _ec_key(entry: Mapping[str, object]) -> VerificationKey | None:
    if not {"crv", "x", "y"} & entry.keys():
        return None
    crv = entry.get("crv")
    curve = _CURVES.get(crv) if isinstance(crv, str) else None
    if curve is None:
        raise ValueError(f"crv {_shown(crv)} is not P-256, P-384 or P-521")
    size = (curve.key_size + 7) // 8
    x, y = _member(entry, "x"), _member(entry, "y")
    if len(x) != size or len(y) != size:
        raise ValueError(f"x and y must be {size} bytes on {crv}")
    numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve)
    return numbers.public_key()  # ValueError when the point is not on the curve


def _oct_key(entry: Mapping[str, object]) -> VerificationKey | None:
    return HmacSecret(_member(entry, "k"))


_BARE_KEYS: Mapping[str, _KeyBuilder] = {
    "RSA": _rsa_key,
    "EC": _ec_key,
    "oct": _oct_key,
}
_KTY_TYPES: Mapping[str, type[object]] = {"RSA": rsa.RSAPublicKey, "EC": ec.EllipticCurvePublicKey}


def _certificate_key(x5c: object) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The public key of the first certificate of `x5c` (standard base64 DER, RFC 7517 §4.7)."""
    if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
        raise _Skip("x5c is not a non-empty array of strings")
    try:
        der = base64.b64decode(x5c[0], validate=True)
        return checked_public_key(x509.load_der_x509_certificate(der).public_key())
    except (ValueError, UnsupportedAlgorithm) as exc:  # binascii.Error is a ValueError
        raise _Skip(f"x5c[0] is not a usable certificate: {exc}") from None


def _spki(key: VerificationKey) -> bytes:
    if isinstance(key, HmacSecret):
        return b""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
