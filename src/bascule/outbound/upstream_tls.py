"""TLS to an API's upstreams (issue 5, tyk-behaviour §3.7, DECISIONS §17): one `UpstreamTlsPolicy` per
distinct `UpstreamTls` and the material it references, built with the snapshot; the request path only asks
`policy.context_for(host, port)` and hands the context to `ProxyConnector.open(..., target_tls=...)`.

What a context does, by setting:
- Versions: `min_version` (TLS 1.2 by default) to `max_version` (none: the newest OpenSSL has).
- Trust: the system store, including `SSL_CERT_FILE` / `SSL_CERT_DIR` (`ssl.create_default_context`), with host
  name checking. `insecure_skip_verify`: CERT_NONE and no host name check, logged once per API.
- Ciphers: Go/IANA names are mapped to OpenSSL's (`core.cipher_names`); a name neither knows is a setup error.
  TLS 1.2 suites are restricted with `set_ciphers`. Python's `ssl` cannot restrict TLS 1.3 suites (no
  `SSL_CTX_set_ciphersuites`): they stay OpenSSL's defaults, as in Go, where they are not configurable either.
  A list naming only TLS 1.3 suites leaves no TLS 1.2 suite, so the minimum becomes TLS 1.3 (Tyk case 58: a
  TLS 1.2 upstream then fails); with `max_version` below 1.3 that is a setup error.
- Client certificate: chosen by `core.host_patterns.select_for_host` on the upstream host and port (never the
  client's Host header) among the API's entries, else among the gateway's (Tyk: the API map beats the global),
  loaded from memory (memfd, never a temporary file) and always presented, whatever CA list the server
  advertises. One context per certificate, all built when the policy is.
- Pins (`core.host_patterns.select_pins` on the upstream host; the API's entries, else the gateway's) ADD to
  verification; with `insecure_skip_verify`
  the pin alone decides, so a self-signed upstream with a matching pin is accepted. Any certificate of the
  presented chain (leaf or intermediate) may match. The check runs inside the handshake, in the
  `sslobject_class` of the context, so a mismatch fails the handshake (`PinMismatch`) before a request byte is
  written. asyncio and uvloop both create their TLS objects with `SSLContext.wrap_bio`, which honours
  `sslobject_class` (tested on both loops).
- `force_common_name_check`: the leaf's CN must equal the dialled host exactly, SANs ignored. The chain is
  still verified unless insecure, but the SAN host name check is off (it would reject CN-only certificates).
A reference missing from the `MaterialBook`, a client certificate without its key, or a bad cipher or version
is a `TlsSetupError` when the policy is built: the API fails closed, nothing falls back to no certificate.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import warnings
from _ssl import ENCODING_DER
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from bascule.config.tls import CertificateRef, HostPins, UpstreamTls
from bascule.core.cipher_names import openssl_cipher_name
from bascule.core.host_patterns import select_for_host, select_pins
from bascule.errors import PinMismatch, TlsSetupError
from bascule.outbound.client_tls import HTTP_ALPN, TLS_VERSIONS, load_chain_from_memory
from bascule.outbound.material_book import MaterialBook

log = logging.getLogger("bascule.outbound")

TLS13_SUITES = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    }
)
"""TLS 1.3 suite names (the same in Go, IANA and OpenSSL): accepted, but not restrictable from Python."""

_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


class CommonNameMismatch(ssl.SSLCertVerificationError):
    """`force_common_name_check`: the leaf certificate's CN is not the dialled host."""

    def __init__(self, host: str, common_name: str | None) -> None:
        shown = repr(common_name) if common_name is not None else "none"
        message = f"leaf certificate common name {shown} does not match host {host!r}"
        super().__init__(message)
        self.library = "bascule"
        self.reason = "COMMON_NAME_MISMATCH"
        self.verify_code = 0
        self.verify_message = message


@dataclass(frozen=True, slots=True)
class PeerCheck:
    """What the handshake checks beyond OpenSSL's verification: pins per host pattern, and the leaf CN."""

    pins: tuple[tuple[str, frozenset[str]], ...]
    """(pattern, allowed SPKI SHA-256 hex) of the API's entries, in configuration order, for `select_pins`."""
    common_name: bool
    gateway_pins: tuple[tuple[str, frozenset[str]], ...] = ()
    """The gateway's entries, consulted when none of the API's matches the host."""

    @property
    def is_needed(self) -> bool:
        return bool(self.pins) or bool(self.gateway_pins) or self.common_name

    def check(self, host: str, chain: tuple[bytes, ...]) -> None:
        """Raise `PinMismatch` / `CommonNameMismatch` unless the presented `chain` (DER, leaf first) passes."""
        certificates = [x509.load_der_x509_certificate(der) for der in chain]
        allowed: frozenset[str] | None = select_pins(self.pins, host) if self.pins else None
        if allowed is None and self.gateway_pins:
            allowed = select_pins(self.gateway_pins, host)
        if allowed is not None:
            observed = tuple(spki_sha256(c) for c in certificates)
            if allowed.isdisjoint(observed):
                raise PinMismatch(host, allowed, observed)
        if self.common_name:
            names = certificates[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME) if certificates else []
            common_name = str(names[0].value) if names else None
            if common_name != host.strip("[]"):
                raise CommonNameMismatch(host, common_name)


