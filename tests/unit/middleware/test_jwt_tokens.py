"""`bascule.middleware.jwt_tokens`: tokens minted by PyJWT for every algorithm verify; every rejection has a row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from bascule.middleware.jwt_keys import ALGORITHMS, HmacSecret, SigningMethod, VerificationKey, key_from_source
from bascule.middleware.jwt_tokens import (
    MAX_TOKEN_LENGTH,
    REFUSALS,
    TokenRejected,
    parse_token,
    token_from_header,
    verify_signature,
    verify_with_any,
)

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEYS = {
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "ES384": ec.generate_private_key(ec.SECP384R1()),
    "ES512": ec.generate_private_key(ec.SECP521R1()),
}
SECRET = b"s" * 64  # long enough for HS512 (PyJWT warns below the hash size)
CLAIMS = {"sub": "user-1", "exp": 2_000_000_000}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: object, claims: object, sign: Callable[[bytes], bytes] = lambda _: b"") -> str:
    """A token built by hand, for what PyJWT refuses to make."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def signing_key(alg: str) -> bytes | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if alg.startswith("HS"):
        return SECRET
    if alg.startswith("ES"):
        return EC_KEYS[alg]
    return RSA_KEY


def public_key(alg: str) -> VerificationKey:
    key = signing_key(alg)
    if isinstance(key, bytes):
        return HmacSecret(key)
    return key.public_key()


def mint(alg: str, claims: dict[str, object] | None = None, **headers: object) -> str:
    return jwt.encode(claims or CLAIMS, signing_key(alg), algorithm=alg, headers=headers or None)


def method_of(alg: str) -> SigningMethod:
    return ALGORITHMS[alg].method


def rejection(action: Callable[[], object]) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        action()
    return caught.value


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
def test_a_token_minted_by_pyjwt_verifies(alg: str) -> None:
    token = parse_token(mint(alg, kid="k1"))
    assert (token.alg, token.kid, dict(token.claims)) == (alg, "k1", CLAIMS)
    verify_signature(token, public_key(alg), method_of(alg))


@pytest.mark.parametrize("alg", ["RS256", "PS384", "ES512"])
def test_a_static_pem_source_verifies(alg: str) -> None:
    key = public_key(alg)
    assert not isinstance(key, HmacSecret)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    verify_signature(parse_token(mint(alg)), key_from_source(pem, method_of(alg)), method_of(alg))


def test_parsed_token_keeps_what_was_signed_and_is_read_only() -> None:
    text = mint("HS256", typ="JWT")
    token = parse_token(text)
    assert token.signing_input == text.rsplit(".", 1)[0].encode()
    assert token.header == {"alg": "HS256", "typ": "JWT"}
    assert token.kid is None
    with pytest.raises(TypeError):
        token.claims["sub"] = "someone-else"  # type: ignore[index]


# --- alg against the configured method ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["rsa", "ecdsa", "hmac"])
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "", "HS1", "RS1", "EdDSA", "ES256K", "hs256"])
def test_none_and_unknown_algs_are_never_allowed(method: SigningMethod, alg: str) -> None:
    token = parse_token(forge({"alg": alg}, CLAIMS))
    caught = rejection(lambda: verify_signature(token, HmacSecret(SECRET), method))
    assert caught.reason == "alg_not_allowed"
    assert (caught.status, caught.message) == (403, "Key not authorized: Unexpected signing method")


@pytest.mark.parametrize(
    ("alg", "method"),
    [(alg, method) for alg in sorted(ALGORITHMS) for method in ("rsa", "ecdsa", "hmac") if method != method_of(alg)],
)
def test_an_alg_outside_the_method_is_refused_before_the_key_is_looked_at(alg: str, method: SigningMethod) -> None:
    token = parse_token(mint(alg))
    assert rejection(lambda: verify_signature(token, public_key(alg), method)).reason == "alg_not_allowed"


