"""What a certificate upload is, decided in pure code: PEM splitting, Tyk's ids, checks and metadata.

Rules (tyk-behaviour §3.12, Tyk's `certs.GetCertIDAndChainPEM`; one test each in
`tests/unit/storage/test_certificate_pem.py`):

* An upload is PEM text: `CERTIFICATE` blocks (the first is the leaf, the others its chain), at most one
  private key (any block type ending in `PRIVATE KEY`), or exactly one `PUBLIC KEY` on its own. Other
  block types (`EC PARAMETERS`, ...) are ignored, as Tyk ignores them.
* The fingerprint is the hex SHA-256 of the leaf certificate's DER, or of the SubjectPublicKeyInfo DER
  for a public key; the id is `<org_id>` + fingerprint.
* Refused, with Tyk's texts where Tyk has one: no PEM block at all (`Failed to decode certificate. It
  should be PEM encoded.`), a second private key (`Found multiple private keys`), a public key next to
  certificates (`Public keys can't be combined with certificates`), any certificate past its `notAfter`
  (`certificate is expired`; one not yet valid is accepted, as in Tyk), a key that is not the leaf's
  (`tls: private key does not match public key`), a key that does not parse (`tls: failed to parse
  private key`). bascule also refuses, with its own texts: a `BEGIN` line without its `END`, a block that
  is not base64, a block with PEM headers or an encrypted key (the key is encrypted at rest by the store;
  a passphrase would need a second secret), a certificate or public key that does not parse, a second
  public key, and a private key without a certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

NOT_PEM = "Failed to decode certificate. It should be PEM encoded."
MULTIPLE_PRIVATE_KEYS = "Found multiple private keys"
PUBLIC_KEY_WITH_CERTIFICATES = "Public keys can't be combined with certificates"
EXPIRED = "certificate is expired"
KEY_MISMATCH = "tls: private key does not match public key"
BAD_PRIVATE_KEY = "tls: failed to parse private key"
UNKNOWN_KEY_TYPE = "tls: found unknown private key type in PKCS#8 wrapping"
UNTERMINATED_BLOCK = "Malformed PEM: a BEGIN line has no matching END line"
MULTIPLE_PUBLIC_KEYS = "Found multiple public keys"
KEY_WITHOUT_CERTIFICATE = "Found a private key without its certificate"
ENCRYPTED_KEY = "Encrypted private keys are not supported: upload the key unencrypted (the store encrypts it at rest)"

CERTIFICATE = "CERTIFICATE"
PUBLIC_KEY = "PUBLIC KEY"
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?\n(.*?)-----END \1-----", re.DOTALL)
_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----")
CERTIFICATE_PARSE_ERRORS = (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)
_TLS_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)


class CertificateRejected(Exception):
    """An upload the store refuses; `message` is the text the control API answers (Tyk's where it has one)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class PrivateKeyUnavailable(Exception):
    """A stored private key that cannot be handed out: none stored, wrong secret, or a format bascule
    does not read. The message names the certificate id, never key material."""


@dataclass(frozen=True, slots=True)
class PemBlock:
    kind: str
    """The word(s) after `BEGIN`: `CERTIFICATE`, `PRIVATE KEY`, ..."""
    der: bytes = field(repr=False)
    has_headers: bool = False
    """`Proc-Type:`-style header lines (legacy PEM encryption) came before the base64."""


@dataclass(frozen=True, slots=True)
class NameAttribute:
    oid: str
    """Dotted, as `2.5.4.3`."""
    value: str


@dataclass(frozen=True, slots=True)
class CertificateMetadata:
    """What the control API reports about a stored entry (nothing secret)."""

    issuer_cn: str
    subject_cn: str
    issuer: tuple[NameAttribute, ...]
    subject: tuple[NameAttribute, ...]
    """The distinguished names' attributes in DER order (both empty for a public key)."""
    dns_names: tuple[str, ...]
    not_before: datetime | None
    not_after: datetime | None
    """UTC; None for a public key, which has no validity period."""
    is_ca: bool


@dataclass(frozen=True, slots=True)
class ParsedUpload:
    fingerprint: str
    der: bytes = field(repr=False)
    """The leaf certificate's DER, or the SubjectPublicKeyInfo's."""
    public_pem: bytes = field(repr=False)
    """What may be shown: the certificates (leaf first) or the public key, as PEM."""
    is_public_key: bool
    private_key_pem: bytes | None = field(default=None, repr=False)
    """The leaf's key, unencrypted PKCS#8 PEM; the store encrypts it before anything is written."""


def hex_sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def certificate_id(org_id: str, fingerprint: str) -> str:
    """Tyk's id: the org id, then the fingerprint, with nothing between."""
    return org_id + fingerprint


def encode_pem(kind: str, der: bytes) -> bytes:
    """`der` as one PEM block, 64 base64 characters a line (the bytes hashed stay the bytes stored)."""
    text = base64.b64encode(der)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"".join(
        [f"-----BEGIN {kind}-----\n".encode(), *(line + b"\n" for line in lines), f"-----END {kind}-----\n".encode()]
    )


def split_pem(data: bytes) -> list[PemBlock]:
    """Every PEM block in `data`, in order; text between blocks is ignored."""
    blocks: list[PemBlock] = []
    for match in _BLOCK.finditer(data):
        kind = match.group(1).decode("ascii")
        lines = match.group(2).splitlines()
        has_headers = bool(lines) and b":" in lines[0]
        if has_headers:
            blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
            lines = lines[blank + 1 :]
        try:
            der = base64.b64decode(b"".join(line.strip() for line in lines), validate=True)
        except binascii.Error:
            raise CertificateRejected(f"Malformed PEM: the {kind} block is not valid base64") from None
        blocks.append(PemBlock(kind, der, has_headers))
    if len(_BEGIN.findall(data)) != len(blocks):
        raise CertificateRejected(UNTERMINATED_BLOCK)
    return blocks


def parse_upload(data: bytes, now: datetime) -> ParsedUpload:
    """Check an upload and compute its fingerprint (see the module rules); `now` is timezone-aware."""
    certificates: list[PemBlock] = []
    keys: list[PemBlock] = []
    public_keys: list[PemBlock] = []
    for block in split_pem(data):
        if block.kind.endswith("PRIVATE KEY"):
            if keys:
                raise CertificateRejected(MULTIPLE_PRIVATE_KEYS)
            keys.append(block)
        elif block.kind == CERTIFICATE:
            _check_certificate(block, len(certificates) + 1, now)
            certificates.append(block)
        elif block.kind == PUBLIC_KEY:
            public_keys.append(block)
    if certificates and public_keys:
        raise CertificateRejected(PUBLIC_KEY_WITH_CERTIFICATES)
    if not certificates:
        if keys:
            raise CertificateRejected(KEY_WITHOUT_CERTIFICATE)
        if not public_keys:
            raise CertificateRejected(NOT_PEM)
        return _public_key_upload(public_keys)
    leaf = certificates[0].der
    key_pem = _private_key_pem(keys[0], leaf) if keys else None
    chain = b"".join(encode_pem(CERTIFICATE, block.der) for block in certificates)
    return ParsedUpload(hex_sha256(leaf), leaf, chain, is_public_key=False, private_key_pem=key_pem)


def _check_certificate(block: PemBlock, position: int, now: datetime) -> None:
    if block.has_headers:
        raise CertificateRejected(f"Malformed PEM: certificate {position} has PEM headers")
    try:
        not_after = describe_certificate(block.der).not_after
    except CERTIFICATE_PARSE_ERRORS:
        raise CertificateRejected(
            f"Error while parsing certificate {position}: not a valid X.509 certificate"
        ) from None
    if not_after is not None and not_after < now:
        raise CertificateRejected(EXPIRED)


def _public_key_upload(blocks: list[PemBlock]) -> ParsedUpload:
    if len(blocks) > 1:
        raise CertificateRejected(MULTIPLE_PUBLIC_KEYS)
    der = blocks[0].der
    try:
        serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CertificateRejected("Error while parsing public key: not a valid SubjectPublicKeyInfo") from None
    return ParsedUpload(hex_sha256(der), der, encode_pem(PUBLIC_KEY, der), is_public_key=True)


def _private_key_pem(block: PemBlock, leaf_der: bytes) -> bytes:
    if block.has_headers or block.kind == "ENCRYPTED PRIVATE KEY":
        raise CertificateRejected(ENCRYPTED_KEY)
    try:
        key = serialization.load_der_private_key(block.der, password=None)
    except (ValueError, TypeError):
        raise CertificateRejected(BAD_PRIVATE_KEY) from None
    except UnsupportedAlgorithm:
        raise CertificateRejected(UNKNOWN_KEY_TYPE) from None
    if not isinstance(key, _TLS_KEY_TYPES):
        raise CertificateRejected(UNKNOWN_KEY_TYPE)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    leaf_key = x509.load_der_x509_certificate(leaf_der).public_key()
    if key.public_key().public_bytes(*spki) != leaf_key.public_bytes(*spki):
        raise CertificateRejected(KEY_MISMATCH)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _attributes(name: x509.Name) -> tuple[NameAttribute, ...]:
    found: list[NameAttribute] = []
    for rdn in name.rdns:
        for attribute in rdn:
            value = attribute.value
            text = value.hex() if isinstance(value, bytes) else value
            found.append(NameAttribute(attribute.oid.dotted_string, text))
    return tuple(found)


def _common_name(attributes: tuple[NameAttribute, ...]) -> str:
    """The last CN, as Go's `pkix.Name.CommonName`."""
    names = [a.value for a in attributes if a.oid == x509.NameOID.COMMON_NAME.dotted_string]
    return names[-1] if names else ""


def describe_certificate(der: bytes) -> CertificateMetadata:
    """Metadata of a certificate (raises ValueError, or cryptography's DuplicateExtension or
    UnsupportedGeneralNameType, for one `parse_upload` would refuse)."""
    certificate = x509.load_der_x509_certificate(der)
    issuer, subject = _attributes(certificate.issuer), _attributes(certificate.subject)
    extensions = certificate.extensions
    try:
        names = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(names.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns_names = ()
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateMetadata(
        issuer_cn=_common_name(issuer),
        subject_cn=_common_name(subject),
        issuer=issuer,
        subject=subject,
        dns_names=dns_names,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        is_ca=is_ca,
    )


def describe_public_key(fingerprint: str) -> CertificateMetadata:
    """Tyk lists a public key as a certificate whose subject CN is `Public Key: <fingerprint>`."""
    return CertificateMetadata("", f"Public Key: {fingerprint}", (), (), (), None, None, is_ca=False)
