"""`bascule.middleware.jwks`: key sets with bare keys and x5c, skipped entries, candidates, `jwt_source` rule."""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
from typing import Any

import jwt
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, RSAAlgorithm

from bascule.middleware.jwks import (
    MAX_KEYS,
    JsonWebKeySet,
    parse_jwks,
)
from bascule.middleware.jwt_keys import SigningMethod
from bascule.middleware.jwt_tokens import TokenRejected, parse_token, verify_with_any

RSA_OLD = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_NEW = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEYS = {
    "P-256": ec.generate_private_key(ec.SECP256R1()),
    "P-384": ec.generate_private_key(ec.SECP384R1()),
    "P-521": ec.generate_private_key(ec.SECP521R1()),
}
SECRET = b"h" * 64


def rsa_jwk(key: rsa.RSAPrivateKey, **extra: object) -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), **extra}


def ec_jwk(crv: str, **extra: object) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(EC_KEYS[crv].public_key(), as_dict=True), **extra}


def document(*keys: object) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def self_signed(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "idp.example")])
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateBuilder(
        subject_name=name,
        issuer_name=name,
        public_key=key.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=now,
        not_valid_after=now + datetime.timedelta(days=1),
    )
    return builder.sign(key, hashes.SHA256())


# An RSA signing key with its self-signed certificate; an EC leaf issued by a CA, with the CA after it.
RSA_CERT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_X5C = [der_b64(self_signed(RSA_CERT_KEY))]
EC_CA = trustme.CA(key_type=trustme.KeyType.ECDSA)
EC_LEAF = EC_CA.issue_cert("idp.example")
EC_X5C = [der_b64(x509.load_pem_x509_certificate(blob.bytes())) for blob in (*EC_LEAF.cert_chain_pems, EC_CA.cert_pem)]
EC_CERT_KEY = serialization.load_pem_private_key(EC_LEAF.private_key_pem.bytes(), password=None)
assert len(EC_X5C) == 2 and isinstance(EC_CERT_KEY, ec.EllipticCurvePrivateKey)


def verify(token: str, keys: JsonWebKeySet, method: SigningMethod, kid: str | None = "use-the-token") -> None:
    parsed = parse_token(token)
    wanted = parsed.kid if kid == "use-the-token" else kid
    verify_with_any(parsed, [k.key for k in keys.candidates(wanted, parsed.alg)], method)


# --- keys that are kept --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jwk", "alg", "signer", "method"),
    [
        (rsa_jwk(RSA_OLD, kid="r"), "RS256", RSA_OLD, "rsa"),
        (rsa_jwk(RSA_OLD, kid="r"), "PS512", RSA_OLD, "rsa"),
        (ec_jwk("P-256", kid="e"), "ES256", EC_KEYS["P-256"], "ecdsa"),
        (ec_jwk("P-384", kid="e"), "ES384", EC_KEYS["P-384"], "ecdsa"),
        (ec_jwk("P-521", kid="e"), "ES512", EC_KEYS["P-521"], "ecdsa"),
        ({**HMACAlgorithm.to_jwk(SECRET, as_dict=True), "kid": "h"}, "HS384", SECRET, "hmac"),
    ],
)
def test_a_bare_key_verifies_a_token_that_names_it(
    jwk: dict[str, Any], alg: str, signer: Any, method: SigningMethod
) -> None:
    keys = parse_jwks(document(jwk))
    assert (len(keys.keys), keys.skipped) == (1, ())
    verify(jwt.encode({"sub": "a"}, signer, algorithm=alg, headers={"kid": jwk["kid"]}), keys, method)


@pytest.mark.parametrize(
    ("x5c", "kty", "signer", "alg"),
    [(RSA_X5C, "RSA", RSA_CERT_KEY, "RS256"), (EC_X5C, "EC", EC_CERT_KEY, "ES256")],
)
def test_an_x5c_only_key_uses_the_first_certificate(x5c: list[str], kty: str, signer: Any, alg: str) -> None:
    keys = parse_jwks(document({"kty": kty, "kid": "cert", "use": "sig", "x5c": x5c}))
    assert keys.skipped == ()
    token = jwt.encode({"sub": "a"}, signer, algorithm=alg, headers={"kid": "cert"})
    verify(token, keys, "rsa" if kty == "RSA" else "ecdsa")


