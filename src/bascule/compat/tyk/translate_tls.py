"""Tyk TLS settings -> `ListenerTls`, `UpstreamTls`, server certificates and client-certificate auth. Pure.

Gateway and API layers are merged here, once (STYLE rule 4). Rules (one test row each in
`tests/unit/compat/test_translate_tls.py`):

* **Versions**: Classic `ssl_min_version`/`ssl_max_version` and tyk.conf `proxy_ssl_min_version`,
  `proxy_ssl_max_version`, `http_server_options.min_version`/`max_version` are Go uint16 numbers, 769-772
  -> "1.0".."1.3", 0 unset; OAS `minVersion`/`maxVersion` are "1.0".."1.3", "" unset. Anything else is an
  error. Unset minimum: "1.2" (upstream and listener); unset maximum: none. A minimum below 1.2 is kept as
  written. A minimum above the maximum is an error. No forced TLS 1.2 cap on an API's maximum (Tyk's
  quirk, §3.7, is not copied).
* **Ciphers**: Go/IANA names (or OpenSSL names) from `core.cipher_names`; an unknown name is an error
  (Tyk skips it with a debug log). The API's list, when non-empty, replaces the gateway's.
* **Layering**: an API's min/max version replaces the gateway's when set; `insecure_skip_verify` and
  `force_common_name_check` are the gateway flag OR the API flag (Classic `proxy.transport.*`, OAS
  `upstream.tlsTransport.*`).
* **Upstream client certificates**: gateway `security.certificates.upstream` entries (marked `from_gateway`:
  consulted only when no entry of the API matches the host, as Tyk's "later map beats earlier") and the API's
  (Classic `upstream_certificates`, OAS `upstream.mutualTLS.domainToCertificateMapping` when `enabled`);
  patterns must parse (`core.host_patterns`), certificate references must not be empty. Classic
  `upstream_certificates_disabled` or OAS `mutualTLS.enabled: false` means no client certificate at all,
  the gateway's included (§5 case 53). An OAS API without `mutualTLS` keeps the gateway's entries.
* **Pins**: gateway `security.pinned_public_keys` first, then the API's (Classic `pinned_public_keys`, a
  comma-separated list per pattern; OAS `certificatePinning.domainToPublicKeysMapping[].publicKeys` when
  `enabled`). Pin patterns are `*`, `*.parent` or a host; one with a port is an error (Tyk never matches
  it); an entry without keys is an error. `certificate_pinning_disabled` / `enabled: false`: no pins.
* **Upstream proxy**: Classic `proxy.transport.proxy_url`, OAS `upstream.proxy.url` (`enabled` ignored,
  as in Tyk); when set it must be an absolute http:// or https:// URL.
* **Listener**: `http_server_options.use_ssl` -> `ListenerTls` with `certificates[]` (`cert_file`
  required) then `ssl_certificates`, versions, ciphers and `enable_http2`; no certificate at all is
  allowed here (APIs' certificates may provide them; the listener build refuses an empty set).
  `use_ssl` false -> None.
* **Server certificates**: Classic `certificates` unless `domain_disabled`; OAS
  `server.customDomain.certificates` when `customDomain.enabled`.
* **Client-certificate auth**: Classic `use_mutual_tls_auth` with `client_certificates`, OAS
  `server.clientCertificates{enabled, allowlist}` -> `ClientCertificateAuth`, the gateway's
  `security.certificates.apis` appended (as Tyk adds them); off -> None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from bascule.compat.tyk.classic import ClassicApiDefinition, ClassicTransport
from bascule.compat.tyk.field_tree import format_json_path
from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.oas import OAS_EXTENSION_KEY, OasTlsTransport, XTykApiGateway
from bascule.compat.tyk.tyk_values import ProblemSink
from bascule.config.gateway import GatewaySettings
from bascule.config.outbound import TlsVersion
from bascule.config.tls import (
    ClientCertificateAuth,
    HostCertificate,
    HostPins,
    ListenerTls,
    ServerCertificate,
    UpstreamTls,
)
from bascule.core.cipher_names import openssl_cipher_name
from bascule.core.host_patterns import parse_host_pattern
from bascule.core.proxy_route import parse_proxy_url
from bascule.observability.redaction import redact_url

_OAS = f"$.{OAS_EXTENSION_KEY}"
DEFAULT_MIN_VERSION: TlsVersion = "1.2"
GO_TLS_VERSIONS: Mapping[int, TlsVersion] = {769: "1.0", 770: "1.1", 771: "1.2", 772: "1.3"}
_VERSION_ORDER: Sequence[TlsVersion] = ("1.0", "1.1", "1.2", "1.3")
_NAMED_VERSIONS: Mapping[str, TlsVersion] = {version: version for version in _VERSION_ORDER}
_UNSAFE_URL_CHARACTER = frozenset(chr(code) for code in (*range(0x21), 0x7F))


@dataclass(frozen=True, slots=True)
class ApiTls:
    """What one API definition says about TLS, the gateway's upstream settings merged in."""

    upstream_tls: UpstreamTls
    server_certificates: tuple[str, ...] = ()
    client_certificate_auth: ClientCertificateAuth | None = None


