"""Resolving certificate references (store ids, PEM file paths, inline PEM) into a `MaterialBook`.

Beside the composition root because it reads both the certificate store (storage) and files, and feeds the
TLS code (outbound, inbound), which never see the store. Rules (tests in `tests/unit/test_tls_material.py`):

* A reference that starts with `-----BEGIN` is inline PEM; one that names an existing file is read as PEM;
  anything else is a store id, read with its private key. A file that cannot be read, a store id the store
  does not know, or PEM without a certificate or public key is a problem (`MaterialBook.problems`), never
  an exception: the TLS code that needs it fails closed and says why.
* The material keeps the certificates (leaf first) and the private key when there is one; `spki_sha256`
  holds the SubjectPublicKeyInfo hash of every certificate and public key found (pins match any of them),
  `leaf_sha256` the hash of the leaf's DER (client-certificate allow-lists).
* When the store is unavailable, a store id keeps the material it had in the previous book.
* A `key_path` given with a reference (listener `certificates` entries) is read and used as the key.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bascule.outbound.material_book import CertificateMaterial, MaterialBook
from bascule.storage.certificate_pem import PrivateKeyUnavailable
from bascule.storage.certificates import CertificateStore
from bascule.storage.redis import StorageError

_BEGIN = "-----BEGIN"
_PUBLIC = serialization.PublicFormat.SubjectPublicKeyInfo
_DER = serialization.Encoding.DER


class StoreUnavailable(ValueError):
    """The store could not be read (as opposed to: it does not hold the id)."""


def material_from_pem(pem: bytes, key_pem: bytes = b"") -> CertificateMaterial:
    """Parse PEM text holding certificates, a public key and/or a private key; ValueError when it holds
    neither a certificate nor a public key."""
    chain: list[bytes] = []
    spki: set[str] = set()
    leaf = ""
    key = key_pem
    for block in _blocks(pem):
        kind = block.split(b"\n", 1)[0]
        if b"CERTIFICATE" in kind and b"REQUEST" not in kind:
            certificate = x509.load_pem_x509_certificate(block)
            der = certificate.public_bytes(_DER)
            leaf = leaf or hashlib.sha256(der).hexdigest()
            spki.add(hashlib.sha256(certificate.public_key().public_bytes(_DER, _PUBLIC)).hexdigest())
            chain.append(block)
        elif b"PUBLIC KEY" in kind:
            public = serialization.load_pem_public_key(block)
            spki.add(hashlib.sha256(public.public_bytes(_DER, _PUBLIC)).hexdigest())
        elif b"PRIVATE KEY" in kind and not key:
            key = block
    if not spki:
        raise ValueError("no certificate or public key in the PEM")
    return CertificateMaterial(b"".join(chain), key, leaf, frozenset(spki))


def _blocks(pem: bytes) -> list[bytes]:
    found: list[bytes] = []
    rest = pem
    while (start := rest.find(b"-----BEGIN ")) >= 0:
        end_marker = rest.find(b"-----END ", start)
        if end_marker < 0:
            break
        end = rest.find(b"-----", end_marker + 9)
        if end < 0:
            break
        found.append(rest[start : end + 5] + b"\n")
        rest = rest[end + 5 :]
    return found


def _read_if_file(ref: str) -> bytes | None:
    path = Path(ref)
    return path.read_bytes() if path.is_file() else None


async def resolve_one(ref: str, store: CertificateStore | None, key_path: str = "") -> CertificateMaterial:
    """The material `ref` names; ValueError or OSError saying why not."""
    key_pem = await asyncio.to_thread(Path(key_path).read_bytes) if key_path else b""
    if ref.lstrip().startswith(_BEGIN):
        return material_from_pem(ref.encode(), key_pem)
    from_file = await asyncio.to_thread(_read_if_file, ref)
    if from_file is not None:
        return material_from_pem(from_file, key_pem)
    if store is None:
        raise ValueError(f"{ref!r} is neither PEM nor a readable file, and there is no certificate store")
    try:
        try:
            stored = await store.get(ref, with_private_key=True)
        except PrivateKeyUnavailable:  # a key sealed by Tyk or under another secret: the certificate still serves
            stored = await store.get(ref)  # as a pin or an allow-list entry; uses that need the key say so
    except StorageError as exc:
        raise StoreUnavailable(f"certificate store unavailable: {exc}") from exc
    if stored is None:
        raise ValueError(f"certificate {ref!r} not found in the store (nor a readable file)")
    return material_from_pem(stored.certificate_pem, key_pem or (stored.private_key_pem or b""))


async def resolve_material(
    refs: Iterable[str | tuple[str, str]], store: CertificateStore | None, previous: MaterialBook | None = None
) -> MaterialBook:
    """A book with every reference in `refs` (a ref, or a (ref, key_path) pair, keyed `ref`). A store id that
    cannot be read now because the store is unavailable keeps its material from `previous` (an outage must not
    drop a working certificate), with the problem still recorded; a deleted one is gone."""
    entries: dict[str, CertificateMaterial] = {}
    problems: dict[str, str] = {}
    for item in refs:
        ref, key_path = item if isinstance(item, tuple) else (item, "")
        if ref in entries:
            continue
        try:
            entries[ref] = await resolve_one(ref, store, key_path)
        except (ValueError, OSError) as exc:
            problems[ref] = str(exc)
            outage = isinstance(exc, StoreUnavailable)
            kept = previous.get(ref) if previous is not None and outage else None
            if kept is not None:
                entries[ref] = kept
    return MaterialBook(entries, problems)