@pytest.mark.parametrize(
    ("bare", "x5c", "signer", "alg", "method"),
    [
        (RSAAlgorithm.to_jwk(RSA_CERT_KEY.public_key(), as_dict=True), RSA_X5C, RSA_CERT_KEY, "PS256", "rsa"),
        (ECAlgorithm.to_jwk(EC_CERT_KEY.public_key(), as_dict=True), EC_X5C, EC_CERT_KEY, "ES256", "ecdsa"),
    ],
)
def test_x5c_with_matching_bare_members_is_kept(
    bare: dict[str, Any], x5c: list[str], signer: Any, alg: str, method: SigningMethod
) -> None:
    keys = parse_jwks(document({**bare, "kid": "both", "x5c": x5c}))
    assert [k.kid for k in keys.keys] == ["both"]
    verify(jwt.encode({}, signer, algorithm=alg, headers={"kid": "both"}), keys, method)


def test_private_members_are_ignored() -> None:
    private = {**RSAAlgorithm.to_jwk(RSA_OLD, as_dict=True), "kid": "p", "key_ops": ["verify"]}
    assert "d" in private
    (key,) = parse_jwks(document(private)).keys
    assert key.key == RSA_OLD.public_key()
    assert isinstance(key.key, rsa.RSAPublicKey)


def test_padded_key_members_are_tolerated() -> None:
    jwk = rsa_jwk(RSA_OLD, kid="pad")
    jwk["n"] += "=" * (-len(jwk["n"]) % 4)
    jwk["e"] += "=="
    assert parse_jwks(document(jwk)).keys[0].key == RSA_OLD.public_key()