def test_algorithm_confusion_hs256_signed_with_the_rsa_public_pem_is_refused() -> None:
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = parse_token(forge({"alg": "HS256"}, CLAIMS, lambda data: hmac.digest(pem, data, "sha256")))
    rsa_key = key_from_source(pem, "rsa")
    # The method is rsa: HS256 is not allowed at all.
    assert rejection(lambda: verify_signature(token, rsa_key, "rsa")).reason == "alg_not_allowed"
    # Even with hmac allowed, an RSA key never lends its bytes as an HMAC secret.
    assert rejection(lambda: verify_signature(token, rsa_key, "hmac")).reason == "key_mismatch"


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("RS256", HmacSecret(SECRET)),
        ("PS256", EC_KEYS["ES256"].public_key()),
        ("ES256", RSA_KEY.public_key()),
        ("ES256", EC_KEYS["ES384"].public_key()),  # wrong curve
        ("ES384", EC_KEYS["ES512"].public_key()),
        ("ES512", EC_KEYS["ES256"].public_key()),
        ("HS256", RSA_KEY.public_key()),
        ("HS512", EC_KEYS["ES256"].public_key()),
    ],
)
def test_a_key_of_the_wrong_kind_or_curve_is_refused(alg: str, key: VerificationKey) -> None:
    token = parse_token(mint(alg))
    caught = rejection(lambda: verify_signature(token, key, method_of(alg)))
    assert (caught.reason, caught.status, caught.message) == ("key_mismatch", 403, "Key not authorized")


def test_an_es384_header_over_a_p256_signature_is_refused() -> None:
    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(EC_KEYS["ES256"].sign(data, ec.ECDSA(hashes.SHA384())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    token = parse_token(forge({"alg": "ES384"}, CLAIMS, sign))
    assert rejection(lambda: verify_signature(token, EC_KEYS["ES256"].public_key(), "ecdsa")).reason == "key_mismatch"


# --- signatures that do not verify --------------------------------------------------------------------


def tamper_payload(token: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps({**CLAIMS, 'sub': 'admin'}).encode())}.{signature}"


def flip_last_signature_byte(token: str) -> str:
    head, signature = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[-1] ^= 1
    return f"{head}.{b64(bytes(raw))}"


def truncate_signature(token: str) -> str:
    head, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return f"{head}.{b64(raw[:-1])}"


def drop_signature(token: str) -> str:
    return token.rsplit(".", 1)[0] + "."


@pytest.mark.parametrize("alg", sorted(ALGORITHMS))
@pytest.mark.parametrize("damage", [tamper_payload, flip_last_signature_byte, truncate_signature, drop_signature])
def test_a_damaged_token_does_not_verify(alg: str, damage: Callable[[str], str]) -> None:
    token = parse_token(damage(mint(alg)))
    caught = rejection(lambda: verify_signature(token, public_key(alg), method_of(alg)))
    assert (caught.reason, caught.status, caught.message) == ("bad_signature", 403, "Key not authorized")


@pytest.mark.parametrize(
    ("alg", "other"),
    [
        ("RS256", OTHER_RSA_KEY.public_key()),
        ("PS512", OTHER_RSA_KEY.public_key()),
        ("ES256", ec.generate_private_key(ec.SECP256R1()).public_key()),
        ("HS256", HmacSecret(b"t" * 64)),
    ],
)
def test_a_token_signed_by_another_key_does_not_verify(alg: str, other: VerificationKey) -> None:
    assert rejection(lambda: verify_signature(parse_token(mint(alg)), other, method_of(alg))).reason == "bad_signature"


def test_an_es256_signature_in_der_form_is_refused() -> None:
    token = forge({"alg": "ES256"}, CLAIMS, lambda data: EC_KEYS["ES256"].sign(data, ec.ECDSA(hashes.SHA256())))
    key = EC_KEYS["ES256"].public_key()
    assert rejection(lambda: verify_signature(parse_token(token), key, "ecdsa")).reason == "bad_signature"


@pytest.mark.parametrize(("salt", "verifies"), [(32, True), (padding.PSS.MAX_LENGTH, False), (0, False), (20, False)])
def test_ps256_salt_must_be_the_hash_length(salt: int, verifies: bool) -> None:
    def sign(data: bytes) -> bytes:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt)
        return RSA_KEY.sign(data, pss, hashes.SHA256())

    token = parse_token(forge({"alg": "PS256"}, CLAIMS, sign))
    if verifies:
        verify_signature(token, RSA_KEY.public_key(), "rsa")
    else:
        assert rejection(lambda: verify_signature(token, RSA_KEY.public_key(), "rsa")).reason == "bad_signature"


