"""tyk.conf as Tyk writes it: pydantic models in Tyk's JSON names, with Tyk's defaults.

Source of truth for names and Go field names: Tyk's `config/config.go` and `config/external_service.go`.

Invariants:
- Field names (or aliases, for Python keywords) are Tyk's JSON keys. A `GoName` marker records the Go
  field where its upper-cased name is not the key run together (`ssl_ciphers` is Go `Ciphers`). Env
  names derive from this tree (`env_overrides.env_leaves`), so adding a field here adds its variables.
- Validation is strict, like Go's `encoding/json`: `"8080"` is not an int and `1` is not a bool.
  An int is accepted where a float is expected.
- A JSON `null` for a declared key means the default, as in Go.
- Unknown keys are dropped here (`extra="ignore"`); the loader warns about each one.
- Defaults are Tyk's defaults for an absent key. Where Tyk reads 0 as "use the default"
  (`read_timeout` 0 -> 120 s, ...) the model keeps 0 and `translate_gateway` resolves it, so the model
  holds what the operator wrote. Deliberate differences: `secret` defaults to "" (control API off,
  DECISIONS §20, instead of Tyk's well-known built-in secret) and `storage.type` to "" (in-memory
  storage, DECISIONS §1, instead of "redis").
- Durations, counts and sizes are non-negative; ports and Go `uint16` TLS versions are 0..65535;
  `log_level`, `storage.type` and the string TLS versions accept only the listed values.
- Secrets are `repr=False`: never shown in a repr or echoed in an error.
- bascule extensions (keys Tyk does not have) say so in their docstring: `external_services.<service>.timeout`
  and `.pool` (DECISIONS §13).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bascule.compat.tyk.field_tree import GoName, fields_of

Port = Annotated[int, Field(ge=0, le=65535)]
Uint16 = Annotated[int, Field(ge=0, le=65535)]
"""A Go `uint16`, e.g. a TLS version number (771 = TLS 1.2)."""
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[int, Field(ge=0)]
DurationSeconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""Seconds that may have a fraction (an int is accepted)."""
TlsVersionName = Literal["", "1.0", "1.1", "1.2", "1.3"]
"""A TLS version as tyk.conf writes it in string form; "" = unset (consumers apply 1.2 / 1.3)."""
TykLogLevel = Literal["debug", "info", "warn", "error"]


class TykConfModel(BaseModel):
    """Base of every tyk.conf block: strict, frozen, unknown keys dropped (the loader warns).

    As in Go, a JSON `null` for a declared key leaves the default (Tyk's own `WriteConf` output holds
    `"ssl_certificates": null` and the like).
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _null_keeps_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            declared = fields_of(cls)
            return {key: value for key, value in data.items() if value is not None or key not in declared}
        return data


class CertificateFiles(TykConfModel):
    """`http_server_options.certificates[]` (deprecated in Tyk for `ssl_certificates`)."""

    domain_name: Annotated[str, GoName("Name")] = ""
    cert_file: str = ""
    key_file: str = ""


class HttpServerOptionsConf(TykConfModel):
    read_timeout: Seconds = 0
    """0: 120 s."""
    write_timeout: Seconds = 0
    """0: 120 s."""
    max_request_body_size: Count = 0
    """Bytes; 0: unlimited."""
    skip_url_cleaning: bool = False
    skip_target_path_escaping: bool = False
    enable_strict_routes: bool = False
    enable_websockets: bool = False
    use_ssl: bool = False
    enable_http2: bool = False
    ssl_certificates: list[str] = Field(default_factory=list)
    certificates: list[CertificateFiles] = Field(default_factory=list)
    min_version: Uint16 = 0
    max_version: Uint16 = 0
    ssl_ciphers: Annotated[list[str], GoName("Ciphers")] = Field(default_factory=list)
    flush_interval: Count = 0


class StorageConf(TykConfModel):
    type: Literal["", "memory", "redis"] = ""
    """"" (absent) and "memory": in-memory storage; "redis": Redis."""
    host: str = "localhost"
    port: Port = 6379
    addrs: list[str] = Field(default_factory=list)
    username: str = ""
    password: str = Field(default="", repr=False)
    database: Count = 0
    master_name: str = ""
    sentinel_password: str = Field(default="", repr=False)
    enable_cluster: bool = False
    timeout: Seconds = 0
    """0: 5 s."""
    optimisation_max_idle: Annotated[Count, GoName("MaxIdle")] = 100
    optimisation_max_active: Annotated[Count, GoName("MaxActive")] = 500
    use_ssl: bool = False
    ssl_insecure_skip_verify: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    tls_min_version: TlsVersionName = ""
    tls_max_version: TlsVersionName = ""


class ProxyConf(TykConfModel):
    """`external_services.global` and `external_services.<service>.proxy` (same fields in Tyk)."""

    enabled: bool = False
    http_proxy: str = ""
    https_proxy: str = ""
    bypass_proxy: str = ""
    """Comma-separated."""


class MtlsConf(TykConfModel):
    enabled: bool = False
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    cert_id: str = ""
    ca_cert_ids: list[str] = Field(default_factory=list)
    insecure_skip_verify: bool = False
    tls_min_version: TlsVersionName = ""
    tls_max_version: TlsVersionName = ""


class ServicePoolConf(TykConfModel):
    """`external_services.<service>.pool`: a bascule extension (DECISIONS §13), not in Tyk.

    Each 0 keeps the built-in value of the service (`bascule.config.outbound_defaults.DEFAULTS`).
    """

    max_idle: Count = 0
    max_idle_per_host: Count = 0
    idle_timeout: DurationSeconds = 0.0
    """Seconds an idle connection is kept."""


class ServiceConf(TykConfModel):
    proxy: ProxyConf = Field(default_factory=ProxyConf)
    mtls: MtlsConf = Field(default_factory=MtlsConf)
    timeout: DurationSeconds = 0.0
    """Seconds for one whole call: a bascule extension (DECISIONS §13); 0 keeps the service's built-in value."""
    pool: ServicePoolConf = Field(default_factory=ServicePoolConf)