# --- keys that are skipped, each with its reason --------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": b64url(b"x" * 32)}, "kty 'OKP'", id="unknown kty"),
        pytest.param({"kty": "rsa", **{k: v for k, v in rsa_jwk(RSA_OLD).items() if k != "kty"}}, "kty", id="kty case"),
        pytest.param({"n": "AQAB", "e": "AQAB"}, "no kty", id="no kty"),
        pytest.param(rsa_jwk(RSA_OLD, use="enc"), "use is 'enc'", id="use enc"),
        pytest.param(rsa_jwk(RSA_OLD, key_ops=["encrypt"]), "key_ops", id="key_ops without verify"),
        pytest.param(rsa_jwk(RSA_OLD, key_ops="verify"), "key_ops", id="key_ops not a list"),
        pytest.param(rsa_jwk(RSA_OLD, alg="RSA-OAEP"), "alg 'RSA-OAEP'", id="encryption alg"),
        pytest.param(rsa_jwk(RSA_OLD, alg="ES256"), "alg ES256 does not fit", id="alg of another family"),
        pytest.param(ec_jwk("P-256", alg="ES384"), "alg ES384 does not fit", id="alg of another curve"),
        pytest.param(rsa_jwk(RSA_OLD, alg="none"), "alg 'none'", id="alg none"),
        pytest.param(rsa_jwk(RSA_OLD, kid=7), "kid is not a string", id="kid not a string"),
        pytest.param({"kty": "RSA", "e": "AQAB"}, "n is missing", id="rsa without n"),
        pytest.param({"kty": "RSA", "n": "not base64!", "e": "AQAB"}, "n is not base64url", id="rsa bad n"),
        pytest.param({"kty": "RSA", "n": "", "e": "AQAB"}, "n must be", id="rsa empty n"),
        pytest.param({"kty": "RSA"}, "neither its members nor x5c", id="rsa with nothing"),
        pytest.param(rsa_jwk(rsa.generate_private_key(65537, 1024)), "1024-bit", id="rsa 1024 bits"),
        pytest.param({"kty": "RSA", "n": b64url(b"\xff" * 2049), "e": "AQAB"}, "16392-bit", id="rsa over 16384 bits"),
        pytest.param({"kty": "X" * 1000}, "'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX...", id="long values cut short"),
        pytest.param({**ec_jwk("P-256"), "crv": "secp256k1"}, "crv 'secp256k1'", id="unknown curve"),
        pytest.param({**ec_jwk("P-256"), "crv": ["P-256"]}, "crv ['P-256']", id="crv not a string"),
        pytest.param({**ec_jwk("P-256"), "crv": "P-384"}, "48 bytes", id="coordinates of another curve"),
        pytest.param({**ec_jwk("P-256"), "x": b64url(b"\x01" * 32)}, "not on the curve", id="point not on the curve"),
        pytest.param({**ec_jwk("P-256"), "y": None}, "y is missing", id="ec without y"),
        pytest.param({"kty": "oct", "k": ""}, "must not be empty", id="empty oct"),
        pytest.param({"kty": "oct"}, "k is missing", id="oct without k"),
        pytest.param({"kty": "oct", "k": b64url(SECRET), "x5c": RSA_X5C}, "oct key cannot", id="oct x5c"),
        pytest.param({"kty": "RSA", "x5c": []}, "x5c is not", id="empty x5c"),
        pytest.param({"kty": "RSA", "x5c": "MIIB"}, "x5c is not", id="x5c a string"),
        pytest.param({"kty": "RSA", "x5c": ["not base64!"]}, "x5c[0]", id="x5c bad base64"),
        pytest.param({"kty": "RSA", "x5c": [base64.b64encode(b"junk").decode()]}, "x5c[0]", id="x5c not a cert"),
        pytest.param({"kty": "EC", "x5c": RSA_X5C}, "not EC", id="x5c of another kty"),
        pytest.param({"kty": "RSA", "x5c": EC_X5C}, "not RSA", id="x5c of another kty, EC"),
        pytest.param(
            {**ec_jwk("P-256"), "x5c": [der_b64(self_signed(EC_KEYS["P-384"]))]}, "disagree", id="x5c of another curve"
        ),
        pytest.param(
            {"kty": "RSA", "x5c": [der_b64(self_signed(ec.generate_private_key(ec.SECP256K1())))]},
            "secp256k1",
            id="x5c on an unusable curve",
        ),
        pytest.param({"kty": "RSA", "x5c": [7]}, "x5c is not", id="x5c of numbers"),
        pytest.param({**rsa_jwk(RSA_OLD), "x5c": RSA_X5C}, "disagree", id="x5c and n/e of different keys"),
        pytest.param({**ec_jwk("P-256"), "x5c": EC_X5C}, "disagree", id="x5c and crv/x/y of different keys"),
        pytest.param("a string", "not a JSON object", id="not an object"),
    ],
)
def test_unusable_entries_are_skipped_with_a_reason(entry: object, reason: str) -> None:
    good = rsa_jwk(RSA_NEW, kid="good")
    keys = parse_jwks(document(entry, good))
    assert [k.kid for k in keys.keys] == ["good"]
    (skipped,) = keys.skipped
    assert skipped.index == 0
    assert reason in skipped.reason


def test_a_skipped_entry_keeps_its_kid_for_the_log() -> None:
    keys = parse_jwks(document(rsa_jwk(RSA_OLD, kid="enc-key", use="enc")))
    assert [(s.index, s.kid) for s in keys.skipped] == [(0, "enc-key")]


def test_only_the_first_max_keys_entries_are_read() -> None:
    jwk = rsa_jwk(RSA_OLD)
    entries = [{**jwk, "kid": str(i)} for i in range(MAX_KEYS + 3)]
    keys = parse_jwks(document(*entries))
    assert len(keys.keys) == MAX_KEYS
    assert [(s.index, s.kid, s.reason) for s in keys.skipped] == [(MAX_KEYS, None, "3 entries beyond the first 100")]
    assert keys.by_kid(str(MAX_KEYS)) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"keys": {}}',
        b'{"keys": "x"}',
        b'{"key": []}',
        b"null",
        b"\xff\xfe\x00",
        b"[" * 100_000,
    ],
)
def test_a_document_without_a_keys_array_is_an_error(body: bytes) -> None:
    with pytest.raises(ValueError, match="JWKS"):
        parse_jwks(body)


