"""Private keys at rest (storage/certificate_sealing.py): which secret, and that only it opens them."""

from __future__ import annotations

from typing import Any

import pytest

from bascule.config.gateway import GatewaySettings
from bascule.storage.certificate_pem import PrivateKeyUnavailable
from bascule.storage.certificate_sealing import (
    NONCE_BYTES,
    SALT_BYTES,
    VERSION,
    encoding_secret,
    open_private_key,
    seal_private_key,
)

KEY = b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"
FINGERPRINT = "ab" * 32


@pytest.mark.parametrize(
    ("raw", "secret", "expected"),
    [
        ({"security": {"private_certificate_encoding_secret": "enc"}}, "gw", "enc"),
        ({"security": {"private_certificate_encoding_secret": ""}}, "gw", "gw"),
        ({"security": {}}, "gw", "gw"),
        ({}, "gw", "gw"),
        ({"security": "not an object"}, "gw", "gw"),
        ({}, "", ""),
    ],
)
def test_the_encoding_secret_falls_back_to_the_gateway_secret(raw: dict[str, Any], secret: str, expected: str) -> None:
    assert encoding_secret(GatewaySettings(secret=secret, raw=raw)) == expected


def test_a_sealed_key_opens_with_the_same_secret_and_fingerprint() -> None:
    blob = seal_private_key(KEY, "s3cret", FINGERPRINT)
    assert blob[0] == VERSION
    assert KEY not in blob
    assert b"MIGHAgEAMBMGByqGSM49" not in blob
    assert open_private_key(blob, "s3cret", FINGERPRINT, "org" + FINGERPRINT) == KEY


def test_each_seal_uses_a_fresh_salt_and_nonce() -> None:
    first, second = (seal_private_key(KEY, "s3cret", FINGERPRINT) for _ in range(2))
    header = 1 + SALT_BYTES + NONCE_BYTES
    assert first[1:header] != second[1:header]
    assert first[header:] != second[header:]


def test_a_wrong_secret_cannot_open_it() -> None:
    blob = seal_private_key(KEY, "s3cret", FINGERPRINT)
    with pytest.raises(PrivateKeyUnavailable, match="does not decrypt") as failure:
        open_private_key(blob, "S3cret", FINGERPRINT, "the-id")
    assert "the-id" in str(failure.value)
    assert "s3cret" not in str(failure.value)
    assert "S3cret" not in str(failure.value)


def test_a_key_moved_to_another_certificate_does_not_open() -> None:
    blob = seal_private_key(KEY, "s3cret", FINGERPRINT)
    with pytest.raises(PrivateKeyUnavailable):
        open_private_key(blob, "s3cret", "cd" * 32, "other")


@pytest.mark.parametrize("position", [0, 1, 1 + SALT_BYTES, -1])
def test_any_altered_byte_is_refused(position: int) -> None:
    blob = bytearray(seal_private_key(KEY, "s3cret", FINGERPRINT))
    blob[position] ^= 0x01
    with pytest.raises(PrivateKeyUnavailable):
        open_private_key(bytes(blob), "s3cret", FINGERPRINT, "id")


@pytest.mark.parametrize("blob", [b"", b"\x01", bytes([VERSION]) + b"\x00" * (SALT_BYTES + NONCE_BYTES)])
def test_a_truncated_blob_is_refused(blob: bytes) -> None:
    with pytest.raises(PrivateKeyUnavailable, match="unknown format"):
        open_private_key(blob, "s3cret", FINGERPRINT, "id")