def test_hmac_is_compared_against_the_full_digest() -> None:
    token = forge({"alg": "HS256"}, CLAIMS, lambda data: hmac.digest(SECRET, data, hashlib.sha256)[:16])
    assert rejection(lambda: verify_signature(parse_token(token), HmacSecret(SECRET), "hmac")).reason == "bad_signature"


# --- several candidate keys (JWKS) --------------------------------------------------------------------


def test_verify_with_any_takes_the_key_that_verifies() -> None:
    token = parse_token(mint("RS256"))
    verify_with_any(token, [OTHER_RSA_KEY.public_key(), HmacSecret(SECRET), RSA_KEY.public_key()], "rsa")


@pytest.mark.parametrize(
    ("alg", "method", "keys", "reason"),
    [
        ("RS256", "rsa", [], "no_key"),
        ("RS256", "rsa", [OTHER_RSA_KEY.public_key()], "bad_signature"),
        ("RS256", "hmac", [RSA_KEY.public_key()], "alg_not_allowed"),
        ("RS256", "hmac", [], "alg_not_allowed"),
    ],
)
def test_verify_with_any_refusals(alg: str, method: SigningMethod, keys: list[VerificationKey], reason: str) -> None:
    token = parse_token(mint(alg))
    caught = rejection(lambda: verify_with_any(token, keys, method))
    assert caught.reason == reason
    assert (caught.status, caught.message) == REFUSALS[caught.reason]


# --- malformed tokens ---------------------------------------------------------------------------------

GOOD = mint("HS256")
H, P, S = GOOD.split(".")


def seg(value: object) -> str:
    return b64(value) if isinstance(value, bytes) else b64(json.dumps(value).encode())


HS = seg({"alg": "HS256"})
LENGTH_4N_PLUS_1 = P[: len(P) - len(P) % 4] + "A"


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        pytest.param("", "1 segments", id="empty"),
        pytest.param(f"{H}.{P}", "2 segments", id="two segments"),
        pytest.param(f"{H}.{P}.{S}.{S}", "4 segments", id="four segments"),
        pytest.param(f"{H}..{S}", "claims: Expecting value", id="empty payload"),
        pytest.param(f".{P}.{S}", "header: Expecting value", id="empty header"),
        pytest.param(f"{H}=.{P}.{S}", "header: not unpadded", id="padded header"),
        pytest.param(f"{H}.{P}.{S}=", "signature: not unpadded", id="padded signature"),
        pytest.param(f"{H}.{P}+.{S}", "claims: not unpadded", id="standard alphabet"),
        pytest.param(f"{H}.{P}.{S[:-1]}/", "signature: not unpadded", id="slash"),
        pytest.param(f"{H}.{P} .{S}", "claims: not unpadded", id="space"),
        pytest.param(f"{H}.{P}.{S}\n", "signature: not unpadded", id="newline"),
        pytest.param(f"{H}.{LENGTH_4N_PLUS_1}.{S}", "claims: not unpadded", id="length 4n+1"),
        pytest.param(f"{H}.{P}.{b64(b'ab')[:-1]}R", "non-canonical", id="non-canonical trailing bits"),
        pytest.param(f"{H}.{P}.\u00e9", "signature: not unpadded", id="non-ascii"),
        pytest.param(f"{seg(b'not json')}.{P}.{S}", "header: Expecting value", id="header not json"),
        pytest.param(f"{seg(['HS256'])}.{P}.{S}", "header is not a JSON object", id="header an array"),
        pytest.param(f"{seg({'typ': 'JWT'})}.{P}.{S}", "no string alg", id="no alg"),
        pytest.param(f"{seg({'alg': 256})}.{P}.{S}", "no string alg", id="alg not a string"),
        pytest.param(f"{seg({'alg': None})}.{P}.{S}", "no string alg", id="alg null"),
        pytest.param(f"{seg({'alg': 'HS256', 'kid': 7})}.{P}.{S}", "kid is not a string", id="kid not a string"),
        pytest.param(f"{seg({'alg': 'HS256', 'crit': ['exp'], 'exp': 1})}.{P}.{S}", "crit", id="crit"),
        pytest.param(f"{HS}.{seg('a string')}.{S}", "claims is not a JSON object", id="claims a string"),
        pytest.param(f"{HS}.{seg([1, 2])}.{S}", "claims is not a JSON object", id="claims an array"),
        pytest.param(HS + "." + seg(b'{"sub": "\xff"}') + "." + S, "can't decode byte 0xff", id="claims not utf-8"),
        pytest.param(HS + "." + seg(b'{"exp": NaN}') + "." + S, "NaN is not JSON", id="NaN"),
        pytest.param(HS + "." + seg(b'{"exp": -Infinity}') + "." + S, "-Infinity is not JSON", id="-Infinity"),
        pytest.param(
            seg(b'{"alg": "none", "alg": "HS256"}') + f".{P}.{S}", "header: duplicate member name", id="duplicate alg"
        ),
        pytest.param(
            f"{H}." + seg(b'{"sub": "a", "sub": "admin"}') + f".{S}",
            "claims: duplicate member name",
            id="duplicate sub",
        ),
        pytest.param(f"{H}.{seg(b'[' * 5000 + b']' * 5000)}.{S}", "recursion", id="deep nesting"),
        pytest.param(f"{H}." + seg(b'{"n": ' + b"9" * 5000 + b"}") + f".{S}", "digits", id="int too long"),
        pytest.param(f"{H}.{b64(b'x' * MAX_TOKEN_LENGTH)}.{S}", "longer than", id="too long"),
    ],
)
def test_malformed_tokens_are_refused(token: str, detail: str) -> None:
    caught = rejection(lambda: parse_token(token))
    assert (caught.reason, caught.status, caught.message) == ("malformed", 403, "Key not authorized")
    assert detail in caught.detail


