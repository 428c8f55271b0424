"""JWS algorithms and the keys that verify them (RFC 7518 §3), as tables.

A configured `jwt_signing_method` (Tyk's name) allows one family of algorithms, and each algorithm needs
one kind of key:

| method  | algorithms                       | key                                               |
|---------|----------------------------------|---------------------------------------------------|
| `rsa`   | RS256/384/512, PS256/384/512     | RSA public key                                    |
| `ecdsa` | ES256, ES384, ES512              | EC public key on P-256, P-384, P-521 respectively |
| `hmac`  | HS256, HS384, HS512              | secret bytes                                      |

`none` is in no row, so it is never accepted. `key_fits` is the one place that pairs a key with an algorithm;
token verification and JWKS key selection both use it, so an HMAC token can never be checked with the bytes
of an RSA public key, nor an ES384 token with a P-256 key.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SigningMethod = Literal["rsa", "ecdsa", "hmac"]
Scheme = Literal["hmac", "pkcs1", "pss", "ecdsa"]


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One JWS `alg`: the method that allows it, its signature scheme, hash, and (ES only) its curve."""

    name: str
    method: SigningMethod
    scheme: Scheme
    hash: type[hashes.HashAlgorithm]
    curve: str | None = None  # cryptography's curve name, e.g. "secp256r1"


ALGORITHMS: Mapping[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("RS256", "rsa", "pkcs1", hashes.SHA256),
        Algorithm("RS384", "rsa", "pkcs1", hashes.SHA384),
        Algorithm("RS512", "rsa", "pkcs1", hashes.SHA512),
        Algorithm("PS256", "rsa", "pss", hashes.SHA256),
        Algorithm("PS384", "rsa", "pss", hashes.SHA384),
        Algorithm("PS512", "rsa", "pss", hashes.SHA512),
        Algorithm("ES256", "ecdsa", "ecdsa", hashes.SHA256, "secp256r1"),
        Algorithm("ES384", "ecdsa", "ecdsa", hashes.SHA384, "secp384r1"),
        Algorithm("ES512", "ecdsa", "ecdsa", hashes.SHA512, "secp521r1"),
        Algorithm("HS256", "hmac", "hmac", hashes.SHA256),
        Algorithm("HS384", "hmac", "hmac", hashes.SHA384),
        Algorithm("HS512", "hmac", "hmac", hashes.SHA512),
    )
}

ALLOWED_ALGORITHMS: Mapping[SigningMethod, frozenset[str]] = {
    method: frozenset(a.name for a in ALGORITHMS.values() if a.method == method) for method in ("rsa", "ecdsa", "hmac")
}

# The curves ES256/384/512 use; an EC key on any other curve verifies nothing.
SUPPORTED_CURVES = frozenset(a.curve for a in ALGORITHMS.values() if a.curve is not None)


@dataclass(frozen=True, slots=True)
class HmacSecret:
    """The shared secret of HS256/384/512. Never shown in reprs or logs."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.secret:
            raise ValueError("an HMAC secret must not be empty")


VerificationKey = HmacSecret | rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_KEY_TYPES: Mapping[Scheme, type[object]] = {
    "hmac": HmacSecret,
    "pkcs1": rsa.RSAPublicKey,
    "pss": rsa.RSAPublicKey,
    "ecdsa": ec.EllipticCurvePublicKey,
}


def key_fits(key: VerificationKey, alg: str) -> bool:
    """True when `key` is the kind of key `alg` verifies with (and, for ES, on the curve `alg` names)."""
    algorithm = ALGORITHMS.get(alg)
    if algorithm is None or not isinstance(key, _KEY_TYPES[algorithm.scheme]):
        return False
    return algorithm.curve is None or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == algorithm.curve)


def key_from_source(source: bytes, method: SigningMethod) -> VerificationKey:
    """The key a static `jwt_source` (already base64-decoded) stands for, read as `method` says.

    As in Tyk, the method decides, not the content: for `hmac` the bytes are the secret, whatever they look
    like; for `rsa` and `ecdsa` they are a public key in PEM or DER (SubjectPublicKeyInfo, or PKCS#1 for RSA)
    or an X.509 certificate in PEM or DER, whose public key is used. A key of the wrong family for the method
    (an EC key for `rsa`), an EC key on a curve no ES algorithm uses, an RSA key outside `RSA_KEY_BITS`, or
    bytes that are no key raise ValueError, so a bad source is refused when the API loads, not per request.
    """
    if method == "hmac":
        return HmacSecret(source)
    key = load_public_key(source)
    if method == "rsa" and not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("jwt_source holds an EC key but the signing method is rsa")
    if method == "ecdsa" and not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("jwt_source holds an RSA key but the signing method is ecdsa")
    return key


def load_public_key(data: bytes) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """An RSA or EC public key from PEM/DER public-key or certificate bytes; ValueError otherwise."""
    for load in _PUBLIC_KEY_LOADERS:
        try:
            key = load(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return checked_public_key(key)
    raise ValueError("not a PEM or DER public key or certificate")


def _pem_certificate_key(data: bytes) -> object:
    return x509.load_pem_x509_certificate(data).public_key()


def _der_certificate_key(data: bytes) -> object:
    return x509.load_der_x509_certificate(data).public_key()


_PUBLIC_KEY_LOADERS: tuple[Callable[[bytes], object], ...] = (
    serialization.load_pem_public_key,
    serialization.load_der_public_key,
    _pem_certificate_key,
    _der_certificate_key,
)


# RFC 7518 §3.3: RS and PS keys MUST be at least 2048 bits. The ceiling bounds the work of one verification.
RSA_KEY_BITS = range(2048, 16384 + 1)


def checked_public_key(key: object) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """`key` if it is an RSA key of 2048 to 16384 bits, or an EC key on a curve an ES algorithm uses;
    ValueError otherwise."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in RSA_KEY_BITS:
            raise ValueError(f"a {key.key_size}-bit RSA key is outside 2048 to 16384 bits")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in SUPPORTED_CURVES:
            raise ValueError(f"EC curve {key.curve.name} is not used by ES256, ES384 or ES512")
        return key
    raise ValueError(f"unsupported public key type {type(key).__name__}")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def decode_b64url(text: str) -> bytes:
    """Unpadded base64url (RFC 7515 §2) in its one canonical spelling; ValueError for anything else.

    Padding, the standard alphabet's `+` and `/`, whitespace, an impossible length and non-zero trailing
    bits are all refused, so each byte string has exactly one accepted encoding.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text:
        raise ValueError("non-canonical base64url")
    return data