@dataclass(frozen=True, slots=True)
class _ApiUpstream:
    """The API layer of `UpstreamTls`, validated; `None`/empty means "not set" (the gateway's value)."""

    insecure_skip_verify: bool
    min_version: TlsVersion | None
    max_version: TlsVersion | None
    max_path: str
    ciphers: tuple[str, ...]
    force_common_name_check: bool
    certificates_disabled: bool
    client_certificates: tuple[HostCertificate, ...]
    pinning_disabled: bool
    pins: tuple[HostPins, ...]
    proxy_url: str


# --- gateway -----------------------------------------------------------------------------------------


def translate_gateway_upstream_tls(conf: TykGatewayConf, problems: ProblemSink) -> UpstreamTls:
    """The gateway-wide upstream layer: `proxy_ssl_*`, `ssl_force_common_name_check`, `security.*`."""
    security = conf.security
    minimum = _go_version(conf.proxy_ssl_min_version, "$.proxy_ssl_min_version", problems)
    maximum = _go_version(conf.proxy_ssl_max_version, "$.proxy_ssl_max_version", problems)
    minimum = minimum or DEFAULT_MIN_VERSION
    _check_order(minimum, maximum, "$.proxy_ssl_max_version", problems)
    return UpstreamTls(
        insecure_skip_verify=conf.proxy_ssl_insecure_skip_verify,
        min_version=minimum,
        max_version=maximum,
        ciphers=_ciphers(conf.proxy_ssl_ciphers, "$.proxy_ssl_ciphers", problems),
        force_common_name_check=conf.ssl_force_common_name_check,
        client_certificates=tuple(
            replace(entry, from_gateway=True)
            for entry in _host_certificates(
                security.certificates.upstream.items(), "$.security.certificates.upstream", problems
            )
        ),
        pins=tuple(
            replace(entry, from_gateway=True)
            for entry in _host_pins(
                ((pattern, _split_refs(refs)) for pattern, refs in security.pinned_public_keys.items()),
                "$.security.pinned_public_keys",
                problems,
            )
        ),
    )