def test_a_token_of_exactly_the_maximum_length_is_parsed_and_one_more_character_is_not() -> None:
    pad = ""
    while (room := MAX_TOKEN_LENGTH - len(H) - len(seg({"pad": pad})) - 2) % 4 == 1:
        pad += "x"
    raw_length = room // 4 * 3 + {0: 0, 2: 1, 3: 2}[room % 4]
    token = f"{H}.{seg({'pad': pad})}.{b64(bytes(raw_length))}"
    assert len(token) == MAX_TOKEN_LENGTH
    parse_token(token)
    assert rejection(lambda: parse_token(token + "A")).detail == f"token longer than {MAX_TOKEN_LENGTH} characters"


def test_the_rejection_detail_never_carries_the_token() -> None:
    caught = rejection(lambda: parse_token(f"{seg({'typ': 'JWT'})}.{P}.{S}"))
    assert P not in str(caught) and P not in caught.detail


@given(st.text(max_size=300))
def test_parse_token_on_any_text_only_raises_token_rejected(text: str) -> None:
    try:
        parse_token(text)
    except TokenRejected as exc:
        assert exc.reason == "malformed"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.one_of(json_values, st.binary(max_size=40).map(lambda raw: raw)),
    st.one_of(json_values, st.binary(max_size=40)),
    st.binary(max_size=80),
)
def test_parse_token_on_random_segments_only_raises_token_rejected(header: object, claims: object, sig: bytes) -> None:
    token = f"{seg(header)}.{seg(claims)}.{b64(sig)}"
    try:
        parsed = parse_token(token)
    except TokenRejected as exc:
        assert exc.reason == "malformed"
        return
    methods: tuple[SigningMethod, ...] = ("rsa", "ecdsa", "hmac")
    for method in methods:
        with pytest.raises(TokenRejected):
            verify_signature(parsed, HmacSecret(SECRET), method)


# --- the header value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("Bearer", None),
        ("bearer   ", None),
        ("abc.def.ghi", "abc.def.ghi"),
        ("  abc.def.ghi  ", "abc.def.ghi"),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER abc.def.ghi", "abc.def.ghi"),
        ("bEaReR abc.def.ghi", "abc.def.ghi"),
        ("Bearer    abc.def.ghi ", "abc.def.ghi"),
        ("Bearer\tabc.def.ghi", "abc.def.ghi"),
        ("Bearerabc.def.ghi", "Bearerabc.def.ghi"),  # no separator: not the scheme, and fails to parse later
        ("Basic dXNlcjpwYXNz", "Basic dXNlcjpwYXNz"),  # another scheme is not stripped, and fails to parse later
    ],
)
def test_token_from_header(value: str | None, token: str | None) -> None:
    assert token_from_header(value) == token


def test_a_bearer_header_round_trips_into_a_verified_token() -> None:
    raw = token_from_header(f"Bearer {mint('ES256')}")
    assert raw is not None
    verify_signature(parse_token(raw), public_key("ES256"), "ecdsa")
