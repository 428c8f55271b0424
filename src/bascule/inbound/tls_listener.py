"""The gateway's own TLS listeners: which certificate to serve (by SNI), with what protocol settings, and
whether to ask for a client certificate (issue 5 point 1; tyk-behaviour §3.10 "Inbound TLS certificate
selection"). Built before the listener opens; after each reload `refresh_listener` replaces the SNI table
with the certificates of the APIs then loaded; the handshake only reads it.

What the server context does, by setting (tests in `tests/integration/test_tls_listener.py`):

- Versions: `min_version` (default TLS 1.2) to `max_version` (default: the highest OpenSSL has).
- TLS 1.2 ciphers: `ciphers` when given (Go/IANA or OpenSSL names; TLS 1.3 names skipped, as OpenSSL
  configures those apart), else Mozilla's "intermediate" list without its DHE suites (`INTERMEDIATE_CIPHERS`):
  DHE needs 2048-bit ffdhe parameters that Python's `ssl` only takes from a file, and every client of the
  intermediate profile has ECDHE. TLS 1.3 suites stay OpenSSL's defaults, which are Mozilla's three (Python
  cannot set them). The client's cipher preference wins, as the intermediate profile says.
- Key-exchange groups: P-256 only (`set_ecdh_curve("prime256v1")`). Mozilla lists X25519, P-256 and P-384,
  and sslyze fails a server that offers anything else, while OpenSSL 3's defaults add X448 and P-521; Python
  3.11's `set_ecdh_curve` sets exactly one group (`SSL_CTX_set1_groups` with one entry), so the one that every
  intermediate client has wins. Cost: a TLS 1.3 client that leads with an X25519 key share gets a
  HelloRetryRequest (one more round trip on a full handshake). A Python with `SSLContext.set_groups` can
  list all three.
- No compression, no renegotiation (`OP_NO_RENEGOTIATION`).
- ALPN: `http/1.1` only; `enable_http2` will add `h2` once bascule speaks HTTP/2.
- Certificates: one context per certificate. Without SNI, or when no name matches, the first certificate
  is served; otherwise the certificate whose configured `domain`, subject CN or DNS SANs match the server
  name: an exact name first, then a one-label wildcard (`*.example.com` for `api.example.com`, not for
  `a.b.example.com`), the earlier certificate among equals (`core.host_patterns` rules). Private keys are
  loaded through an anonymous memory file (`client_tls.load_chain_from_memory`), never a disk file.
- Client certificates: when `client_trust` is given (some API uses `use_mutual_tls_auth`), every context asks
  for one (CERT_OPTIONAL) and verifies it against those PEM certificates; an allowed certificate is itself a
  trust anchor (`VERIFY_X509_PARTIAL_CHAIN`), so a leaf on the allow-list verifies without its CA. A client
  certificate that does not verify fails the handshake; no certificate passes it, and the API that needs one
  refuses the request (by the leaf hash the HTTP/1 protocol records).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from bascule.config.apis import ApiSettings
from bascule.config.tls import ListenerTls
from bascule.core.cipher_names import TLS13_SUITES, openssl_cipher_name
from bascule.core.host_patterns import select_pins
from bascule.errors import ConfigError, ConfigProblem, TlsSetupError
from bascule.outbound.client_tls import HTTP_ALPN, TLS_VERSIONS, load_chain_from_memory
from bascule.outbound.material_book import CertificateMaterial, MaterialBook
from bascule.storage.certificates import CertificateStore
from bascule.tls_material import resolve_material

log = logging.getLogger("bascule.inbound")

INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
"""Mozilla server-side TLS 5.7 "intermediate", TLS 1.2 part, ECDHE suites only (see the module docstring)."""

KEY_EXCHANGE_GROUP = "prime256v1"


@dataclass(frozen=True, slots=True)
class ServedCertificate:
    """A certificate with its key, and the `domain` it was configured for ("" : its own names only)."""

    material: CertificateMaterial = field(repr=False)
    domain: str = ""
    source: str = ""
    """The reference it came from, for messages (never the key's path)."""


async def listener_context(
    tls: ListenerTls | None, apis: Sequence[ApiSettings], store: CertificateStore | None
) -> ssl.SSLContext | None:
    """The context of the gateway's listeners: None without `use_ssl`. Resolves the listener's certificates
    (with their key files), the APIs' `certificates` and their allowed client certificates; a reference that
    cannot be served is logged and skipped. ConfigError (start-up refused) when nothing can be served."""
    if tls is None:
        return None
    book = await resolve_material(_references(tls, apis), store)
    context = await _build(tls, apis, book)
    assert isinstance(context.sni_callback, SniTable)
    context.sni_callback.book = book
    return context


def _references(tls: ListenerTls, apis: Sequence[ApiSettings]) -> list[str | tuple[str, str]]:
    refs: list[str | tuple[str, str]] = [(c.certificate, c.key) for c in tls.certificates]
    refs += [ref for api in apis for ref in api.server_certificates]
    refs += [ref for api in apis if api.client_certificate_auth for ref in api.client_certificate_auth.allowed]
    return refs


async def _build(tls: ListenerTls, apis: Sequence[ApiSettings], book: MaterialBook) -> ssl.SSLContext:
    """The contexts for `book`, built off the event loop (loading chains and CA lists is CPU work)."""
    served, problems = served_certificates(tls, apis, book)
    for problem in problems:
        log.warning("%s", problem)
    try:
        return await asyncio.to_thread(build_server_context, tls, served, client_trust(apis, book))
    except TlsSetupError as exc:
        reasons = "; ".join([str(exc), *problems])
        raise ConfigError([ConfigProblem(None, "$.http_server_options", reasons)]) from exc


def served_certificates(
    tls: ListenerTls, apis: Iterable[ApiSettings], book: MaterialBook
) -> tuple[list[ServedCertificate], list[str]]:
    """The listener's certificates, then those of the APIs (in that order: the first is the default), and why
    any reference cannot be served (unresolved, or no private key)."""
    wanted = [(c.certificate, c.domain) for c in tls.certificates]
    wanted += [(ref, "") for api in apis if api.active for ref in api.server_certificates]
    served: list[ServedCertificate] = []
    problems: list[str] = []
    for ref, domain in wanted:
        material = book.get(ref)
        if material is None:
            problems.append(f"server certificate {_shown(ref)}: {book.problem(ref)}")
        elif not material.key_pem:
            problems.append(f"server certificate {_shown(ref)}: no private key")
        else:
            served.append(ServedCertificate(material, domain, ref))
    return served, problems


def client_trust(apis: Iterable[ApiSettings], book: MaterialBook) -> bytes | None:
    """The PEM certificates client certificates may verify against: those every mutual-TLS API allows.
    None when no API asks for client certificates (then none is requested)."""
    mutual = [api.client_certificate_auth for api in apis if api.active and api.client_certificate_auth is not None]
    if not mutual:
        return None
    found = (book.get(ref) for auth in mutual for ref in auth.allowed)
    return b"".join(material.chain_pem for material in found if material is not None and material.chain_pem)


def build_server_context(
    tls: ListenerTls, certificates: Sequence[ServedCertificate], client_trust_pem: bytes | None = None
) -> ssl.SSLContext:
    """The context to give `create_server(ssl=...)`: serves the first usable certificate, switches by SNI.
    A certificate that cannot be loaded is logged and skipped; TlsSetupError when none can be."""
    chosen: list[tuple[str, ssl.SSLContext]] = []
    default: ssl.SSLContext | None = None
    for certificate in certificates:
        context = _base_context(tls, client_trust_pem)
        try:
            load_chain_from_memory(context, certificate.material.chain_pem, certificate.material.key_pem)
            names = certificate_names(certificate)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("server certificate %s cannot be served: %s", _shown(certificate.source), exc)
            continue
        default = default or context
        chosen += [(name, context) for name in names]
    if default is None:
        raise TlsSetupError("use_ssl is set but no server certificate can be served")
    # select_pins prefers the later entry among equals; reversed, the earlier certificate wins.
    default.sni_callback = SniTable(tuple(reversed(chosen)))
    return default


class SniTable:
    """The `sni_callback` of a listener: switches the handshake to the certificate its server name selects.
    `by_name` is replaced whole on reload (`refresh_listener`), so new API certificates are served at once;
    `book` is the material it was built from (kept through a store outage), `generation` orders refreshes."""

    __slots__ = ("book", "by_name", "generation")

    def __init__(self, by_name: tuple[tuple[str, ssl.SSLContext], ...]) -> None:
        self.by_name = by_name
        self.book: MaterialBook | None = None
        self.generation = 0

    def __call__(self, ssl_object: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        # uvloop passes an SSLObject, the stdlib an SSLSocket: both have `.context`
        if server_name:
            found = select_pins(self.by_name, server_name)
            if found is not None and found is not ssl_object.context:
                ssl_object.context = found


async def refresh_listener(
    listener: ssl.SSLContext, tls: ListenerTls, apis: Sequence[ApiSettings], store: CertificateStore | None
) -> None:
    """After a reload: serve the certificates (and client-certificate trust) of the APIs now loaded, by SNI.
    The certificate served without SNI stays the one chosen at start. A store outage keeps the material it had;
    a failure keeps the previous table; a refresh overtaken by a later one changes nothing."""
    table = listener.sni_callback
    if not isinstance(table, SniTable):
        return
    table.generation += 1
    mine = table.generation
    book = await resolve_material(_references(tls, apis), store, previous=table.book)
    try:
        fresh = await _build(tls, apis, book)
    except ConfigError as exc:
        log.warning("TLS listener: certificates not refreshed, the previous ones keep serving: %s", exc)
        return
    if mine == table.generation and isinstance(fresh.sni_callback, SniTable):
        table.by_name, table.book = fresh.sni_callback.by_name, book


def certificate_names(certificate: ServedCertificate) -> list[str]:
    """The names SNI can select `certificate` by: its configured domain, the leaf's CN and DNS SANs."""
    leaf = x509.load_pem_x509_certificate(certificate.material.chain_pem)
    names = [certificate.domain] if certificate.domain else []
    names += [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    with contextlib.suppress(x509.ExtensionNotFound):
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName)
    return [name.lower() for name in names if name and name != "*"]


def _base_context(tls: ListenerTls, client_trust_pem: bytes | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _set_versions(context, tls)
    context.set_ciphers(_cipher_list(tls))
    context.set_ecdh_curve(KEY_EXCHANGE_GROUP)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(list(HTTP_ALPN))
    if client_trust_pem is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        if client_trust_pem:
            context.load_verify_locations(cadata=client_trust_pem.decode("ascii"))
    return context


def _set_versions(context: ssl.SSLContext, tls: ListenerTls) -> None:
    low = TLS_VERSIONS[tls.min_version]
    high = TLS_VERSIONS[tls.max_version] if tls.max_version is not None else ssl.TLSVersion.MAXIMUM_SUPPORTED
    if high is not ssl.TLSVersion.MAXIMUM_SUPPORTED and low > high:
        raise TlsSetupError(f"min_version {tls.min_version} is above max_version {tls.max_version}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 1.0/1.1 are deprecated, and the operator's choice
        context.minimum_version = low
        context.maximum_version = high


def _cipher_list(tls: ListenerTls) -> str:
    if not tls.ciphers:
        return INTERMEDIATE_CIPHERS
    names = [openssl_cipher_name(name) or name for name in tls.ciphers if name not in TLS13_SUITES]
    if not names:
        return INTERMEDIATE_CIPHERS  # only TLS 1.3 suites named: those are OpenSSL's defaults anyway
    listed = ":".join(names)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(listed)
    except ssl.SSLError:
        raise TlsSetupError(f"no usable cipher in ssl_ciphers {', '.join(tls.ciphers)}") from None
    return listed


def _shown(ref: str) -> str:
    """A reference fit for a log line: inline PEM is not printed."""
    return "(inline PEM)" if ref.lstrip().startswith("-----BEGIN") else repr(ref)
