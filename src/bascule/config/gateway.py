"""Gateway-wide settings, resolved from tyk.conf, the environment and defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bascule.config.outbound import ProxyRoute, ServiceProfile, ServiceType
from bascule.config.outbound_defaults import default_profiles
from bascule.config.tls import ListenerTls, UpstreamTls

LogLevel = Literal["debug", "info", "warn", "error"]
StorageKind = Literal["memory", "redis"]


@dataclass(frozen=True, slots=True)
class HttpServerSettings:
    """`http_server_options`: limits and behaviour of the inbound HTTP listeners."""

    read_timeout: float = 120.0
    """Seconds a client may take to send a whole request (head and body), and to stay idle between
    requests. (tyk.conf's 0 means Tyk's default, 120; a value of 0 here switches the limit off.)"""
    write_timeout: float = 120.0
    """Seconds a client may stall reading a response before it is cut off (0 here: no limit)."""
    max_request_body_size: int = 0
    """Bytes; 0 means unlimited."""
    max_header_bytes: int = 64 * 1024
    """Total bytes of the request head (request line excluded) before a 431."""
    max_header_count: int = 100
    max_request_line_bytes: int = 8 * 1024
    """Bytes of the request target before a 414."""
    skip_url_cleaning: bool = False
    skip_target_path_escaping: bool = False
    enable_strict_routes: bool = False
    enable_websockets: bool = False


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """`storage`: where shared state lives. `memory` is the embedded default."""

    kind: StorageKind = "memory"
    host: str = "localhost"
    port: int = 6379
    addrs: tuple[str, ...] = ()
    username: str = ""
    password: str = field(default="", repr=False)
    database: int = 0
    use_ssl: bool = False
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class UptimeSettings:
    """The gateway's `uptime_tests` block: who checks, how often, when a host changes state."""

    enabled: bool = True
    """False: `uptime_tests.disable`; no checks run and no host is ever skipped."""
    poller_group: str = ""
    """Nodes in one group elect one checker among themselves (through shared storage)."""
    sample_size: int = 3
    """`failure_trigger_sample_size`: consecutive failures to go down, and successes to come back."""
    interval: float = 10.0
    """`time_wait`: seconds between check rounds."""
    concurrency: int = 0
    """`checker_pool_size`: checks run at once; 0 means 50 (checks wait on the network, not the CPU: tyk-compat
    U5)."""
    analytics: bool = False
    """`enable_uptime_analytics`: one record per check in storage."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Everything the gateway process needs, independent of the API definitions."""

    source: Path | None = None
    """The tyk.conf this was read from (None: embedded defaults)."""
    listen_address: str = ""
    listen_port: int = 8080
    control_api_hostname: str = ""
    control_api_port: int = 0
    """0: the control API shares the main listener."""
    secret: str = field(default="", repr=False)
    app_path: Path = Path("apps")
    log_level: LogLevel = "info"
    hostname: str = ""
    enable_custom_domains: bool = False
    proxy_default_timeout: float = 30.0
    graceful_shutdown_timeout: float = 30.0
    health_check_endpoint_name: str = "hello"
    http_server: HttpServerSettings = HttpServerSettings()
    storage: StorageSettings = StorageSettings()
    workers: int = 1
    enable_analytics: bool = False
    """One analytics record per proxied request, written to storage in the background."""
    uptime: UptimeSettings = UptimeSettings()
    listener_tls: ListenerTls | None = None
    """`http_server_options.use_ssl`: the listeners speak TLS with these settings; None: plain."""
    upstream_tls: UpstreamTls = UpstreamTls()
    upstream_proxy: ProxyRoute = ProxyRoute()
    """`HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` for API upstreams without their own `proxy_url` (Go's rules)."""
    """The gateway-wide upstream TLS settings (`proxy_ssl_*`, `security.*`), already merged into each API's."""
    jwks_cache_timeout: float = 240.0
    """`jwks.cache.timeout`: seconds a fetched JWKS is used before it is fetched again (0 in tyk.conf: 240)."""
    discovery_cache_timeout: float = 120.0
    """`service_discovery.default_cache_timeout` (0 in tyk.conf: 120 s), for APIs that set none."""
    external_services: Mapping[ServiceType, ServiceProfile] = field(default_factory=default_profiles, hash=False)
    """One resolved outbound profile per service type (DECISIONS §5-13); default: no proxy, default TLS,
    the built-in pools and timeouts (`outbound_defaults`)."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The whole validated tyk.conf in Tyk's names, kept for features that read more of it."""
