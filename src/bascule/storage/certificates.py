"""The certificate store: Tyk's ids and key names over `storage.kv`, private keys sealed at rest.

Rules (tyk-behaviour §3.12; tests in `tests/unit/storage/test_certificate_storing.py`):

* `add` checks the upload (`certificate_pem.parse_upload`), seals its private key
  (`certificate_sealing`) and writes one record at `cert-raw-<id>`: the certificates (leaf first) or the
  public key as PEM, then the sealed key block when there is a key. A record already at that key refuses
  the upload with Tyk's `Certificate with <id> id already exists` (checked atomically with `add`, so two
  nodes racing on one Redis cannot both win). With an org id, `raw-<id>` is appended to the list
  `cert-<org>-index`, as Tyk does.
* A private key is never stored unsealed: with no encoding secret (neither
  `security.private_certificate_encoding_secret` nor `secret`) an upload with a key is refused.
* `get` reads the record and never decrypts unless asked (`with_private_key=True`); the key is then
  opened off the event loop. `has_private` comes from the record, so listings never need the secret.
* `list(org)` is the org's index, in upload order; with no org it is every `cert-raw-*` key, sorted
  (Tyk answers from an index that is never written for an empty org, i.e. nothing).
* `delete(id)` removes the record and the id from its org's index; the org is `org_id` when given,
  else the id minus its last 64 characters, as Tyk's control API derives it.
* Nothing is cached: every node sharing the storage sees an added or deleted certificate at once.
* Logs name ids and fingerprints only, never PEM.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bascule.storage.certificate_pem import (
    CERTIFICATE,
    CERTIFICATE_PARSE_ERRORS,
    PUBLIC_KEY,
    CertificateMetadata,
    CertificateRejected,
    PrivateKeyUnavailable,
    certificate_id,
    describe_certificate,
    describe_public_key,
    encode_pem,
    hex_sha256,
    parse_upload,
    split_pem,
)
from bascule.storage.certificate_sealing import SEALED_KEY_KIND, open_private_key, seal_private_key
from bascule.storage.kv import KeyValueStore

log = logging.getLogger("bascule.storage.certificates")

RECORD_PREFIX = "cert-raw-"
INDEX_ENTRY_PREFIX = "raw-"
FINGERPRINT_CHARS = 64
UNENCRYPTABLE_KEY = (
    "Cannot store a private key: set security.private_certificate_encoding_secret (or secret) "
    "so that it can be encrypted"
)


def record_key(cert_id: str) -> str:
    return RECORD_PREFIX + cert_id


def index_key(org_id: str) -> str:
    return f"cert-{org_id}-index"


def org_of(cert_id: str) -> str:
    """The org prefix of an id: all but the 64-character fingerprint (empty for a bare fingerprint)."""
    return cert_id[:-FINGERPRINT_CHARS] if len(cert_id) >= FINGERPRINT_CHARS else ""


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    """One stored entry, parsed. `private_key_pem` is filled only when asked for."""

    id: str
    fingerprint: str
    """Hex SHA-256 of `der` (the id without its org prefix, for an entry bascule wrote)."""
    der: bytes = field(repr=False)
    """The leaf certificate's DER, or the SubjectPublicKeyInfo's for a public key."""
    certificate_pem: bytes = field(repr=False)
    """The certificates (leaf first), or the public key, as PEM."""
    is_public_key: bool
    has_private: bool
    metadata: CertificateMetadata
    private_key_pem: bytes | None = field(default=None, repr=False)
    """Unencrypted PKCS#8 PEM, present only from `get(..., with_private_key=True)`."""


@dataclass(frozen=True, slots=True)
class _Record:
    certificates: tuple[bytes, ...]
    public_key: bytes | None
    sealed_key: bytes | None
    has_private: bool


