"""tyk.conf's `external_services` (+ legacy keys + the process environment) -> one `ServiceProfile` per service.

Pure: the environment is passed in. Every row below is a test in `tests/unit/compat/test_external_services.py`.

Proxy (DECISIONS §5-8): the precedence of `bascule.core.proxy_route.resolve_proxy_settings`, per service;
URLs parsed by `parse_proxy_url`; bypass entries checked by `parse_bypass_entry`. `NO_PROXY` entries get
Go's meaning (`go_no_proxy_entries`), and an invalid one there is dropped with a warning, since the
process environment is not the operator's tyk.conf; an invalid entry written in tyk.conf is a problem.

TLS (DECISIONS §6, §9, §11):
- `mtls.enabled: false` leaves the whole block unread: default TLS (system roots, verification on,
  TLS 1.2-1.3). For `storage`, the legacy `storage.*` TLS fields then apply when `storage.use_ssl` is on.
- Certificate store wins over files: `cert_id` with `cert_file`/`key_file` keeps `cert_id` and drops the
  files, `ca_cert_ids` with `ca_file` drops `ca_file`; a warning each.
- Problems, with Tyk's texts after `invalid mTLS configuration: `: only one of `cert_file`/`key_file`
  (`both cert_file and key_file must be specified for file-based configuration`); an enabled block that
  says nothing at all (`mTLS enabled but no certificate configuration provided`). CA-only is valid; so is
  a block with only `insecure_skip_verify` (the docs' migration example) or only TLS versions.
- Versions: "" means 1.2 (min) / 1.3 (max); a default min above a written max drops to it (`tls_max_version:
  "1.1"` alone means 1.1 only); a written min above a written max is a problem. Other strings never get
  here: the model admits only "1.0".."1.3".
- `insecure_skip_verify`: the enabled block's value when written; else, for oauth, the legacy
  `jwt_ssl_insecure_skip_verify` (and for storage, `storage.ssl_insecure_skip_verify` under the legacy
  fallback); else false. When true: one warning per service.

Pools and timeouts (DECISIONS §13): `DEFAULTS`, each field overridden by a non-zero
`external_services.<svc>.pool.*` / `.timeout` (a bascule extension).

Global values written while `global.enabled` is false are unused: one warning each.

Problems fail the service closed (`ServiceProfile.problems`); `load_gateway` also reports them as config
errors, so `bascule check` and startup exit 2 (a bad URL or mTLS block is a wrong value in the config).
Messages never contain a proxy password (`redact_url`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from bascule.compat.tyk.conf_problems import problem_at
from bascule.compat.tyk.field_tree import JsonPath
from bascule.compat.tyk.gateway_conf import MtlsConf, ProxyConf, ServiceConf, StorageConf, TykGatewayConf
from bascule.config.outbound import (
    BypassEntry,
    PoolLimits,
    ProxyEndpoint,
    ProxyRoute,
    ServiceProfile,
    ServiceType,
    TlsClientSettings,
    TlsVersion,
    ValueOrigin,
)
from bascule.config.outbound_defaults import DEFAULTS
from bascule.core.proxy_bypass import go_no_proxy_entries, parse_bypass_entry, split_bypass_list
from bascule.core.proxy_route import ProxyLayer, ProxySettings, SourcedValue, parse_proxy_url, resolve_proxy_settings
from bascule.errors import ConfigProblem
from bascule.observability.redaction import redact_url

TLS_VERSIONS: tuple[TlsVersion, ...] = ("1.0", "1.1", "1.2", "1.3")
DEFAULT_MIN_TLS: TlsVersion = "1.2"
DEFAULT_MAX_TLS: TlsVersion = "1.3"
INVALID_MTLS = "failed to configure TLS: invalid mTLS configuration: "


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem or warning about services' settings, located where the value was written."""

    services: tuple[ServiceType, ...]
    json_path: JsonPath
    """Where in tyk.conf; () when the value came from a process environment variable."""
    variable: str
    """That variable (`HTTP_PROXY`, ...) when `json_path` is ()."""
    message: str


@dataclass(frozen=True, slots=True)
class ExternalServicesTranslation:
    profiles: Mapping[ServiceType, ServiceProfile]
    problems: tuple[Finding, ...]
    warnings: tuple[Finding, ...]


