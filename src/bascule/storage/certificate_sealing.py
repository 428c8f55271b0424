"""Private keys at rest: sealed with AES-256-GCM under a key derived from the gateway's encoding secret.

Rules (tests in `tests/unit/storage/test_certificate_sealing.py`):

* The secret is tyk.conf's `security.private_certificate_encoding_secret`, or the gateway `secret` when
  that is empty (tyk-behaviour §3.12). Changing it makes the stored keys unreadable: upload them again.
* Each key is sealed on its own: a random 16-byte salt, scrypt (n=2^14, r=8, p=1: about 16 MiB and tens
  of milliseconds, so a leaked Redis dump cannot be brute-forced cheaply even with a weak secret) derives
  a 32-byte AES key, and AES-256-GCM with a random 12-byte nonce encrypts the PKCS#8 PEM. The
  certificate's fingerprint is the associated data: a sealed key moved onto another certificate's record
  does not open.
* The sealed form is the PEM block `BASCULE ENCRYPTED PRIVATE KEY` holding version (1 byte, 1) + salt +
  nonce + ciphertext and tag. A wrong secret, another version or any altered byte: `PrivateKeyUnavailable`.
* Not Tyk's format: Tyk stores `ENCRYPTED PRIVATE KEY` in legacy PEM encryption (AES-256-CBC, MD5-based
  key derivation, unauthenticated). bascule neither writes nor reads it; a key written by a Tyk node
  reports `has_private` but cannot be loaded by bascule (upload it again through bascule).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from bascule.config.gateway import GatewaySettings
from bascule.storage.certificate_pem import PrivateKeyUnavailable

SEALED_KEY_KIND = "BASCULE ENCRYPTED PRIVATE KEY"
VERSION = 1
SALT_BYTES = 16
NONCE_BYTES = 12
SCRYPT_LOG2_N = 14
SCRYPT_R = 8
SCRYPT_P = 1
_HEADER = 1 + SALT_BYTES + NONCE_BYTES
_AAD_PREFIX = b"bascule certificate private key:"


def encoding_secret(settings: GatewaySettings) -> str:
    """`security.private_certificate_encoding_secret`, else `secret` (empty when neither is set)."""
    security = settings.raw.get("security")
    configured = security.get("private_certificate_encoding_secret") if isinstance(security, dict) else None
    if isinstance(configured, str) and configured:
        return configured
    return settings.secret


def _derive(secret: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << SCRYPT_LOG2_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret.encode("utf-8"))


def seal_private_key(key_pem: bytes, secret: str, fingerprint: str) -> bytes:
    """The sealed blob (version, salt, nonce, ciphertext) for `key_pem`. CPU-heavy: run it off the loop."""
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    sealed = AESGCM(_derive(secret, salt)).encrypt(nonce, key_pem, _AAD_PREFIX + fingerprint.encode("ascii"))
    return bytes([VERSION]) + salt + nonce + sealed


def open_private_key(blob: bytes, secret: str, fingerprint: str, cert_id: str) -> bytes:
    """The PEM sealed in `blob`; `PrivateKeyUnavailable` naming `cert_id` when it does not open."""
    if len(blob) <= _HEADER or blob[0] != VERSION:
        raise PrivateKeyUnavailable(f"the private key of certificate {cert_id} is stored in an unknown format")
    salt, nonce = blob[1 : 1 + SALT_BYTES], blob[1 + SALT_BYTES : _HEADER]
    try:
        return AESGCM(_derive(secret, salt)).decrypt(nonce, blob[_HEADER:], _AAD_PREFIX + fingerprint.encode("ascii"))
    except InvalidTag:
        raise PrivateKeyUnavailable(
            f"the private key of certificate {cert_id} does not decrypt: was it stored under another "
            "security.private_certificate_encoding_secret (or secret)?"
        ) from None