def translate_listener_tls(conf: TykGatewayConf, problems: ProblemSink) -> ListenerTls | None:
    """`http_server_options.use_ssl` and its settings; None for plain listeners."""
    options = conf.http_server_options
    if not options.use_ssl:
        return None
    path = "$.http_server_options"
    certificates = []
    for i, files in enumerate(options.certificates):
        if not files.cert_file:
            problems.add(f"{path}.certificates[{i}].cert_file", "cert_file is required")
            continue
        certificates.append(ServerCertificate(files.cert_file, files.key_file, files.domain_name.lower()))
    for i, ref in enumerate(options.ssl_certificates):
        if _has_ref(ref, f"{path}.ssl_certificates[{i}]", problems):
            certificates.append(ServerCertificate(ref))
    minimum = _go_version(options.min_version, f"{path}.min_version", problems) or DEFAULT_MIN_VERSION
    maximum = _go_version(options.max_version, f"{path}.max_version", problems)
    _check_order(minimum, maximum, f"{path}.max_version", problems)
    return ListenerTls(
        certificates=tuple(certificates),
        min_version=minimum,
        max_version=maximum,
        ciphers=_ciphers(options.ssl_ciphers, f"{path}.ssl_ciphers", problems),
        enable_http2=options.enable_http2,
    )


# --- APIs --------------------------------------------------------------------------------------------


def translate_classic_tls(api: ClassicApiDefinition, gateway: GatewaySettings, problems: ProblemSink) -> ApiTls:
    """The TLS settings of a Classic definition, merged with `gateway.upstream_tls`."""
    transport = _classic_transport(api.proxy.transport, problems)
    layer = _ApiUpstream(
        insecure_skip_verify=transport.ssl_insecure_skip_verify,
        min_version=_go_version(transport.ssl_min_version, "$.proxy.transport.ssl_min_version", problems),
        max_version=_go_version(transport.ssl_max_version, "$.proxy.transport.ssl_max_version", problems),
        max_path="$.proxy.transport.ssl_max_version",
        ciphers=_ciphers(transport.ssl_ciphers, "$.proxy.transport.ssl_ciphers", problems),
        force_common_name_check=transport.ssl_force_common_name_check,
        certificates_disabled=api.upstream_certificates_disabled,
        client_certificates=_host_certificates(api.upstream_certificates.items(), "$.upstream_certificates", problems),
        pinning_disabled=api.certificate_pinning_disabled,
        pins=_host_pins(
            ((pattern, _split_refs(refs)) for pattern, refs in api.pinned_public_keys.items()),
            "$.pinned_public_keys",
            problems,
        ),
        proxy_url=_proxy_url(transport.proxy_url, "$.proxy.transport.proxy_url", problems),
    )
    auth = None
    if api.use_mutual_tls_auth:
        auth = _client_auth(api.client_certificates, "$.client_certificates", gateway, problems)
    return ApiTls(
        upstream_tls=_merge(gateway.upstream_tls, layer, problems),
        server_certificates=() if api.domain_disabled else _refs(api.certificates, "$.certificates", problems),
        client_certificate_auth=auth,
    )


def translate_oas_tls(extension: XTykApiGateway, gateway: GatewaySettings, problems: ProblemSink) -> ApiTls:
    """The TLS settings of an OAS `x-tyk-api-gateway`, merged with `gateway.upstream_tls`."""
    upstream, server = extension.upstream, extension.server
    up = f"{_OAS}.upstream"
    transport = upstream.tls_transport or OasTlsTransport()
    mtls, pinning = upstream.mutual_tls, upstream.certificate_pinning
    certificates: tuple[HostCertificate, ...] = ()
    if mtls is not None and mtls.enabled:
        mapping = f"{up}.mutualTLS.domainToCertificateMapping"
        certificates = _host_certificates(
            ((entry.domain, entry.certificate) for entry in mtls.domain_to_certificate_mapping),
            mapping,
            problems,
            indexed=True,
        )
    pins: tuple[HostPins, ...] = ()
    if pinning is not None and pinning.enabled:
        mapping = f"{up}.certificatePinning.domainToPublicKeysMapping"
        entries = ((entry.domain, tuple(entry.public_keys)) for entry in pinning.domain_to_public_keys_mapping)
        pins = _host_pins(entries, mapping, problems, indexed=True)
    layer = _ApiUpstream(
        insecure_skip_verify=transport.insecure_skip_verify,
        min_version=_named_version(transport.min_version, f"{up}.tlsTransport.minVersion", problems),
        max_version=_named_version(transport.max_version, f"{up}.tlsTransport.maxVersion", problems),
        max_path=f"{up}.tlsTransport.maxVersion",
        ciphers=_ciphers(transport.ciphers, f"{up}.tlsTransport.ciphers", problems),
        force_common_name_check=transport.force_common_name_check,
        certificates_disabled=mtls is not None and not mtls.enabled,
        client_certificates=certificates,
        pinning_disabled=pinning is not None and not pinning.enabled,
        pins=pins,
        proxy_url=_proxy_url(upstream.proxy.url if upstream.proxy else "", f"{up}.proxy.url", problems),
    )
    domain = server.custom_domain
    served: tuple[str, ...] = ()
    if domain is not None and domain.enabled:
        served = _refs(domain.certificates, f"{_OAS}.server.customDomain.certificates", problems)
    auth = None
    if server.client_certificates is not None and server.client_certificates.enabled:
        allowlist = server.client_certificates.allowlist
        auth = _client_auth(allowlist, f"{_OAS}.server.clientCertificates.allowlist", gateway, problems)
    return ApiTls(_merge(gateway.upstream_tls, layer, problems), served, auth)