def _read_record(data: bytes) -> _Record:
    certificates: list[bytes] = []
    public_key: bytes | None = None
    sealed_key: bytes | None = None
    has_private = False
    for block in split_pem(data):
        if block.kind == CERTIFICATE:
            certificates.append(block.der)
        elif block.kind == PUBLIC_KEY:
            public_key = block.der
        elif block.kind == SEALED_KEY_KIND:
            sealed_key, has_private = block.der, True
        elif block.kind.endswith("PRIVATE KEY"):
            has_private = True  # written by a Tyk node: legacy PEM encryption, which bascule does not read
    return _Record(tuple(certificates), public_key, sealed_key, has_private)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CertificateStore:
    """Certificates, cert+key bundles and public keys, by Tyk id (see the module rules)."""

    def __init__(self, kv: KeyValueStore, secret: str, clock: Callable[[], datetime] = _utc_now) -> None:
        self._kv = kv
        self._secret = secret
        self._clock = clock

    async def add(self, pem: bytes, org_id: str = "") -> str:
        """Store an upload and return its id; `CertificateRejected` with the reason otherwise."""
        upload = parse_upload(pem, self._clock())
        cert_id = certificate_id(org_id, upload.fingerprint)
        duplicate = CertificateRejected(f"Certificate with {cert_id} id already exists")
        if await self._kv.get(record_key(cert_id)) is not None:
            raise duplicate
        record = upload.public_pem
        if upload.private_key_pem is not None:
            if not self._secret:
                raise CertificateRejected(UNENCRYPTABLE_KEY)
            blob = await asyncio.to_thread(seal_private_key, upload.private_key_pem, self._secret, upload.fingerprint)
            record += encode_pem(SEALED_KEY_KIND, blob)
        if not await self._kv.add(record_key(cert_id), record):
            raise duplicate
        if org_id:
            await self._kv.list_append(index_key(org_id), (INDEX_ENTRY_PREFIX + cert_id).encode())
        log.info("certificate store: added %s (private key: %s)", cert_id, upload.private_key_pem is not None)
        return cert_id

    async def get(self, cert_id: str, with_private_key: bool = False) -> StoredCertificate | None:
        """The entry, or None when there is none (or its record does not parse, which is logged).

        With `with_private_key`, `PrivateKeyUnavailable` when the stored key cannot be opened; an entry
        without a key comes back with `private_key_pem` None."""
        data = await self._kv.get(record_key(cert_id))
        if data is None:
            return None
        try:
            record = _read_record(data)
            certificate = _stored(cert_id, record)
        except (CertificateRejected, *CERTIFICATE_PARSE_ERRORS):
            log.error("certificate store: the record of %s does not parse; treated as missing", cert_id)
            return None
        if not with_private_key or not record.has_private:
            return certificate
        if record.sealed_key is None:
            raise PrivateKeyUnavailable(
                f"the private key of certificate {cert_id} was stored by Tyk in its legacy PEM encryption, "
                "which bascule does not read: upload the certificate again through bascule"
            )
        key = await asyncio.to_thread(
            open_private_key, record.sealed_key, self._secret, certificate.fingerprint, cert_id
        )
        return replace(certificate, private_key_pem=key)

    async def get_many(self, cert_ids: Iterable[str]) -> list[StoredCertificate | None]:
        """`get` for each id, in order, without private keys; None where there is none."""
        return [await self.get(cert_id) for cert_id in cert_ids]

    async def list(self, org_id: str = "") -> list[str]:
        """The org's ids in upload order; with no org, every id, sorted."""
        if org_id:
            entries = await self._kv.list_items(index_key(org_id))
            return [entry.decode().removeprefix(INDEX_ENTRY_PREFIX) for entry in entries]
        return [key.removeprefix(RECORD_PREFIX) for key in await self._kv.keys(RECORD_PREFIX)]

    async def delete(self, cert_id: str, org_id: str | None = None) -> bool:
        """Remove the entry and its index entry; True when there was a record."""
        org = org_of(cert_id) if org_id is None else org_id
        if org:
            await self._kv.list_remove(index_key(org), (INDEX_ENTRY_PREFIX + cert_id).encode())
        removed = await self._kv.delete(record_key(cert_id))
        if removed:
            log.info("certificate store: removed %s", cert_id)
        return removed


def _stored(cert_id: str, record: _Record) -> StoredCertificate:
    if record.certificates:
        leaf = record.certificates[0]
        pem = b"".join(encode_pem(CERTIFICATE, der) for der in record.certificates)
        return StoredCertificate(
            cert_id, hex_sha256(leaf), leaf, pem, False, record.has_private, describe_certificate(leaf)
        )
    if record.public_key is not None:
        fingerprint = hex_sha256(record.public_key)
        pem = encode_pem(PUBLIC_KEY, record.public_key)
        return StoredCertificate(
            cert_id, fingerprint, record.public_key, pem, True, False, describe_public_key(fingerprint)
        )
    raise ValueError("no certificate and no public key in the record")
