"""A Tyk Classic API definition, in Tyk's JSON names (`apidef/api_definitions.go`).

Only the fields bascule reads are declared; every other field is allowed and kept (`extra="allow"`),
because later features read them and the control API returns definitions unchanged.

Types are checked strictly, as Go's `encoding/json` does: `"active": "true"` is an error, not a
`True`. As in Go, a JSON `null` leaves a declared field at its zero value (Tyk exports contain
`"target_list": null` and the like).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ClassicProtocol = Literal["", "http", "https", "h2c", "tcp", "tls"]
CheckProtocol = Literal["", "http", "https", "tcp", "tls"]


class _GoJsonObject(BaseModel):
    """A JSON object decoded with Go semantics: strict types, `null` means the zero value."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_zero_value(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None or key not in cls.model_fields}
        return data


class ClassicServiceDiscovery(_GoJsonObject):
    """`proxy.service_discovery` and `uptime_tests.config.service_discovery` (`ServiceDiscoveryConfiguration`)."""

    use_discovery_service: bool = False
    query_endpoint: str = ""
    use_nested_query: bool = False
    parent_data_path: str = ""
    data_path: str = ""
    port_data_path: str = ""
    target_path: str = ""
    use_target_list: bool = False
    endpoint_returns_list: bool = False
    cache_disabled: bool = False
    cache_timeout: int = 0
    """Seconds (Go int64)."""


class ClassicProxy(_GoJsonObject):
    """`proxy`: where and how requests are forwarded."""

    listen_path: str = ""
    target_url: str = ""
    strip_listen_path: bool = False
    disable_strip_slash: bool = False
    preserve_host_header: bool = False
    enable_load_balancing: bool = False
    target_list: list[str] = Field(default_factory=list)
    """Load-balancing targets; a URL listed n times has weight n."""
    check_host_against_uptime_tests: bool = False
    service_discovery: ClassicServiceDiscovery = Field(default_factory=ClassicServiceDiscovery)
    transport: dict[str, Any] = Field(default_factory=dict)
    """Kept as written (`ClassicTransport` below types it; `translate_tls` validates it when it reads it)."""


class ClassicTransport(_GoJsonObject):
    """`proxy.transport` (`apidef.ProxyTransport`): TLS and proxy of the API's upstream connections."""

    ssl_insecure_skip_verify: bool = False
    ssl_ciphers: list[str] = Field(default_factory=list)
    """Go cipher-suite names."""
    ssl_min_version: int = 0
    """A Go `uint16`: 769 TLS 1.0 ... 772 TLS 1.3; 0 unset."""
    ssl_max_version: int = 0
    ssl_force_common_name_check: bool = False
    proxy_url: str = ""


class ClassicCheckCommand(_GoJsonObject):
    name: str = ""
    message: str = ""


class ClassicUptimeCheck(_GoJsonObject):
    """One `uptime_tests.check_list[]` entry (`HostCheckObject`)."""

    url: str = ""
    protocol: CheckProtocol = ""
    timeout: int = 0
    """A Go `time.Duration`: integer nanoseconds (2000000000 = 2 s)."""
    enable_proxy_protocol: bool = False
    commands: list[ClassicCheckCommand] = Field(default_factory=list)
    method: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    body: str = ""
    """Base64."""


class ClassicUptimeConfig(_GoJsonObject):
    expire_utime_after: int = 0
    """Seconds."""
    service_discovery: ClassicServiceDiscovery = Field(default_factory=ClassicServiceDiscovery)
    recheck_wait: int = 0
    """Seconds."""


class ClassicUptimeTests(_GoJsonObject):
    check_list: list[ClassicUptimeCheck] = Field(default_factory=list)
    config: ClassicUptimeConfig = Field(default_factory=ClassicUptimeConfig)
    disabled: bool = False


class ClassicEventHandlerConfig(_GoJsonObject):
    """One `event_handlers.events[trigger][]` entry; `handler_meta` is typed by its handler's model."""

    handler_name: str = ""
    handler_meta: dict[str, Any] = Field(default_factory=dict)


class ClassicEventHandlers(_GoJsonObject):
    events: dict[str, list[ClassicEventHandlerConfig]] = Field(default_factory=dict)
    """Event name (`HostDown`, ...) -> its handlers, in order."""


class ClassicHandlerMeta(_GoJsonObject):
    """The `handler_meta` keys every handler kind shares (log, JavaScript and coprocess handlers)."""

    disabled: bool = False
    id: str = ""
    name: str = ""


class ClassicWebhookMeta(ClassicHandlerMeta):
    """`handler_meta` of `eh_web_hook_handler` (`WebHookHandlerConf`); Tyk decodes it strictly, so
    `"method": 123` is an error (tyk-behaviour §5 case 70)."""

    method: str = ""
    target_path: str = ""
    template_path: str = ""
    header_map: dict[str, str] = Field(default_factory=dict)
    event_timeout: int = 0
    """Seconds."""