class ExternalServicesConf(TykConfModel):
    global_: ProxyConf = Field(default_factory=ProxyConf, alias="global")
    oauth: ServiceConf = Field(default_factory=ServiceConf)
    storage: ServiceConf = Field(default_factory=ServiceConf)
    webhooks: ServiceConf = Field(default_factory=ServiceConf)
    health: ServiceConf = Field(default_factory=ServiceConf)
    discovery: ServiceConf = Field(default_factory=ServiceConf)


class UptimeTestsDetailConf(TykConfModel):
    failure_trigger_sample_size: Count = 3
    time_wait: Seconds = 10
    checker_pool_size: Count = 0
    enable_uptime_analytics: bool = False


class UptimeTestsConf(TykConfModel):
    disable: bool = False
    poller_group: str = ""
    config: UptimeTestsDetailConf = Field(default_factory=UptimeTestsDetailConf)


class ServiceDiscoveryConf(TykConfModel):
    default_cache_timeout: Seconds = 0
    """0: 120 s."""


class CertificatesConf(TykConfModel):
    upstream: dict[str, str] = Field(default_factory=dict)
    """Upstream host (or `*`) -> certificate id or PEM path."""
    apis: Annotated[list[str], GoName("API")] = Field(default_factory=list)


class SecurityConf(TykConfModel):
    private_certificate_encoding_secret: str = Field(default="", repr=False)
    certificates: CertificatesConf = Field(default_factory=CertificatesConf)
    pinned_public_keys: dict[str, str] = Field(default_factory=dict)
    """Host (or pattern) -> comma-separated SPKI pins or certificate ids."""


class PortRangeConf(TykConfModel):
    """An inclusive port range; `from` must not exceed `to`."""

    from_: Port = Field(default=0, alias="from")
    to: Port = 0

    @model_validator(mode="after")
    def _check_order(self) -> PortRangeConf:
        if self.from_ > self.to:
            raise ValueError(f"from ({self.from_}) must not exceed to ({self.to})")
        return self


class PortWhiteListConf(TykConfModel):
    ranges: list[PortRangeConf] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)


class JwksCacheConf(TykConfModel):
    timeout: Seconds = 240


class JwksConf(TykConfModel):
    cache: JwksCacheConf = Field(default_factory=JwksCacheConf)


class TykGatewayConf(TykConfModel):
    """The whole of tyk.conf that bascule reads. An empty document validates to the defaults."""

    listen_address: str = ""
    listen_port: Port = 8080
    control_api_hostname: str = ""
    control_api_port: Port = 0
    secret: str = Field(default="", repr=False)
    app_path: str = "apps/"
    template_path: str = "templates"
    log_level: TykLogLevel = "info"
    hostname: str = ""
    enable_custom_domains: bool = False
    proxy_default_timeout: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Seconds; 0: 30 s."""
    graceful_shutdown_timeout_duration: Seconds = 30
    health_check_endpoint_name: str = "hello"
    readiness_check_endpoint_name: str = "ready"
    http_server_options: HttpServerOptionsConf = Field(default_factory=HttpServerOptionsConf)
    storage: StorageConf = Field(default_factory=StorageConf)
    external_services: ExternalServicesConf = Field(default_factory=ExternalServicesConf)
    http_proxy: str = ""
    """Legacy (docs' migration table): used when `external_services` gives no URL."""
    https_proxy: str = ""
    """Legacy, as `http_proxy`."""
    jwt_ssl_insecure_skip_verify: bool = False
    uptime_tests: UptimeTestsConf = Field(default_factory=UptimeTestsConf)
    service_discovery: ServiceDiscoveryConf = Field(default_factory=ServiceDiscoveryConf)
    security: SecurityConf = Field(default_factory=SecurityConf)
    proxy_ssl_insecure_skip_verify: bool = False
    proxy_ssl_min_version: Uint16 = 0
    proxy_ssl_max_version: Uint16 = 0
    proxy_ssl_ciphers: Annotated[list[str], GoName("ProxySSLCipherSuites")] = Field(default_factory=list)
    proxy_enable_http2: bool = False
    proxy_ssl_disable_renegotiation: bool = False
    proxy_close_connections: bool = False
    ssl_force_common_name_check: bool = False
    max_idle_connections: Annotated[Count, GoName("MaxIdleConns")] = 0
    max_idle_connections_per_host: Annotated[Count, GoName("MaxIdleConnsPerHost")] = 0
    max_conn_time: Seconds = 0
    ports_whitelist: Annotated[dict[str, PortWhiteListConf], GoName("PortWhiteList")] = Field(default_factory=dict)
    """Protocol (`http`, `tls`, ...) -> allowed ports."""
    disable_ports_whitelist: Annotated[bool, GoName("DisablePortWhiteList")] = False
    enable_analytics: bool = False
    analytics_config: dict[str, Any] = Field(default_factory=dict)
    """Kept as written until analytics are modelled."""
    jwks: JwksConf = Field(default_factory=JwksConf)
    hide_generator_header: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _normalise_log_level(cls, value: object) -> object:
        """Tyk lower-cases the level and reads "" as info."""
        if isinstance(value, str):
            return value.lower() or "info"
        return value