def translate_external_services(conf: TykGatewayConf, environ: Mapping[str, str]) -> ExternalServicesTranslation:
    """A profile for every service type, and what is wrong or risky about them (module docstring)."""
    profiles: dict[ServiceType, ServiceProfile] = {}
    problems: list[Finding] = []
    warnings: list[Finding] = []
    for service in ServiceType:
        own = _Collector(service)
        profiles[service] = _profile(service, conf, environ, own)
        problems.extend(own.problems)
        warnings.extend(own.warnings)
    warnings.extend(_unused_global(conf.external_services.global_))
    return ExternalServicesTranslation(MappingProxyType(profiles), tuple(problems), tuple(warnings))


def translate_upstream_proxy(environ: Mapping[str, str]) -> tuple[ProxyRoute, list[Finding]]:
    """The proxies for API upstream traffic without a `proxy_url`: `HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`
    (either case), with Go's rules, as Tyk's transport uses them (loopback never proxied). An invalid value is
    a warning (naming no service) and that proxy is not used."""
    settings = resolve_proxy_settings(ProxyLayer(enabled=True), ProxyLayer(), environ)
    out = _Collector(ServiceType.HEALTH)  # the service only names the JSON path of findings, none here
    route = _route(ServiceType.HEALTH, settings, out)
    findings = [replace(finding, services=()) for finding in [*out.problems, *out.warnings]]
    return route, findings


def _unused_global(global_: ProxyConf) -> list[Finding]:
    """Global values written while `global.enabled` is false are not used (the docs' Quick Start does this)."""
    if global_.enabled:
        return []
    written = [key for key in ("http_proxy", "https_proxy", "bypass_proxy") if getattr(global_, key).strip()]
    message = "ignored: external_services.global.enabled is false"
    return [Finding((), ("external_services", "global", key), "", message) for key in written]


def blame_findings(
    findings: Iterable[Finding], *, file: Path | None, origins: Mapping[JsonPath, str]
) -> list[ConfigProblem]:
    """One `ConfigProblem` per place and message, naming the services it affects; a value set by a
    `TYK_GW_*` variable is blamed on it (`problem_at`), one from `HTTP_PROXY` & co. on that variable."""
    grouped: dict[tuple[JsonPath, str, str], list[ServiceType]] = {}
    for finding in findings:
        services = grouped.setdefault((finding.json_path, finding.variable, finding.message), [])
        services.extend(s for s in finding.services if s not in services)
    problems = []
    for (json_path, variable, message), services in grouped.items():
        text = f"{', '.join(services)}: {message}" if services else message
        if json_path:
            problems.append(problem_at(json_path, text, file=file, origins=origins))
        else:
            problems.append(ConfigProblem(None, variable, text))
    return problems


class _Collector:
    def __init__(self, service: ServiceType) -> None:
        self.service = service
        self.problems: list[Finding] = []
        self.warnings: list[Finding] = []

    def problem(self, json_path: JsonPath, message: str, variable: str = "") -> None:
        self.problems.append(Finding((self.service,), json_path, variable, message))

    def warning(self, json_path: JsonPath, message: str, variable: str = "") -> None:
        self.warnings.append(Finding((self.service,), json_path, variable, message))


