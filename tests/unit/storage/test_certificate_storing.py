"""The certificate store over the in-memory KV (storage/certificates.py): Tyk's ids and key names, the
refusals, private keys encrypted at rest (tyk-behaviour §3.12)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bascule.storage.certificate_pem import CertificateRejected, PrivateKeyUnavailable
from bascule.storage.certificates import UNENCRYPTABLE_KEY, CertificateStore, org_of
from bascule.storage.memory import MemoryKeyValueStore

SECRET = "encoding-secret"
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("client.test", common_name="client.test")


@pytest.fixture
def kv() -> MemoryKeyValueStore:
    return MemoryKeyValueStore()


@pytest.fixture
def store(kv: MemoryKeyValueStore) -> CertificateStore:
    return CertificateStore(kv, SECRET)


def fingerprint_of(pem: bytes) -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(pem).public_bytes(DER)).hexdigest()


def bundle(leaf: trustme.LeafCert) -> bytes:
    return leaf.private_key_and_cert_chain_pem.bytes()


def same_key(first: bytes, second: bytes) -> bool:
    numbers = [
        serialization.load_pem_private_key(pem, None).private_bytes(
            DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        for pem in (first, second)
    ]
    return numbers[0] == numbers[1]


async def test_ids_and_tyks_key_names(store: CertificateStore, kv: MemoryKeyValueStore, leaf: trustme.LeafCert) -> None:
    fingerprint = fingerprint_of(leaf.cert_chain_pems[0].bytes())
    cert_id = await store.add(bundle(leaf), "org1")
    assert cert_id == "org1" + fingerprint
    assert await kv.keys("") == ["cert-org1-index", f"cert-raw-org1{fingerprint}"]
    assert await kv.list_items("cert-org1-index") == [f"raw-org1{fingerprint}".encode()]


async def test_without_an_org_there_is_no_index(
    store: CertificateStore, kv: MemoryKeyValueStore, ca: trustme.CA
) -> None:
    cert_id = await store.add(ca.cert_pem.bytes())
    assert cert_id == fingerprint_of(ca.cert_pem.bytes())
    assert await kv.keys("") == [f"cert-raw-{cert_id}"]


async def test_a_duplicate_is_refused_with_tyks_text(store: CertificateStore, leaf: trustme.LeafCert) -> None:
    cert_id = await store.add(bundle(leaf), "org1")
    with pytest.raises(CertificateRejected) as refused:
        await store.add(leaf.cert_chain_pems[0].bytes(), "org1")  # same leaf without its key: same id
    assert refused.value.message == f"Certificate with {cert_id} id already exists"
    assert await store.add(bundle(leaf), "org2") == "org2" + cert_id.removeprefix("org1")


async def test_two_racing_adds_store_one(store: CertificateStore, leaf: trustme.LeafCert) -> None:
    results = await asyncio.gather(store.add(bundle(leaf), "o"), store.add(bundle(leaf), "o"), return_exceptions=True)
    assert sum(isinstance(r, str) for r in results) == 1
    assert sum(isinstance(r, CertificateRejected) for r in results) == 1
    assert len(await store.list("o")) == 1


async def test_the_private_key_is_encrypted_at_rest(
    store: CertificateStore, kv: MemoryKeyValueStore, leaf: trustme.LeafCert
) -> None:
    cert_id = await store.add(bundle(leaf), "org1")
    record = await kv.get(f"cert-raw-{cert_id}")
    assert record is not None
    key_pem = leaf.private_key_pem.bytes()
    pkcs8 = serialization.load_pem_private_key(key_pem, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert key_pem not in record
    for line in [*key_pem.splitlines()[1:-1], *pkcs8.splitlines()[1:-1]]:
        assert line not in record
    assert b"-----BEGIN BASCULE ENCRYPTED PRIVATE KEY-----" in record
    assert record.startswith(leaf.cert_chain_pems[0].bytes().replace(b"\r\n", b"\n"))


async def test_get_decrypts_only_when_asked(store: CertificateStore, leaf: trustme.LeafCert) -> None:
    cert_id = await store.add(bundle(leaf), "org1")
    public = await store.get(cert_id)
    assert public is not None
    assert public.has_private is True
    assert public.private_key_pem is None
    private = await store.get(cert_id, with_private_key=True)
    assert private is not None
    assert private.private_key_pem is not None
    assert same_key(private.private_key_pem, leaf.private_key_pem.bytes())
    assert b"PRIVATE" not in repr(private).encode()
    assert private.fingerprint == cert_id.removeprefix("org1")
    assert private.certificate_pem == leaf.cert_chain_pems[0].bytes()


async def test_another_secret_cannot_decrypt(kv: MemoryKeyValueStore, leaf: trustme.LeafCert) -> None:
    cert_id = await CertificateStore(kv, SECRET).add(bundle(leaf))
    other = CertificateStore(kv, "a different secret")
    found = await other.get(cert_id)
    assert found is not None
    assert found.has_private  # listing needs no secret
    with pytest.raises(PrivateKeyUnavailable, match=cert_id):
        await other.get(cert_id, with_private_key=True)


async def test_a_key_is_never_stored_without_a_secret(kv: MemoryKeyValueStore, leaf: trustme.LeafCert) -> None:
    store = CertificateStore(kv, "")
    with pytest.raises(CertificateRejected) as refused:
        await store.add(bundle(leaf))
    assert refused.value.message == UNENCRYPTABLE_KEY
    assert await kv.keys("") == []
    assert await store.add(leaf.cert_chain_pems[0].bytes())  # a certificate alone needs no secret


async def test_an_entry_without_a_key_has_none_to_give(store: CertificateStore, ca: trustme.CA) -> None:
    cert_id = await store.add(ca.cert_pem.bytes())
    found = await store.get(cert_id, with_private_key=True)
    assert found is not None
    assert (found.has_private, found.private_key_pem, found.metadata.is_ca) == (False, None, True)


async def test_a_public_key_entry(store: CertificateStore) -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = public.public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    cert_id = await store.add(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), "o"
    )
    assert cert_id == "o" + hashlib.sha256(spki).hexdigest()
    found = await store.get(cert_id)
    assert found is not None
    assert found.is_public_key and found.der == spki
    assert found.metadata.subject_cn == "Public Key: " + hashlib.sha256(spki).hexdigest()


async def test_expiry_is_judged_by_the_injected_clock(kv: MemoryKeyValueStore, leaf: trustme.LeafCert) -> None:
    not_after = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).not_valid_after_utc
    later = CertificateStore(kv, SECRET, clock=lambda: not_after + timedelta(seconds=1))
    with pytest.raises(CertificateRejected, match="certificate is expired"):
        await later.add(bundle(leaf))


async def test_list_by_org_in_upload_order_and_all_without_org(store: CertificateStore, ca: trustme.CA) -> None:
    leaves = [ca.issue_cert(f"n{i}.test").cert_chain_pems[0].bytes() for i in range(3)]
    ids = [await store.add(pem, "org1") for pem in leaves[:2]]
    other = await store.add(leaves[2], "org2")
    bare = await store.add(ca.cert_pem.bytes())
    assert await store.list("org1") == ids
    assert await store.list("org2") == [other]
    assert await store.list("nobody") == []
    assert await store.list() == sorted([*ids, other, bare])


async def test_delete_derives_the_org_from_the_id(
    store: CertificateStore, kv: MemoryKeyValueStore, ca: trustme.CA
) -> None:
    first = await store.add(ca.issue_cert("a.test").cert_chain_pems[0].bytes(), "org1")
    second = await store.add(ca.issue_cert("b.test").cert_chain_pems[0].bytes(), "org1")
    assert org_of(first) == "org1"
    assert org_of(first.removeprefix("org1")) == ""
    assert await store.delete(first) is True
    assert await store.list("org1") == [second]
    assert await store.get(first) is None
    assert await store.delete(first) is False
    assert await store.delete(second, "org1") is True
    assert await kv.keys("") == []


async def test_unknown_and_unreadable_records_are_missing(
    store: CertificateStore, kv: MemoryKeyValueStore, caplog: pytest.LogCaptureFixture
) -> None:
    assert await store.get("nope") is None
    await kv.set("cert-raw-broken", b"not pem")
    with caplog.at_level(logging.ERROR):
        assert await store.get("broken") is None
    assert "broken" in caplog.text
    assert await store.get_many(["nope", "broken"]) == [None, None]


async def test_a_key_written_by_tyk_is_reported_but_not_loaded(
    store: CertificateStore, kv: MemoryKeyValueStore, leaf: trustme.LeafCert
) -> None:
    tyk_key = (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233\n\n"
        b"AAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    cert_id = "org" + fingerprint_of(leaf.cert_chain_pems[0].bytes())
    await kv.set(f"cert-raw-{cert_id}", leaf.cert_chain_pems[0].bytes() + b"\n" + tyk_key)
    found = await store.get(cert_id)
    assert found is not None and found.has_private
    with pytest.raises(PrivateKeyUnavailable, match="legacy PEM encryption"):
        await store.get(cert_id, with_private_key=True)


async def test_logs_name_ids_never_pem(
    store: CertificateStore, leaf: trustme.LeafCert, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="bascule"):
        cert_id = await store.add(bundle(leaf), "org1")
        await store.get(cert_id, with_private_key=True)
        await store.delete(cert_id)
    assert cert_id in caplog.text
    assert "BEGIN" not in caplog.text
    assert SECRET not in caplog.text


async def test_by_default_expiry_is_judged_by_the_wall_clock(store: CertificateStore, ca: trustme.CA) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    expired = ca.issue_cert("old.test", not_before=yesterday - timedelta(days=30), not_after=yesterday)
    with pytest.raises(CertificateRejected, match="certificate is expired"):
        await store.add(expired.private_key_and_cert_chain_pem.bytes())
