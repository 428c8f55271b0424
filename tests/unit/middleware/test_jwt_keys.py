"""`bascule.middleware.jwt_keys`: the algorithm table, which key fits which alg, static `jwt_source` keys."""

from __future__ import annotations

import base64

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from bascule.middleware.jwt_keys import (
    ALGORITHMS,
    ALLOWED_ALGORITHMS,
    HmacSecret,
    SigningMethod,
    VerificationKey,
    decode_b64url,
    key_fits,
    key_from_source,
)

RSA_PUBLIC = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
P256 = ec.generate_private_key(ec.SECP256R1()).public_key()
P384 = ec.generate_private_key(ec.SECP384R1()).public_key()
P521 = ec.generate_private_key(ec.SECP521R1()).public_key()
SECRET = HmacSecret(b"k" * 32)
RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
RSA_2040 = rsa.generate_private_key(public_exponent=65537, key_size=2040).public_key()


def pem(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def der(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_each_method_allows_exactly_its_family_and_none_is_nowhere() -> None:
    assert {
        "rsa": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
        "ecdsa": {"ES256", "ES384", "ES512"},
        "hmac": {"HS256", "HS384", "HS512"},
    } == ALLOWED_ALGORITHMS
    assert not any("none" in algs or "NONE" in algs for algs in ALLOWED_ALGORITHMS.values())


@pytest.mark.parametrize(
    ("key", "fitting"),
    [
        (RSA_PUBLIC, {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
        (P256, {"ES256"}),
        (P384, {"ES384"}),
        (P521, {"ES512"}),
        (SECRET, {"HS256", "HS384", "HS512"}),
    ],
)
def test_key_fits_pairs_each_key_with_its_algorithms_only(key: VerificationKey, fitting: set[str]) -> None:
    assert {alg for alg in ALGORITHMS if key_fits(key, alg)} == fitting
    assert not key_fits(key, "none")
    assert not key_fits(key, "EdDSA")


def test_hmac_reads_any_bytes_as_the_secret_even_a_pem() -> None:
    assert key_from_source(pem(RSA_PUBLIC), "hmac") == HmacSecret(pem(RSA_PUBLIC))
    assert key_from_source(b"\x00raw secret\xff", "hmac") == HmacSecret(b"\x00raw secret\xff")


def test_an_empty_hmac_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        key_from_source(b"", "hmac")


def test_the_hmac_secret_is_not_in_its_repr() -> None:
    assert "topsecret" not in repr(HmacSecret(b"topsecret"))


CA = trustme.CA(key_type=trustme.KeyType.RSA)
EC_CA = trustme.CA(key_type=trustme.KeyType.ECDSA)


def certificate_key(ca: trustme.CA) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    key = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_key()
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key


@pytest.mark.parametrize(
    ("source", "method", "expected"),
    [
        pytest.param(pem(RSA_PUBLIC), "rsa", RSA_PUBLIC, id="PEM SubjectPublicKeyInfo"),
        pytest.param(
            RSA_PUBLIC.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
            "rsa",
            RSA_PUBLIC,
            id="PEM PKCS#1 RSA PUBLIC KEY",
        ),
        pytest.param(der(RSA_PUBLIC), "rsa", RSA_PUBLIC, id="DER SubjectPublicKeyInfo"),
        pytest.param(CA.cert_pem.bytes(), "rsa", certificate_key(CA), id="PEM certificate"),
        pytest.param(
            base64.b64decode(b"".join(CA.cert_pem.bytes().splitlines()[1:-1])),
            "rsa",
            certificate_key(CA),
            id="DER certificate",
        ),
        pytest.param(pem(P256), "ecdsa", P256, id="EC P-256"),
        pytest.param(pem(P384), "ecdsa", P384, id="EC P-384"),
        pytest.param(pem(P521), "ecdsa", P521, id="EC P-521"),
        pytest.param(EC_CA.cert_pem.bytes(), "ecdsa", certificate_key(EC_CA), id="EC certificate"),
    ],
)
def test_public_key_sources(source: bytes, method: SigningMethod, expected: VerificationKey) -> None:
    assert key_from_source(source, method) == expected


@pytest.mark.parametrize(
    ("source", "method", "error"),
    [
        pytest.param(pem(P256), "rsa", "EC key but the signing method is rsa", id="EC key for rsa"),
        pytest.param(pem(RSA_PUBLIC), "ecdsa", "RSA key but the signing method is ecdsa", id="RSA key for ecdsa"),
        pytest.param(EC_CA.cert_pem.bytes(), "rsa", "EC key", id="EC certificate for rsa"),
        pytest.param(b"a shared secret", "rsa", "not a PEM or DER", id="secret for rsa"),
        pytest.param(b"", "ecdsa", "not a PEM or DER", id="empty"),
        pytest.param(
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "rsa", "not a PEM", id="broken PEM"
        ),
        pytest.param(pem(ec.generate_private_key(ec.SECP256K1()).public_key()), "ecdsa", "secp256k1", id="secp256k1"),
        pytest.param(pem(ec.generate_private_key(ec.SECP224R1()).public_key()), "ecdsa", "secp224r1", id="P-224"),
        pytest.param(pem(ed25519.Ed25519PrivateKey.generate().public_key()), "ecdsa", "Ed25519", id="Ed25519"),
        pytest.param(pem(RSA_1024), "rsa", "1024-bit RSA key is outside", id="RSA 1024 bits"),
        pytest.param(pem(RSA_2040), "rsa", "2040-bit RSA key is outside", id="RSA just under 2048 bits"),
    ],
)
def test_unusable_public_key_sources_are_refused(source: bytes, method: SigningMethod, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        key_from_source(source, method)


@pytest.mark.parametrize(
    ("text", "data"),
    [("", b""), ("YQ", b"a"), ("YWI", b"ab"), ("YWJj", b"abc"), ("-_8", b"\xfb\xff")],
)
def test_decode_b64url_reads_the_canonical_unpadded_form(text: str, data: bytes) -> None:
    assert decode_b64url(text) == data


@pytest.mark.parametrize("text", ["YQ==", "YQ=", "+/8", "YWJ", "Y", "YWJjZ", "YQ\n", " YQ", "YR", "ÿ"])
def test_decode_b64url_refuses_every_other_spelling(text: str) -> None:
    with pytest.raises(ValueError):
        decode_b64url(text)


@given(st.binary(max_size=64))
def test_decode_b64url_round_trips(data: bytes) -> None:
    assert decode_b64url(base64.urlsafe_b64encode(data).rstrip(b"=").decode()) == data
