"""Stored certificates into `ssl.SSLContext`s, without a clear private key ever touching a file system.

The outbound layer receives the finished context (or PEM bytes), never the store. Rules (tests in
`tests/unit/storage/test_certificate_tls.py` and `tests/integration/test_certificate_store.py`):

* `load_client_certificate`: Python's `ssl` reads a certificate and key only from a path. The chain and
  the key are written to an anonymous memory file (`os.memfd_create`, Linux; close-on-exec, so no child
  process inherits it), handed to `load_cert_chain` as `/proc/self/fd/<n>`, and the descriptor is closed
  before returning, whatever happened. Nothing is created in any directory. Where `memfd_create` or
  `/proc` is missing the load fails (`PrivateKeyUnavailable`), it never falls back to a temporary file.
* An entry without its decrypted key (a public certificate, or one read without `with_private_key`) is
  refused with `PrivateKeyUnavailable`.
* `load_ca_certificates`: the leaf certificate of each entry joins the context's trust store via
  `cadata=` (DER), as Tyk builds its pool from the leaves; public-key entries and None (an id the store
  did not know: Tyk skips those silently) are skipped. Returns how many were loaded.
  `ca_certificates_pem` gives the same leaves as PEM, for a context built by the outbound layer.
* Python cannot wipe the key bytes it holds; they are dropped as soon as the context has loaded them.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable

from bascule.storage.certificate_pem import CERTIFICATE, PrivateKeyUnavailable, encode_pem
from bascule.storage.certificates import StoredCertificate


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def load_client_certificate(context: ssl.SSLContext, certificate: StoredCertificate) -> None:
    """Make `certificate` (with its decrypted key) the context's own certificate (see the module rules)."""
    key = certificate.private_key_pem
    if key is None:
        raise PrivateKeyUnavailable(f"certificate {certificate.id} was given without its private key")
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None:
        raise PrivateKeyUnavailable("loading a stored private key needs os.memfd_create (Linux)")
    fd: int = memfd_create(f"bascule-cert-{certificate.fingerprint[:16]}", os.MFD_CLOEXEC)
    try:
        _write_all(fd, certificate.certificate_pem + key)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    except FileNotFoundError:
        raise PrivateKeyUnavailable("loading a stored private key needs /proc/self/fd") from None
    finally:
        os.close(fd)


def _trusted_leaves(certificates: Iterable[StoredCertificate | None]) -> list[bytes]:
    return [c.der for c in certificates if c is not None and not c.is_public_key]


def load_ca_certificates(context: ssl.SSLContext, certificates: Iterable[StoredCertificate | None]) -> int:
    """Trust the leaf of each stored certificate (see the module rules); how many were added."""
    leaves = _trusted_leaves(certificates)
    if leaves:
        context.load_verify_locations(cadata=b"".join(leaves))
    return len(leaves)


def ca_certificates_pem(certificates: Iterable[StoredCertificate | None]) -> bytes:
    """The same leaves as `load_ca_certificates` trusts, as PEM: for a context built elsewhere (the outbound
    layer's `TlsMaterial.ca_pem`). Empty when none qualifies."""
    return b"".join(encode_pem(CERTIFICATE, der) for der in _trusted_leaves(certificates))