def _merge(gateway: UpstreamTls, api: _ApiUpstream, problems: ProblemSink) -> UpstreamTls:
    """The API layer over the gateway's (module rule **Layering**)."""
    minimum = api.min_version or gateway.min_version
    maximum = api.max_version or gateway.max_version
    _check_order(minimum, maximum, api.max_path, problems)
    return UpstreamTls(
        insecure_skip_verify=gateway.insecure_skip_verify or api.insecure_skip_verify,
        min_version=minimum,
        max_version=maximum,
        ciphers=api.ciphers or gateway.ciphers,
        force_common_name_check=gateway.force_common_name_check or api.force_common_name_check,
        client_certificates=() if api.certificates_disabled else gateway.client_certificates + api.client_certificates,
        pins=() if api.pinning_disabled else gateway.pins + api.pins,
        proxy_url=api.proxy_url,
    )


def _classic_transport(written: Mapping[str, Any], problems: ProblemSink) -> ClassicTransport:
    try:
        return ClassicTransport.model_validate(dict(written))
    except ValidationError as error:
        for detail in error.errors():
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
            problems.add(f"$.proxy.transport{where}", str(detail["msg"]))
        return ClassicTransport()


def _client_auth(
    allowed: Sequence[str], path: str, gateway: GatewaySettings, problems: ProblemSink
) -> ClientCertificateAuth:
    return ClientCertificateAuth(allowed=_refs(allowed, path, problems) + _gateway_api_certificates(gateway))


def _gateway_api_certificates(gateway: GatewaySettings) -> tuple[str, ...]:
    """tyk.conf `security.certificates.apis`, read from `raw` (validated there as a list of strings)."""
    security = gateway.raw.get("security")
    certificates = security.get("certificates") if isinstance(security, Mapping) else None
    apis = certificates.get("apis") if isinstance(certificates, Mapping) else None
    return tuple(ref for ref in apis if isinstance(ref, str) and ref) if isinstance(apis, list) else ()


# --- values ------------------------------------------------------------------------------------------


def _go_version(value: int, path: str, problems: ProblemSink) -> TlsVersion | None:
    if value == 0:
        return None
    version = GO_TLS_VERSIONS.get(value)
    if version is None:
        problems.add(path, f"TLS version {value} is not one of 769 (1.0), 770 (1.1), 771 (1.2), 772 (1.3) or 0")
    return version


def _named_version(value: str, path: str, problems: ProblemSink) -> TlsVersion | None:
    if not value:
        return None
    version = _NAMED_VERSIONS.get(value)
    if version is None:
        problems.add(path, f'TLS version {value!r} is not one of "1.0", "1.1", "1.2", "1.3"')
    return version