class ClassicAuthConfig(_GoJsonObject):
    """`auth` and each `auth_configs.<kind>` (`AuthConfig`); only the header name is read."""

    auth_header_name: str = ""


class ClassicIntrospectionCache(_GoJsonObject):
    enabled: bool = False
    timeout: int = 0
    """Seconds (Go int64)."""


class ClassicIntrospection(_GoJsonObject):
    """`external_oauth.providers[].introspection` (`apidef.Introspection`)."""

    enabled: bool = False
    url: str = ""
    client_id: str = ""
    client_secret: str = Field(default="", repr=False)
    identity_base_field: str = ""
    cache: ClassicIntrospectionCache = Field(default_factory=ClassicIntrospectionCache)


class ClassicProviderJwt(_GoJsonObject):
    """`external_oauth.providers[].jwt` (`apidef.JWTValidation`); skews are seconds (Go uint64)."""

    enabled: bool = False
    signing_method: str = ""
    source: str = Field(default="", repr=False)
    identity_base_field: str = ""
    issued_at_validation_skew: int = Field(default=0, ge=0)
    not_before_validation_skew: int = Field(default=0, ge=0)
    expires_at_validation_skew: int = Field(default=0, ge=0)


class ClassicOAuthProvider(_GoJsonObject):
    jwt: ClassicProviderJwt = Field(default_factory=ClassicProviderJwt)
    introspection: ClassicIntrospection = Field(default_factory=ClassicIntrospection)


class ClassicExternalOAuth(_GoJsonObject):
    """`external_oauth` (`apidef.ExternalOAuth`)."""

    enabled: bool = False
    providers: list[ClassicOAuthProvider] = Field(default_factory=list)


class ClassicVersionInfo(_GoJsonObject):
    """One `version_data.versions.<name>`; only `global_headers` is read (for forwarded JWT claims)."""

    name: str = ""
    global_headers: dict[str, str] = Field(default_factory=dict)


class ClassicVersionData(_GoJsonObject):
    """`version_data`. Not a field of `ClassicApiDefinition` (it stays in `model_extra`, as written);
    `translate_auth` validates it when it reads `global_headers`."""

    not_versioned: bool = False
    default_version: str = ""
    versions: dict[str, ClassicVersionInfo] = Field(default_factory=dict)


class ClassicApiDefinition(_GoJsonObject):
    """A whole Tyk Classic API definition. Defaults are Go's zero values, so `active` is False."""

    api_id: str = ""
    name: str = ""
    org_id: str = ""
    active: bool = False
    internal: bool = False
    use_keyless: bool = False
    domain: str = ""
    domain_disabled: bool = False
    protocol: ClassicProtocol = ""
    listen_port: int = Field(default=0, ge=0, le=65535)
    """0 means the gateway's `listen_port`."""
    proxy: ClassicProxy = Field(default_factory=ClassicProxy)
    uptime_tests: ClassicUptimeTests = Field(default_factory=ClassicUptimeTests)
    event_handlers: ClassicEventHandlers = Field(default_factory=ClassicEventHandlers)
    enable_jwt: bool = False
    jwt_signing_method: str = ""
    jwt_source: str = Field(default="", repr=False)
    """A JWKS URL, its base64, or a base64 HMAC secret or PEM public key."""
    jwt_jwks_uris: list[dict[str, Any]] = Field(default_factory=list)
    """OAS APIs only, in Tyk; a Classic API with any is an error."""
    jwt_identity_base_field: str = ""
    jwt_identit_base_field: str = ""
    """Tyk's bson tag for `jwt_identity_base_field` (misspelt); read when the right name is empty."""
    jwt_skip_kid: bool = False
    jwt_expires_at_validation_skew: int = Field(default=0, ge=0)
    """Seconds (Go uint64); likewise the two skews below."""
    jwt_issued_at_validation_skew: int = Field(default=0, ge=0)
    jwt_not_before_validation_skew: int = Field(default=0, ge=0)
    auth: ClassicAuthConfig = Field(default_factory=ClassicAuthConfig)
    auth_configs: dict[str, ClassicAuthConfig] = Field(default_factory=dict)
    """Per auth kind (`jwt`, `externalOAuth`, ...); a non-empty `auth_header_name` here beats `auth`'s."""
    external_oauth: ClassicExternalOAuth = Field(default_factory=ClassicExternalOAuth)
    certificates: list[str] = Field(default_factory=list)
    """Server certificates for the API's domain (store ids or PEM paths)."""
    upstream_certificates: dict[str, str] = Field(default_factory=dict)
    """Upstream host pattern -> client certificate (store id, PEM path or inline PEM)."""
    upstream_certificates_disabled: bool = False
    pinned_public_keys: dict[str, str] = Field(default_factory=dict)
    """Upstream host pattern -> comma-separated public-key references."""
    certificate_pinning_disabled: bool = False
    use_mutual_tls_auth: bool = False
    client_certificates: list[str] = Field(default_factory=list)
    """Client certificates allowed with `use_mutual_tls_auth` (store ids)."""