def _profile(service: ServiceType, conf: TykGatewayConf, environ: Mapping[str, str], out: _Collector) -> ServiceProfile:
    block: ServiceConf = getattr(conf.external_services, service.value)
    legacy = ProxyLayer(http_proxy=conf.http_proxy, https_proxy=conf.https_proxy)
    settings = resolve_proxy_settings(_layer(block.proxy), _layer(conf.external_services.global_), environ, legacy)
    route = _route(service, settings, out)
    tls, tls_origin = _tls(service, conf, out)
    insecure, insecure_origin, insecure_path = _insecure_skip_verify(service, conf)
    if insecure:
        out.warning(insecure_path, "insecure_skip_verify is on: the service's certificate is not verified")
    row = DEFAULTS[service]
    pool_written = (block.pool.max_idle, block.pool.max_idle_per_host, block.pool.idle_timeout)
    pool = PoolLimits(
        max_idle=block.pool.max_idle or row.pool.max_idle,
        max_idle_per_host=block.pool.max_idle_per_host or row.pool.max_idle_per_host,
        idle_timeout=float(block.pool.idle_timeout or row.pool.idle_timeout),
        tls_handshake_timeout=row.pool.tls_handshake_timeout,
    )
    origins: dict[str, ValueOrigin] = {
        name: value.origin if value is not None else "default"
        for name, value in (
            ("http_proxy", settings.http_proxy),
            ("https_proxy", settings.https_proxy),
            ("bypass_proxy", settings.bypass_proxy),
        )
    }
    origins.update(
        tls=tls_origin,
        insecure_skip_verify=insecure_origin,
        pool="service" if any(pool_written) else "default",
        timeout="service" if block.timeout else "default",
    )
    return ServiceProfile(
        service=service,
        proxy=route,
        tls=replace(tls, insecure_skip_verify=insecure),
        pool=pool,
        timeout=float(block.timeout or row.timeout),
        problems=tuple(f"{service}: {finding.message}" for finding in out.problems),
        origins=MappingProxyType(origins),
    )


def _layer(block: ProxyConf) -> ProxyLayer:
    return ProxyLayer(block.enabled, block.http_proxy, block.https_proxy, block.bypass_proxy)


# --- proxy -------------------------------------------------------------------------------------------------


def _where(service: ServiceType, setting: str, value: SourcedValue) -> tuple[JsonPath, str]:
    paths: Mapping[str, JsonPath] = {
        "service": ("external_services", service.value, "proxy", setting),
        "global": ("external_services", "global", setting),
        "legacy": (setting,),
    }
    return paths.get(value.origin, ()), value.variable


def _route(service: ServiceType, settings: ProxySettings, out: _Collector) -> ProxyRoute:
    endpoints: dict[str, ProxyEndpoint | None] = {}
    for setting, label in (("http_proxy", "HTTP"), ("https_proxy", "HTTPS")):
        value: SourcedValue | None = getattr(settings, setting)
        endpoints[setting] = None
        if value is None:
            continue
        try:
            url = parse_proxy_url(value.text)
        except ValueError as error:
            json_path, variable = _where(service, setting, value)
            cause = f'invalid {label} proxy URL: parse "{redact_url(value.text)}": {error}'
            out.problem(json_path, f"failed to configure proxy: {cause}", variable)
            continue
        endpoints[setting] = ProxyEndpoint(url.scheme, url.host, url.port, url.username, url.password)
    return ProxyRoute(
        http_proxy=endpoints["http_proxy"],
        https_proxy=endpoints["https_proxy"],
        bypass=_bypass(service, settings.bypass_proxy, out),
        loopback_never_proxied=settings.loopback_never_proxied,
    )


def _bypass(service: ServiceType, value: SourcedValue | None, out: _Collector) -> tuple[BypassEntry, ...]:
    if value is None:
        return ()
    from_environment = value.origin == "environment"
    entries = split_bypass_list(value.text)
    if from_environment:
        entries = go_no_proxy_entries(entries)
    kept: list[BypassEntry] = []
    for entry in entries:
        try:
            parse_bypass_entry(entry)
        except ValueError as error:
            json_path, variable = _where(service, "bypass_proxy", value)
            if from_environment:
                out.warning(json_path, f'bypass_proxy entry "{entry}" ignored: {error}', variable)
            else:
                out.problem(json_path, f'failed to configure proxy: invalid bypass entry "{entry}": {error}')
            continue
        kept.append(BypassEntry(entry))
    return tuple(kept)


# --- TLS ---------------------------------------------------------------------------------------------------


def _tls(service: ServiceType, conf: TykGatewayConf, out: _Collector) -> tuple[TlsClientSettings, ValueOrigin]:
    mtls: MtlsConf = getattr(conf.external_services, service.value).mtls
    if mtls.enabled:
        return _from_mtls(mtls, ("external_services", service.value, "mtls"), out), "service"
    if service is ServiceType.STORAGE and conf.storage.use_ssl and _writes_tls(conf.storage):
        return _from_legacy_storage(conf.storage, out), "legacy"
    return TlsClientSettings(), "default"