def test_an_empty_keys_array_is_an_empty_set() -> None:
    assert parse_jwks(b'{"keys": []}') == JsonWebKeySet(())


@given(st.binary(max_size=200))
def test_parse_jwks_on_any_bytes_only_raises_value_error(body: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_jwks(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=10,
)
members = st.sampled_from(["kty", "kid", "use", "alg", "key_ops", "n", "e", "crv", "x", "y", "k", "x5c"])
entries = st.dictionaries(members, json_values | st.sampled_from(["RSA", "EC", "oct", "sig", "P-256", "AQAB"]))


@given(st.lists(entries, max_size=5))
def test_random_entries_are_kept_or_skipped_never_raised(keys: list[dict[str, object]]) -> None:
    parsed = parse_jwks(document(*keys))
    assert len(parsed.keys) + len(parsed.skipped) == len(keys)


# --- choosing keys: rotation and tokens without kid ------------------------------------------------------


ROTATING = parse_jwks(
    document(
        rsa_jwk(RSA_OLD, kid="2024", use="sig", alg="RS256"),
        rsa_jwk(RSA_NEW, kid="2025", use="sig"),
        ec_jwk("P-256", kid="2025-ec"),
        {**HMACAlgorithm.to_jwk(SECRET, as_dict=True), "kid": "2025"},
    )
)


def test_by_kid_finds_the_first_key_of_that_kid() -> None:
    assert ROTATING.by_kid("2024") is ROTATING.keys[0]
    assert ROTATING.by_kid("2025") is ROTATING.keys[1]
    assert ROTATING.by_kid("2026") is None


@pytest.mark.parametrize(
    ("kid", "alg", "kids"),
    [
        ("2024", "RS256", ["2024"]),
        ("2024", "PS256", []),  # the key says alg RS256
        ("2025", "PS256", ["2025"]),
        ("2025", "HS256", ["2025"]),  # the oct key of the same kid
        ("2025", "ES256", []),
        ("2026", "RS256", []),
        (None, "RS256", ["2024", "2025"]),
        (None, "RS512", ["2025"]),
        (None, "ES256", ["2025-ec"]),
        (None, "ES384", []),
        (None, "none", []),
    ],
)
def test_candidates(kid: str | None, alg: str, kids: list[str]) -> None:
    found = ROTATING.candidates(kid, alg)
    assert [k.kid for k in found] == kids
    assert all(k.fits(alg) for k in found)


def test_both_kids_of_a_rotation_verify_their_own_tokens_only() -> None:
    old = jwt.encode({"sub": "a"}, RSA_OLD, algorithm="RS256", headers={"kid": "2024"})
    new = jwt.encode({"sub": "a"}, RSA_NEW, algorithm="RS256", headers={"kid": "2025"})
    verify(old, ROTATING, "rsa")
    verify(new, ROTATING, "rsa")
    lying = jwt.encode({"sub": "a"}, RSA_NEW, algorithm="RS256", headers={"kid": "2024"})
    with pytest.raises(TokenRejected) as caught:
        verify(lying, ROTATING, "rsa")
    assert caught.value.reason == "bad_signature"


def test_an_unknown_kid_has_no_candidates() -> None:
    token = jwt.encode({"sub": "a"}, RSA_NEW, algorithm="RS256", headers={"kid": "2026"})
    with pytest.raises(TokenRejected) as caught:
        verify(token, ROTATING, "rsa")
    assert caught.value.reason == "no_key"


def test_a_token_without_kid_tries_every_key_that_fits() -> None:
    verify(jwt.encode({"sub": "a"}, RSA_NEW, algorithm="RS256"), ROTATING, "rsa")


def test_ignoring_the_kid_tries_every_key_that_fits() -> None:  # what a caller does for jwt_skip_kid
    token = jwt.encode({"sub": "a"}, RSA_NEW, algorithm="RS256", headers={"kid": "unrelated"})
    verify(token, ROTATING, "rsa", kid=None)
