"""TLS in bascule's own terms: the gateway's listeners, and each API's upstream connections (issue 5).

Translated by `bascule.compat.tyk.translate_tls` from tyk.conf (`http_server_options.use_ssl`,
`certificates`, `ssl_certificates`, `min_version`, `max_version`, `ssl_ciphers`, `enable_http2`,
`proxy_ssl_*`, `ssl_force_common_name_check`, `security.certificates.upstream`,
`security.pinned_public_keys`) and from API definitions (Classic `proxy.transport`, `upstream_certificates`,
`pinned_public_keys`, `certificates`, `use_mutual_tls_auth`, `client_certificates`; OAS `upstream.tlsTransport`,
`upstream.mutualTLS`, `upstream.certificatePinning`, `upstream.proxy`, `server.customDomain.certificates`,
`server.clientCertificates`). Gateway and API layers are merged once, in translation: nothing downstream
asks "API or gateway?".

A certificate reference (`CertificateRef`) is what Tyk accepts in those places: a certificate-store id, a path
to a PEM file, or inline PEM text; it is resolved to bytes when the snapshot is built (`tls_material`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bascule.config.outbound import TlsVersion

CertificateRef = str
"""A store id, a PEM file path, or inline PEM (starts with `-----BEGIN`)."""


@dataclass(frozen=True, slots=True)
class HostCertificate:
    """Upstream mTLS: present `certificate` (with its key) to upstream hosts matching `pattern`.

    Patterns (tyk-behaviour §5 case 55): `*`, `*.parent` (one label), `*.parent:port`, `host`, `host:port`,
    IPv6 as `::1` or `[::1]:8443`."""

    pattern: str
    certificate: CertificateRef
    from_gateway: bool = False
    """A gateway entry (`security.certificates.upstream`): used only when no entry of the API matches the host."""


@dataclass(frozen=True, slots=True)
class HostPins:
    """Certificate pinning: a host matching `pattern` must present a certificate (leaf or intermediate) whose
    SubjectPublicKeyInfo SHA-256 is one of `public_keys` (each a store id, PEM or file path)."""

    pattern: str
    public_keys: tuple[CertificateRef, ...]
    from_gateway: bool = False
    """A gateway entry (`security.pinned_public_keys`): used only when no entry of the API matches the host."""


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    """How one API connects to its upstreams (and how its uptime checks connect to them)."""

    insecure_skip_verify: bool = False
    """Gateway `proxy_ssl_insecure_skip_verify` or the API's own flag: no chain or hostname verification
    (pins, when set, then decide alone: DECISIONS §17)."""
    min_version: TlsVersion = "1.2"
    max_version: TlsVersion | None = None
    ciphers: tuple[str, ...] = ()
    """Cipher names (Go/IANA `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` or OpenSSL); empty: bascule's defaults.
    The API's list replaces the gateway's."""
    force_common_name_check: bool = False
    client_certificates: tuple[HostCertificate, ...] = ()
    """The gateway's entries and the API's. As in Tyk (§5 case 55, "later map beats earlier"), the best match
    among the API's entries wins; the gateway's are consulted only when none of the API's matches. Empty when
    the API sets `upstream_certificates_disabled`."""
    pins: tuple[HostPins, ...] = ()
    """The gateway's entries and the API's, chosen like `client_certificates`. Empty when the API sets
    `certificate_pinning_disabled`."""
    proxy_url: str = ""
    """Classic `proxy.transport.proxy_url`, OAS `upstream.proxy.url`: an HTTP(S) forward proxy for this API's
    upstream connections (CONNECT for TLS upstreams). "": the environment's proxies, if any."""


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """A certificate the gateway's TLS listeners can serve: `certificate` (and `key` when it is a separate
    file) for `domain` ("" : chosen by the names in the certificate itself)."""

    certificate: CertificateRef
    key: str = ""
    domain: str = ""


@dataclass(frozen=True, slots=True)
class ListenerTls:
    """`http_server_options.use_ssl` and what goes with it. Certificates are chosen by SNI among these and
    the `certificates` of APIs on custom domains; without SNI, the first."""

    certificates: tuple[ServerCertificate, ...] = ()
    min_version: TlsVersion = "1.2"
    max_version: TlsVersion | None = None
    ciphers: tuple[str, ...] = ()
    """Empty: Mozilla's "intermediate" list (bascule's default, passes sslyze --mozilla_config=intermediate)."""
    enable_http2: bool = False


@dataclass(frozen=True, slots=True)
class ClientCertificateAuth:
    """An API's `use_mutual_tls_auth`: the client must present one of `allowed` (store ids or PEM refs);
    none, or another, means no access."""

    allowed: tuple[CertificateRef, ...] = ()