def _from_mtls(mtls: MtlsConf, path: JsonPath, out: _Collector) -> TlsClientSettings:
    cert_file, key_file, ca_file = mtls.cert_file, mtls.key_file, mtls.ca_file
    if mtls.cert_id and (cert_file or key_file):
        message = "cert_id and cert_file/key_file are both set: the certificate store wins, the files are ignored"
        out.warning(path, message)
        cert_file = key_file = ""
    if mtls.ca_cert_ids and ca_file:
        out.warning(path, "ca_cert_ids and ca_file are both set: the certificate store wins, ca_file is ignored")
        ca_file = ""
    written = (mtls.cert_file, mtls.key_file, mtls.ca_file, mtls.cert_id, mtls.ca_cert_ids, mtls.insecure_skip_verify)
    if not any(written) and not (mtls.tls_min_version or mtls.tls_max_version):
        out.problem(path, f"{INVALID_MTLS}mTLS enabled but no certificate configuration provided")
    _check_pair(cert_file, key_file, path, out)
    min_version, max_version = _versions(mtls.tls_min_version, mtls.tls_max_version, path, out)
    return TlsClientSettings(
        cert_file=_path(cert_file),
        key_file=_path(key_file),
        ca_file=_path(ca_file),
        cert_id=mtls.cert_id,
        ca_cert_ids=tuple(mtls.ca_cert_ids),
        min_version=min_version,
        max_version=max_version,
    )


def _writes_tls(storage: StorageConf) -> bool:
    written = (storage.cert_file, storage.key_file, storage.ca_file, storage.tls_min_version, storage.tls_max_version)
    return any(written) or storage.ssl_insecure_skip_verify


def _from_legacy_storage(storage: StorageConf, out: _Collector) -> TlsClientSettings:
    path: JsonPath = ("storage",)
    _check_pair(storage.cert_file, storage.key_file, path, out)
    min_version, max_version = _versions(storage.tls_min_version, storage.tls_max_version, path, out)
    return TlsClientSettings(
        cert_file=_path(storage.cert_file),
        key_file=_path(storage.key_file),
        ca_file=_path(storage.ca_file),
        min_version=min_version,
        max_version=max_version,
    )


def _check_pair(cert_file: str, key_file: str, path: JsonPath, out: _Collector) -> None:
    if bool(cert_file) != bool(key_file):
        out.problem(path, f"{INVALID_MTLS}both cert_file and key_file must be specified for file-based configuration")


def _versions(written_min: str, written_max: str, path: JsonPath, out: _Collector) -> tuple[TlsVersion, TlsVersion]:
    max_version = _tls_version(written_max, DEFAULT_MAX_TLS)
    min_version = _tls_version(written_min, min(DEFAULT_MIN_TLS, max_version, key=TLS_VERSIONS.index))
    if TLS_VERSIONS.index(min_version) > TLS_VERSIONS.index(max_version):
        message = f'tls_min_version "{min_version}" is above tls_max_version "{max_version}"'
        out.problem(path, f"{INVALID_MTLS}{message}")
    return min_version, max_version


def _tls_version(written: str, default: TlsVersion) -> TlsVersion:
    for version in TLS_VERSIONS:
        if written == version:
            return version
    return default


def _path(text: str) -> Path | None:
    return Path(text) if text else None


def _insecure_skip_verify(service: ServiceType, conf: TykGatewayConf) -> tuple[bool, ValueOrigin, JsonPath]:
    mtls: MtlsConf = getattr(conf.external_services, service.value).mtls
    if mtls.enabled and "insecure_skip_verify" in mtls.model_fields_set:
        path: JsonPath = ("external_services", service.value, "mtls", "insecure_skip_verify")
        return mtls.insecure_skip_verify, "service", path
    if service is ServiceType.OAUTH and conf.jwt_ssl_insecure_skip_verify:
        return True, "legacy", ("jwt_ssl_insecure_skip_verify",)
    storage = conf.storage
    legacy_storage = service is ServiceType.STORAGE and not mtls.enabled and storage.use_ssl
    if legacy_storage and storage.ssl_insecure_skip_verify:
        return True, "legacy", ("storage", "ssl_insecure_skip_verify")
    return False, "default", ()
