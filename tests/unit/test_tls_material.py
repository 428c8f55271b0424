"""Certificate references resolved into a `MaterialBook`: inline PEM, files, store ids, problems."""

from __future__ import annotations

import hashlib
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bascule.storage.certificate_pem import PrivateKeyUnavailable
from bascule.storage.certificates import CertificateStore, StoredCertificate
from bascule.storage.memory import MemoryKeyValueStore
from bascule.storage.redis import StorageUnavailable
from bascule.tls_material import material_from_pem, resolve_material

CA = trustme.CA()
LEAF = CA.issue_cert("upstream.example")
CHAIN = b"".join(blob.bytes() for blob in LEAF.cert_chain_pems)
KEY = LEAF.private_key_pem.bytes()


def spki(pem: bytes) -> str:
    public = x509.load_pem_x509_certificate(pem).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def test_inline_pem_gives_chain_key_and_every_spki() -> None:
    material = material_from_pem(CHAIN + KEY)
    assert material.key_pem.startswith(b"-----BEGIN")
    assert spki(LEAF.cert_chain_pems[0].bytes()) in material.spki_sha256
    assert spki(CA.cert_pem.bytes()) in material.spki_sha256 or len(LEAF.cert_chain_pems) == 1
    der = x509.load_pem_x509_certificate(LEAF.cert_chain_pems[0].bytes()).public_bytes(serialization.Encoding.DER)
    assert material.leaf_sha256 == hashlib.sha256(der).hexdigest()


async def test_files_store_ids_and_problems(tmp_path: Path) -> None:
    cert_file = tmp_path / "leaf.pem"
    cert_file.write_bytes(CHAIN)
    key_file = tmp_path / "leaf.key"
    key_file.write_bytes(KEY)
    store = CertificateStore(MemoryKeyValueStore(), "secret-for-sealing-keys")
    stored_id = await store.add(CHAIN + KEY)
    book = await resolve_material(
        [str(cert_file), (str(cert_file) + "#with-key", str(key_file)), stored_id, "missing-id", CHAIN.decode()],
        store,
    )
    assert book.get(str(cert_file)) is not None
    assert book.get(stored_id) is not None and book.get(stored_id).key_pem  # type: ignore[union-attr]
    assert book.get(CHAIN.decode()) is not None
    assert book.get("missing-id") is None
    assert "not found" in book.problem("missing-id")
    assert book.get(str(cert_file) + "#with-key") is None  # not a file: a store id that does not exist


class DownStore(CertificateStore):
    async def get(self, cert_id: str, with_private_key: bool = False) -> StoredCertificate | None:
        raise StorageUnavailable("redis at 127.0.0.1:1: connection refused")


async def test_a_store_outage_keeps_the_previous_material_and_a_deletion_does_not() -> None:
    kv = MemoryKeyValueStore()
    store = CertificateStore(kv, "secret-for-sealing-keys")
    stored_id = await store.add(CHAIN + KEY)
    first = await resolve_material([stored_id], store)
    during_outage = await resolve_material([stored_id], DownStore(kv, "secret-for-sealing-keys"), previous=first)
    assert during_outage.get(stored_id) == first.get(stored_id)
    assert "unavailable" in during_outage.problem(stored_id)
    await store.delete(stored_id)
    assert (await resolve_material([stored_id], store, previous=first)).get(stored_id) is None


class SealedKeyStore(CertificateStore):
    """A store whose keys cannot be opened (written by Tyk, or under another secret)."""

    async def get(self, cert_id: str, with_private_key: bool = False) -> StoredCertificate | None:
        if with_private_key:
            raise PrivateKeyUnavailable("the stored key cannot be decrypted")
        return await super().get(cert_id)


async def test_a_key_that_cannot_be_opened_leaves_the_certificate_usable_for_pins() -> None:
    kv = MemoryKeyValueStore()
    stored_id = await CertificateStore(kv, "secret-for-sealing-keys").add(CHAIN + KEY)
    book = await resolve_material([stored_id], SealedKeyStore(kv, "secret-for-sealing-keys"))
    material = book.get(stored_id)
    assert material is not None and material.key_pem == b"" and material.spki_sha256
