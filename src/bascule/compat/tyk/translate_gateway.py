"""Validated tyk.conf -> `GatewaySettings`: Tyk's "0 means default" rules resolved once, here.

Resolutions (each a row of `tests/unit/compat/test_gateway_conf.py`):
- `http_server_options.read_timeout` / `write_timeout`: 0 -> 120 s (Tyk's `defReadTimeout`).
- `proxy_default_timeout`: 0 -> 30 s.
- `storage.timeout`: 0 -> 5 s.
- `storage.type`: "" (absent) or "memory" -> in-memory storage; "redis" -> Redis (`STORAGE_KINDS`;
  the model admits no other value).
- `health_check_endpoint_name`: "" -> "hello".
- `graceful_shutdown_timeout_duration`: taken as written (absent is 30 s; 0 means do not wait, as a Go
  context with a zero timeout does).
- `app_path`: a relative path is resolved against `cwd`, the process's working directory, as Tyk does.
- `uptime_tests`: `disable` -> `enabled=False`; `config.failure_trigger_sample_size` 0 -> 3;
  `config.time_wait` 0 -> 10 s; `config.checker_pool_size` 0 stays 0 (50 checks at once, resolved where
  the checker runs); `poller_group` and `config.enable_uptime_analytics` as written.
- `service_discovery.default_cache_timeout`: 0 -> 120 s.
- `raw`: the whole validated document in Tyk's names (`model_dump(by_alias=True)`), defaults filled
  in, unknown keys absent.
- TLS (`translate_tls`, rules tested in `test_translate_tls.py`): `listener_tls` from
  `http_server_options.use_ssl` & co. (None when off), `upstream_tls` from `proxy_ssl_*`,
  `ssl_force_common_name_check` and `security.*`. A bad value is a `ConfigError` blamed on `source` and
  its JSON path (not yet on the env variable that set it).
- `external_services`: one profile per service (`translate_external_services`), resolved with the
  process environment by the loader, which also reports their problems; without one given, resolved
  from `conf` alone (no `HTTP_PROXY` & co.).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bascule.compat.tyk.gateway_conf import HttpServerOptionsConf, StorageConf, TykGatewayConf, UptimeTestsConf
from bascule.compat.tyk.translate_external_services import translate_external_services
from bascule.compat.tyk.translate_tls import translate_gateway_upstream_tls, translate_listener_tls
from bascule.config.gateway import (
    GatewaySettings,
    HttpServerSettings,
    StorageKind,
    StorageSettings,
    UptimeSettings,
)
from bascule.config.outbound import ProxyRoute, ServiceProfile, ServiceType
from bascule.errors import ConfigError, ConfigProblem

DEFAULT_SERVER_TIMEOUT = 120.0
DEFAULT_PROXY_TIMEOUT = 30.0
DEFAULT_STORAGE_TIMEOUT = 5.0
DEFAULT_HEALTH_CHECK_ENDPOINT = "hello"
DEFAULT_JWKS_CACHE_TIMEOUT = 240.0
DEFAULT_UPTIME_SAMPLE_SIZE = 3
DEFAULT_UPTIME_INTERVAL = 10.0
DEFAULT_DISCOVERY_CACHE_TIMEOUT = 120.0

STORAGE_KINDS: Mapping[str, StorageKind] = {"": "memory", "memory": "memory", "redis": "redis"}


class _Problems:
    """TLS problems of one tyk.conf, blamed on the file and JSON path."""

    def __init__(self, source: Path | None) -> None:
        self._source = source
        self.found: list[ConfigProblem] = []

    def add(self, json_path: str, message: str) -> None:
        self.found.append(ConfigProblem(self._source, json_path, message))


def _or_default(value: float, default: float) -> float:
    return float(value) if value > 0 else default


def translate_gateway(
    conf: TykGatewayConf,
    *,
    source: Path | None,
    cwd: Path,
    external_services: Mapping[ServiceType, ServiceProfile] | None = None,
    upstream_proxy: ProxyRoute | None = None,
) -> GatewaySettings:
    """The native settings for `conf`, read from `source` (None: embedded defaults)."""
    if external_services is None:
        external_services = translate_external_services(conf, {}).profiles
    problems = _Problems(source)
    listener_tls = translate_listener_tls(conf, problems)
    upstream_tls = translate_gateway_upstream_tls(conf, problems)
    if problems.found:
        raise ConfigError(problems.found)
    return GatewaySettings(
        source=source,
        listen_address=conf.listen_address,
        listen_port=conf.listen_port,
        control_api_hostname=conf.control_api_hostname,
        control_api_port=conf.control_api_port,
        secret=conf.secret,
        app_path=cwd / conf.app_path,
        log_level=conf.log_level,
        hostname=conf.hostname,
        enable_custom_domains=conf.enable_custom_domains,
        proxy_default_timeout=_or_default(conf.proxy_default_timeout, DEFAULT_PROXY_TIMEOUT),
        graceful_shutdown_timeout=float(conf.graceful_shutdown_timeout_duration),
        enable_analytics=conf.enable_analytics,
        health_check_endpoint_name=conf.health_check_endpoint_name or DEFAULT_HEALTH_CHECK_ENDPOINT,
        http_server=_http_server(conf.http_server_options),
        storage=_storage(conf.storage),
        uptime=_uptime(conf.uptime_tests),
        listener_tls=listener_tls,
        upstream_tls=upstream_tls,
        jwks_cache_timeout=_or_default(conf.jwks.cache.timeout, DEFAULT_JWKS_CACHE_TIMEOUT),
        discovery_cache_timeout=_or_default(
            conf.service_discovery.default_cache_timeout, DEFAULT_DISCOVERY_CACHE_TIMEOUT
        ),
        external_services=external_services,
        upstream_proxy=upstream_proxy or ProxyRoute(),
        raw=conf.model_dump(by_alias=True, mode="json"),
    )


def _http_server(options: HttpServerOptionsConf) -> HttpServerSettings:
    return HttpServerSettings(
        read_timeout=_or_default(options.read_timeout, DEFAULT_SERVER_TIMEOUT),
        write_timeout=_or_default(options.write_timeout, DEFAULT_SERVER_TIMEOUT),
        max_request_body_size=options.max_request_body_size,
        skip_url_cleaning=options.skip_url_cleaning,
        skip_target_path_escaping=options.skip_target_path_escaping,
        enable_strict_routes=options.enable_strict_routes,
        enable_websockets=options.enable_websockets,
    )


def _storage(storage: StorageConf) -> StorageSettings:
    return StorageSettings(
        kind=STORAGE_KINDS[storage.type],
        host=storage.host,
        port=storage.port,
        addrs=tuple(storage.addrs),
        username=storage.username,
        password=storage.password,
        database=storage.database,
        use_ssl=storage.use_ssl,
        timeout=_or_default(storage.timeout, DEFAULT_STORAGE_TIMEOUT),
    )


def _uptime(uptime: UptimeTestsConf) -> UptimeSettings:
    config = uptime.config
    return UptimeSettings(
        enabled=not uptime.disable,
        poller_group=uptime.poller_group,
        sample_size=config.failure_trigger_sample_size or DEFAULT_UPTIME_SAMPLE_SIZE,
        interval=_or_default(config.time_wait, DEFAULT_UPTIME_INTERVAL),
        concurrency=config.checker_pool_size,
        analytics=config.enable_uptime_analytics,
    )
