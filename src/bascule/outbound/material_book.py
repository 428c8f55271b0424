"""Certificate references resolved to bytes: what the TLS code of a snapshot may use, without I/O.

A `CertificateRef` (`config.tls`) is a certificate-store id, a PEM file path or inline PEM. Resolving store
ids needs the store (async, in storage); the composition root does it before a snapshot is swapped in
(`bascule.tls_material.resolve_material`) and hands the finished book to the TLS code, which only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CertificateMaterial:
    """A certificate chain (leaf first) and, when there is one, its unencrypted private key, as PEM."""

    chain_pem: bytes = field(repr=False)
    key_pem: bytes = field(default=b"", repr=False)
    leaf_sha256: str = ""
    """Hex SHA-256 of the leaf's DER (for allow-lists of client certificates)."""
    spki_sha256: frozenset[str] = frozenset()
    """Hex SHA-256 of the SubjectPublicKeyInfo of every certificate or public key in it (for pins)."""


@dataclass(frozen=True, slots=True)
class MaterialBook:
    """Every reference a snapshot uses, resolved; `problems` says why a reference could not be."""

    entries: Mapping[str, CertificateMaterial] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)

    def get(self, ref: str) -> CertificateMaterial | None:
        return self.entries.get(ref)

    def problem(self, ref: str) -> str:
        return self.problems.get(ref, "not resolved")


EMPTY_BOOK = MaterialBook()