def spki_sha256(certificate: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's SubjectPublicKeyInfo (DER): what a pin names."""
    return hashlib.sha256(certificate.public_key().public_bytes(_DER, _SPKI)).hexdigest()


def peer_chain(sslobj: ssl.SSLObject) -> tuple[bytes, ...]:
    """The certificates the peer presented, DER, leaf first, whether or not they were verified.

    Python 3.11 has it only on the private `_ssl._SSLSocket` (`get_unverified_chain`, public from 3.13)."""
    inner: Any = getattr(sslobj, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)
    if getter is None:
        leaf = sslobj.getpeercert(binary_form=True)
        return (leaf,) if leaf else ()
    return tuple(cert.public_bytes(ENCODING_DER) for cert in getter() or ())


def checked_sslobject_class(peer_check: PeerCheck) -> type[ssl.SSLObject]:
    """An `SSLObject` whose handshake fails, before any application byte, unless `peer_check` passes."""

    class CheckedSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            super().do_handshake()
            peer_check.check(self.server_hostname or "", peer_chain(self))

    return CheckedSSLObject


class UpstreamTlsPolicy:
    """The client TLS contexts of one `UpstreamTls`, one per client certificate; built once, read per dial."""

    def __init__(
        self,
        settings: UpstreamTls,
        book: MaterialBook,
        api_id: str = "",
        alpn: tuple[str, ...] = HTTP_ALPN,
        *,
        log_insecure: bool = True,
    ) -> None:
        """Build every context now; TlsSetupError (fail closed) for missing material or unusable settings.

        With `insecure_skip_verify`, logs one warning for `api_id` unless `log_insecure` is False (`PolicyCache`
        logs once per API itself)."""
        self.settings = settings
        self._api_entries = tuple(
            (c.pattern, c.certificate) for c in settings.client_certificates if not c.from_gateway
        )
        self._gateway_entries = tuple(
            (c.pattern, c.certificate) for c in settings.client_certificates if c.from_gateway
        )
        self._entries = self._api_entries + self._gateway_entries
        api_pins = _resolved_pins([p for p in settings.pins if not p.from_gateway], book)
        gateway_pins = _resolved_pins([p for p in settings.pins if p.from_gateway], book)
        peer_check = PeerCheck(api_pins, settings.force_common_name_check, gateway_pins)
        self._contexts: dict[CertificateRef | None, ssl.SSLContext] = {
            None: _build_context(settings, peer_check, alpn, book, None)
        }
        for ref in dict.fromkeys(ref for _, ref in self._entries):
            self._contexts[ref] = _build_context(settings, peer_check, alpn, book, ref)
        if settings.insecure_skip_verify and log_insecure:
            warn_insecure(api_id)

    def context_for(self, host: str, port: int) -> ssl.SSLContext:
        """The context to dial `host:port` (the upstream's, never the client's Host header) with."""
        if not self._entries:
            return self._contexts[None]
        ref = select_for_host(self._api_entries, host, port)
        if ref is None:
            ref = select_for_host(self._gateway_entries, host, port)
        return self._contexts[ref]


def warn_insecure(api_id: str) -> None:
    """The one log line an API with `insecure_skip_verify` gets (a log record, not a Python warning)."""
    log.warning("api %s: upstream TLS certificates are not verified (insecure_skip_verify)", api_id or "<unnamed>")


class PolicyCache:
    """Policies by what they are built from, so a reload that keeps an API's settings and material keeps its
    policy (and the contexts its pooled connections were opened with).

    Build-then-swap: each snapshot build uses `previous.successor()`, which reuses the previous generation's
    policies and keeps only what the new build asked for; a failed build leaves the previous cache untouched.
    The key is the settings plus the material of every reference they name (a new book with the same
    material keeps the policy; changed material builds a new one)."""

    def __init__(self, previous: PolicyCache | None = None) -> None:
        self._previous: Mapping[Hashable, UpstreamTlsPolicy] = previous._policies if previous is not None else {}
        self._policies: dict[Hashable, UpstreamTlsPolicy] = {}
        self._warned: set[str] = set(previous._warned) if previous is not None else set()

    def successor(self) -> PolicyCache:
        return PolicyCache(self)

    def policy_for(
        self, settings: UpstreamTls, book: MaterialBook, api_id: str = "", alpn: tuple[str, ...] = HTTP_ALPN
    ) -> UpstreamTlsPolicy:
        """The policy for `settings` with `book`; TlsSetupError when it cannot be built (nothing cached then)."""
        key = _cache_key(settings, book, alpn)
        policy = self._policies.get(key) or self._previous.get(key)
        if policy is None:
            policy = UpstreamTlsPolicy(settings, book, api_id, alpn, log_insecure=api_id not in self._warned)
            if settings.insecure_skip_verify:
                self._warned.add(api_id)
        elif settings.insecure_skip_verify and api_id not in self._warned:
            warn_insecure(api_id)
            self._warned.add(api_id)
        self._policies[key] = policy
        return policy


def _cache_key(settings: UpstreamTls, book: MaterialBook, alpn: tuple[str, ...]) -> Hashable:
    refs = [c.certificate for c in settings.client_certificates]
    refs += [ref for pin in settings.pins for ref in pin.public_keys]
    material = tuple((ref, book.get(ref)) for ref in dict.fromkeys(refs))
    return settings, alpn, material


def _resolved_pins(entries: Sequence[HostPins], book: MaterialBook) -> tuple[tuple[str, frozenset[str]], ...]:
    resolved: list[tuple[str, frozenset[str]]] = []
    for entry in entries:
        hashes: set[str] = set()
        for ref in entry.public_keys:
            material = book.get(ref)
            if material is None or not material.spki_sha256:
                problem = book.problem(ref) if material is None else "no public key"
                raise TlsSetupError(f"pinned public key {_shown(ref)} for {entry.pattern!r}: {problem}")
            hashes |= material.spki_sha256
        resolved.append((entry.pattern, frozenset(hashes)))
    return tuple(resolved)


def _build_context(
    settings: UpstreamTls,
    peer_check: PeerCheck,
    alpn: tuple[str, ...],
    book: MaterialBook,
    ref: CertificateRef | None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    _set_versions_and_ciphers(context, settings)
    if settings.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif settings.force_common_name_check:
        context.check_hostname = False  # the CN, not the SANs, names the host (PeerCheck)
    if peer_check.is_needed:
        context.sslobject_class = checked_sslobject_class(peer_check)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    if ref is not None:
        _load_client_certificate(context, book, ref)
    return context


def _set_versions_and_ciphers(context: ssl.SSLContext, settings: UpstreamTls) -> None:
    low = TLS_VERSIONS[settings.min_version]
    high = TLS_VERSIONS[settings.max_version] if settings.max_version is not None else ssl.TLSVersion.MAXIMUM_SUPPORTED
    if high is not ssl.TLSVersion.MAXIMUM_SUPPORTED and low > high:
        raise TlsSetupError(f"ssl_min_version {settings.min_version} is above ssl_max_version {settings.max_version}")
    if settings.ciphers:
        tls12 = [_openssl_name(name) for name in settings.ciphers if name not in TLS13_SUITES]
        if tls12:
            try:
                context.set_ciphers(":".join(tls12))
            except ssl.SSLError as exc:
                raise TlsSetupError(f"no usable cipher in {', '.join(settings.ciphers)}") from exc
        else:  # only TLS 1.3 suites named: nothing is left for TLS 1.2 and below
            if high is not ssl.TLSVersion.MAXIMUM_SUPPORTED and high < ssl.TLSVersion.TLSv1_3:
                raise TlsSetupError(f"ciphers {', '.join(settings.ciphers)} are TLS 1.3 only, above ssl_max_version")
            low = ssl.TLSVersion.TLSv1_3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 1.0/1.1 are deprecated, and the operator's choice
        context.minimum_version = low
        context.maximum_version = high


def _openssl_name(name: str) -> str:
    mapped = openssl_cipher_name(name)
    if mapped is not None:
        return mapped
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.set_ciphers(name)  # already an OpenSSL name (the config allows either)
    except ssl.SSLError:
        raise TlsSetupError(f"unknown cipher {name!r}") from None
    return name


def _load_client_certificate(context: ssl.SSLContext, book: MaterialBook, ref: CertificateRef) -> None:
    material = book.get(ref)
    if material is None:
        raise TlsSetupError(f"upstream client certificate {_shown(ref)}: {book.problem(ref)}")
    if not material.chain_pem or not material.key_pem:
        raise TlsSetupError(f"upstream client certificate {_shown(ref)}: needs a certificate and its private key")
    try:
        load_chain_from_memory(context, material.chain_pem, material.key_pem)
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = str(exc.reason) if isinstance(exc, ssl.SSLError) and exc.reason else str(exc)
        raise TlsSetupError(f"upstream client certificate {_shown(ref)}: {reason}") from exc


def _shown(ref: CertificateRef) -> str:
    """A reference as logs may show it: inline PEM is not repeated."""
    return "<inline PEM>" if ref.lstrip().startswith("-----BEGIN") else repr(ref)
