"""Uploads, ids and metadata (storage/certificate_pem.py): the expected ids are computed here with
`cryptography`, independently of the code under test (tyk-behaviour §3.12)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID

from bascule.storage.certificate_pem import (
    BAD_PRIVATE_KEY,
    ENCRYPTED_KEY,
    EXPIRED,
    KEY_MISMATCH,
    KEY_WITHOUT_CERTIFICATE,
    MULTIPLE_PRIVATE_KEYS,
    MULTIPLE_PUBLIC_KEYS,
    NOT_PEM,
    PUBLIC_KEY_WITH_CERTIFICATES,
    UNKNOWN_KEY_TYPE,
    UNTERMINATED_BLOCK,
    CertificateRejected,
    certificate_id,
    describe_certificate,
    describe_public_key,
    parse_upload,
    split_pem,
)

NOW = datetime(2030, 6, 1, tzinfo=UTC)
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


def self_signed(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    common_name: str = "self.test",
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=1),
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    return builder.sign(key, hashes.SHA256())


def key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | dsa.DSAPrivateKey) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("api.example.test", "other.example.test", common_name="api.example.test")


def test_a_certificate_id_is_the_sha256_of_the_leaf_der(ca: trustme.CA) -> None:
    pem = ca.cert_pem.bytes()
    expected = sha256_hex(x509.load_pem_x509_certificate(pem).public_bytes(DER))
    upload = parse_upload(pem, NOW)
    assert upload.fingerprint == expected
    assert upload.is_public_key is False
    assert upload.private_key_pem is None
    assert certificate_id("", upload.fingerprint) == expected
    assert certificate_id("org-1", upload.fingerprint) == "org-1" + expected


def test_a_bundle_id_is_the_leafs_whatever_the_block_order(leaf: trustme.LeafCert) -> None:
    leaf_der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(DER)
    key_first = leaf.private_key_and_cert_chain_pem.bytes()
    key_last = leaf.cert_chain_pems[0].bytes() + leaf.private_key_pem.bytes()
    for data in (key_first, key_last):
        upload = parse_upload(data, NOW)
        assert upload.fingerprint == sha256_hex(leaf_der)
        assert upload.private_key_pem is not None
        assert upload.private_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # normalised to PKCS#8


def test_a_chain_keeps_every_certificate_leaf_first() -> None:
    child = trustme.CA().create_child_ca()
    leaf = child.issue_cert("chain.test")
    pems = [blob.bytes() for blob in leaf.cert_chain_pems]
    assert len(pems) == 2
    upload = parse_upload(leaf.private_key_and_cert_chain_pem.bytes(), NOW)
    assert upload.fingerprint == sha256_hex(x509.load_pem_x509_certificate(pems[0]).public_bytes(DER))
    stored = [c.public_bytes(DER) for c in x509.load_pem_x509_certificates(upload.public_pem)]
    assert stored == [x509.load_pem_x509_certificate(p).public_bytes(DER) for p in pems]
    assert b"PRIVATE" not in upload.public_pem


def test_a_public_key_id_is_the_sha256_of_its_spki_der() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = public.public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = public.public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    upload = parse_upload(pem, NOW)
    assert upload.is_public_key is True
    assert upload.fingerprint == sha256_hex(spki)
    assert certificate_id("org", upload.fingerprint) == "org" + sha256_hex(spki)
    assert upload.public_pem == pem


def test_other_blocks_and_text_between_blocks_are_ignored(leaf: trustme.LeafCert) -> None:
    data = (
        b"subject=CN = api\n-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        + leaf.private_key_and_cert_chain_pem.bytes()
        + b"trailing words\n"
    )
    assert parse_upload(data, NOW).private_key_pem is not None


def test_a_certificate_not_yet_valid_is_accepted_as_in_tyk() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    future = self_signed(key, not_before=NOW + timedelta(days=10), not_after=NOW + timedelta(days=20))
    assert parse_upload(future.public_bytes(PEM), NOW).fingerprint == sha256_hex(future.public_bytes(DER))


def test_an_expired_certificate_from_trustme_is_refused(ca: trustme.CA) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    expired = ca.issue_cert("old.test", not_before=past - timedelta(days=30), not_after=past)
    with pytest.raises(CertificateRejected) as refused:
        parse_upload(expired.private_key_and_cert_chain_pem.bytes(), datetime.now(UTC))
    assert refused.value.message == EXPIRED == "certificate is expired"


def test_an_expired_certificate_anywhere_in_the_chain_is_refused(leaf: trustme.LeafCert) -> None:
    old = self_signed(ec.generate_private_key(ec.SECP256R1()), not_after=NOW - timedelta(seconds=1))
    with pytest.raises(CertificateRejected, match=r"^certificate is expired$"):
        parse_upload(leaf.cert_chain_pems[0].bytes() + old.public_bytes(PEM), NOW)


def _refusal(data: bytes) -> str:
    with pytest.raises(CertificateRejected) as refused:
        parse_upload(data, NOW)
    return refused.value.message


def test_refusals_use_tyks_texts(leaf: trustme.LeafCert, ca: trustme.CA) -> None:
    cert = leaf.cert_chain_pems[0].bytes()
    key = leaf.private_key_pem.bytes()
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    public_pem = public.public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other_key = key_pem(ec.generate_private_key(ec.SECP256R1()))
    assert _refusal(b"") == NOT_PEM == "Failed to decode certificate. It should be PEM encoded."
    assert _refusal(b"not a certificate at all") == NOT_PEM
    assert _refusal(cert + key + other_key) == MULTIPLE_PRIVATE_KEYS == "Found multiple private keys"
    assert _refusal(cert + public_pem) == PUBLIC_KEY_WITH_CERTIFICATES
    assert PUBLIC_KEY_WITH_CERTIFICATES == "Public keys can't be combined with certificates"
    assert _refusal(cert + other_key) == KEY_MISMATCH == "tls: private key does not match public key"
    assert _refusal(ca.cert_pem.bytes() + key) == KEY_MISMATCH  # the key must be the first certificate's


def test_malformed_uploads_get_clear_messages(leaf: trustme.LeafCert) -> None:
    cert = leaf.cert_chain_pems[0].bytes()
    body = cert.split(b"\n")[1:-2]
    assert _refusal(cert[:-30]) == UNTERMINATED_BLOCK
    assert "not valid base64" in _refusal(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
    garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert _refusal(garbage) == "Error while parsing certificate 1: not a valid X.509 certificate"
    assert _refusal(cert + garbage).startswith("Error while parsing certificate 2")
    headers = b"-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n" + b"\n".join(body)
    assert "PEM headers" in _refusal(headers + b"\n-----END CERTIFICATE-----\n")
    bad_key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    assert _refusal(cert + bad_key) == BAD_PRIVATE_KEY == "tls: failed to parse private key"
    assert _refusal(leaf.private_key_pem.bytes()) == KEY_WITHOUT_CERTIFICATE
    bad_public = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    assert "not a valid SubjectPublicKeyInfo" in _refusal(bad_public)


def test_a_second_public_key_is_refused() -> None:
    pems = [
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        for _ in range(2)
    ]
    assert _refusal(b"".join(pems)) == MULTIPLE_PUBLIC_KEYS


def test_encrypted_keys_are_refused(leaf: trustme.LeafCert) -> None:
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"passphrase")
    )
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert _refusal(leaf.cert_chain_pems[0].bytes() + encrypted) == ENCRYPTED_KEY


def test_a_key_type_tls_cannot_use_is_refused() -> None:
    dsa_key = dsa.generate_private_key(2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsa.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(dsa_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(dsa_key, hashes.SHA256())
    )
    assert _refusal(cert.public_bytes(PEM) + key_pem(dsa_key)) == UNKNOWN_KEY_TYPE


def test_an_rsa_pkcs1_bundle_is_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = key.private_bytes(PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    cert = self_signed(key)
    upload = parse_upload(cert.public_bytes(PEM) + pkcs1, NOW)
    assert upload.fingerprint == sha256_hex(cert.public_bytes(DER))
    assert upload.private_key_pem == key_pem(key)


def test_split_pem_reports_headers_without_refusing() -> None:
    text = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n"
    blocks = split_pem(text + b"-----END ENCRYPTED PRIVATE KEY-----\n")
    assert [(b.kind, b.der, b.has_headers) for b in blocks] == [("ENCRYPTED PRIVATE KEY", b"\x00\x00\x00", True)]


def test_metadata_of_a_leaf(ca: trustme.CA, leaf: trustme.LeafCert) -> None:
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    meta = describe_certificate(cert.public_bytes(DER))
    assert meta.subject_cn == "api.example.test"
    ca_subject = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject
    assert meta.issuer_cn == ""  # trustme's CA names itself by O and OU only
    assert [(a.oid, a.value) for a in meta.issuer] == [(a.oid.dotted_string, a.value) for a in ca_subject]
    assert meta.dns_names == ("api.example.test", "other.example.test")
    assert meta.not_before == cert.not_valid_before_utc
    assert meta.not_after == cert.not_valid_after_utc
    assert meta.is_ca is False
    assert ("2.5.4.3", "api.example.test") in [(a.oid, a.value) for a in meta.subject]


def test_metadata_of_a_ca_and_of_a_certificate_without_names(ca: trustme.CA) -> None:
    ca_der = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(DER)
    assert describe_certificate(ca_der).is_ca is True
    bare = describe_certificate(self_signed(ec.generate_private_key(ec.SECP256R1())).public_bytes(DER))
    assert (bare.dns_names, bare.is_ca, bare.subject_cn) == ((), False, "self.test")


def test_metadata_of_a_public_key_is_tyks_placeholder() -> None:
    meta = describe_public_key("ab" * 32)
    assert meta.subject_cn == "Public Key: " + "ab" * 32
    assert (meta.issuer_cn, meta.dns_names, meta.not_before, meta.not_after, meta.is_ca) == ("", (), None, None, False)


def test_the_last_common_name_wins_as_in_go() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "first"), x509.NameAttribute(NameOID.COMMON_NAME, "second")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert describe_certificate(cert.public_bytes(DER)).subject_cn == "second"