def _check_order(minimum: TlsVersion, maximum: TlsVersion | None, path: str, problems: ProblemSink) -> None:
    if maximum is not None and _VERSION_ORDER.index(maximum) < _VERSION_ORDER.index(minimum):
        problems.add(path, f"maximum TLS version {maximum} is below the minimum {minimum}")


def _ciphers(names: Sequence[str], path: str, problems: ProblemSink) -> tuple[str, ...]:
    known = []
    for i, name in enumerate(names):
        if openssl_cipher_name(name) is None:
            problems.add(f"{path}[{i}]", f"unknown cipher suite {name!r}; use a Go name such as {_EXAMPLE_CIPHER}")
        else:
            known.append(name)
    return tuple(known)


_EXAMPLE_CIPHER = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"


def _host_certificates(
    entries: Iterable[tuple[str, str]], path: str, problems: ProblemSink, *, indexed: bool = False
) -> tuple[HostCertificate, ...]:
    """Valid entries; `indexed`: `path[i].domain` / `.certificate` (OAS lists), else `path['<pattern>']`."""
    found = []
    for i, (pattern, ref) in enumerate(entries):
        at = f"{path}[{i}]" if indexed else _key_path(path, pattern)
        pattern_ok = _pattern(pattern, f"{at}.domain" if indexed else at, problems, with_port=True)
        if _has_ref(ref, f"{at}.certificate" if indexed else at, problems) and pattern_ok:
            found.append(HostCertificate(pattern, ref))
    return tuple(found)


def _host_pins(
    entries: Iterable[tuple[str, tuple[str, ...]]], path: str, problems: ProblemSink, *, indexed: bool = False
) -> tuple[HostPins, ...]:
    found = []
    for i, (pattern, refs) in enumerate(entries):
        at = f"{path}[{i}]" if indexed else _key_path(path, pattern)
        pattern_ok = _pattern(pattern, f"{at}.domain" if indexed else at, problems, with_port=False)
        keys = tuple(ref.strip() for ref in refs if ref.strip())
        if not keys:
            problems.add(f"{at}.publicKeys" if indexed else at, "no public keys for this pattern")
        elif pattern_ok:
            found.append(HostPins(pattern, keys))
    return tuple(found)


def _pattern(pattern: str, path: str, problems: ProblemSink, *, with_port: bool) -> bool:
    try:
        parsed = parse_host_pattern(pattern)
    except ValueError as error:
        problems.add(path, str(error))
        return False
    if parsed.port is not None and not with_port:
        problems.add(path, f"pin pattern {pattern!r} has a port; pins are chosen by host only")
        return False
    return True


def _split_refs(refs: str) -> tuple[str, ...]:
    """Classic and tyk.conf pins: comma-separated references."""
    return tuple(refs.split(","))


def _refs(refs: Sequence[str], path: str, problems: ProblemSink) -> tuple[str, ...]:
    return tuple(ref for i, ref in enumerate(refs) if _has_ref(ref, f"{path}[{i}]", problems))


def _has_ref(ref: str, path: str, problems: ProblemSink) -> bool:
    if not ref.strip():
        problems.add(path, "the certificate reference is empty")
        return False
    return True


def _proxy_url(url: str, path: str, problems: ProblemSink) -> str:
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError:
        valid = False
    if not valid or any(character in _UNSAFE_URL_CHARACTER for character in url):
        problems.add(path, f"proxy URL {redact_url(url)!r} is not an absolute http:// or https:// URL")
        return ""
    try:
        parse_proxy_url(url)  # the parser the dial path uses: no path, query or fragment, a valid port
    except ValueError as error:
        problems.add(path, f"proxy URL {redact_url(url)!r}: {error}")
        return ""
    return url


def _key_path(path: str, key: str) -> str:
    """`$.upstream_certificates` + `*.internal` -> `$.upstream_certificates['*.internal']`."""
    return path + format_json_path((key,))[1:]
