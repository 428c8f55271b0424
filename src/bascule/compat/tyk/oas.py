"""The parts of a Tyk OAS API definition that bascule reads, in Tyk's JSON names.

Shapes and required fields follow Tyk's schema (`apidef/oas/schema/x-tyk-api-gateway.json`):
`x-tyk-api-gateway` requires `info`, `server` and `upstream`; `info` requires a non-blank `name` and
`state.active`; `server.listenPath.value` is required and non-blank; `upstream` requires `url` or
`loadBalancing`; `loadBalancing` requires `enabled`; `customDomain` requires `enabled` and `name`;
`preserveHostHeader` and `preserveTrailingSlash` require `enabled`; `server.protocol` is one of
`http`, `https`, `h2c` (no `tcp`/`tls` in OAS) and `server.port` is 1-65535. `uptimeTests`,
`serviceDiscovery` and its `cache` require `enabled`; an event handler requires `enabled`, `trigger` and
`type` (`webhook`, `log`, `custom`), and each of its headers `name` and `value`.

Two deliberate departures, both from Tyk's documentation: a load-balancing target without `weight`
has weight 0 (the schema requires it; the docs say it defaults to 0), and a negative weight is an
error (Tyk silently treats it as 0).

Every object allows and keeps fields not declared here (`extra="allow"`); types are strict, as Tyk's
schema validation is (`"enabled": "true"` is an error).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

OAS_EXTENSION_KEY = "x-tyk-api-gateway"
"""The vendor extension that marks a document as Tyk OAS."""

OasProtocol = Literal["http", "https", "h2c"]


class _OasObject(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True, alias_generator=to_camel)


def _require_non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlankStr = Annotated[str, AfterValidator(_require_non_blank)]
"""A string with at least one non-whitespace character (the schema's `\\S+` pattern)."""


class OasState(_OasObject):
    active: bool
    internal: bool = False


class OasInfo(_OasObject):
    id: str = ""
    """Tyk Classic `api_id`. Empty: bascule derives the id from `name` (see `translate_api`)."""
    db_id: str = ""
    name: NonBlankStr
    org_id: str = ""
    state: OasState


class OasListenPath(_OasObject):
    value: NonBlankStr
    strip: bool = False


class OasCustomDomain(_OasObject):
    enabled: bool
    name: str
    certificates: list[str] = Field(default_factory=list)


class OasHeader(_OasObject):
    name: str
    value: str


class OasEventHandler(_OasObject):
    """One `server.eventHandlers[]` entry; `url` to `headers` are read for webhooks only."""

    enabled: bool
    trigger: str
    type: Literal["webhook", "log", "custom"]
    id: str = ""
    name: str = ""
    url: str = ""
    method: str = ""
    cooldown_period: str = ""
    """A Go duration ("60s")."""
    body_template: str = ""
    headers: list[OasHeader] = Field(default_factory=list)


class OasClientCertificates(_OasObject):
    """`server.clientCertificates`: Classic `use_mutual_tls_auth` and `client_certificates`."""

    enabled: bool
    allowlist: list[str] = Field(default_factory=list)


class OasServer(_OasObject):
    listen_path: OasListenPath
    custom_domain: OasCustomDomain | None = None
    client_certificates: OasClientCertificates | None = None
    protocol: OasProtocol | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    event_handlers: list[OasEventHandler] = Field(default_factory=list)
    authentication: dict[str, Any] | None = None
    """Kept as written for the authentication middleware; only `enabled` (required) is checked here."""

    @field_validator("authentication")
    @classmethod
    def _authentication_has_enabled(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("enabled"), bool):
            raise ValueError("authentication.enabled is required and must be a boolean")
        return value

    @property
    def is_keyless(self) -> bool:
        """An API is keyless unless `authentication` is present with `enabled: true`."""
        return self.authentication is None or self.authentication["enabled"] is not True


class OasLoadBalancingTarget(_OasObject):
    url: str
    weight: int = Field(default=0, ge=0)
    """Relative share of requests; 0 (also when omitted) excludes the target from the rotation."""


class OasLoadBalancing(_OasObject):
    enabled: bool
    skip_unavailable_hosts: bool = False
    targets: list[OasLoadBalancingTarget] = Field(default_factory=list)


class OasEnabledFlag(_OasObject):
    """The `{"enabled": bool}` objects such as `preserveHostHeader` and `preserveTrailingSlash`."""

    enabled: bool


class OasServiceDiscoveryCache(_OasObject):
    enabled: bool
    timeout: int = 0
    """Seconds (an integer, not a duration string)."""


class OasServiceDiscovery(_OasObject):
    """`upstream.serviceDiscovery` and `upstream.uptimeTests.serviceDiscovery`."""

    enabled: bool
    query_endpoint: str = ""
    data_path: str = ""
    use_nested_query: bool = False
    parent_data_path: str = ""
    port_data_path: str = ""
    use_target_list: bool = False
    cache_timeout: int = 0
    """Deprecated for `cache`: seconds, read only when `cache` is absent."""
    cache: OasServiceDiscoveryCache | None = None
    target_path: str = ""
    endpoint_returns_list: bool = False


class OasUptimeTestCommand(_OasObject):
    name: str = ""
    message: str = ""


class OasUptimeTest(_OasObject):
    url: str = ""
    timeout: str = ""
    """A Go duration ("2s")."""
    method: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    body: str = ""
    """Plain text (Classic's is base64)."""
    commands: list[OasUptimeTestCommand] = Field(default_factory=list)
    enable_proxy_protocol: bool = False


class OasUptimeTests(_OasObject):
    enabled: bool
    service_discovery: OasServiceDiscovery | None = None
    tests: list[OasUptimeTest] = Field(default_factory=list)
    host_down_retest_period: str = ""
    log_retention_period: str = ""


class OasDomainCertificate(_OasObject):
    domain: str
    certificate: str


class OasMutualTls(_OasObject):
    """`upstream.mutualTLS`: Classic `upstream_certificates` (`enabled` false: `upstream_certificates_disabled`)."""

    enabled: bool
    domain_to_certificate_mapping: list[OasDomainCertificate] = Field(default_factory=list)


class OasDomainPublicKeys(_OasObject):
    domain: str
    public_keys: list[str]


class OasCertificatePinning(_OasObject):
    """`upstream.certificatePinning`: Classic `pinned_public_keys` (`enabled` false: `certificate_pinning_disabled`)."""

    enabled: bool
    domain_to_public_keys_mapping: list[OasDomainPublicKeys] = Field(default_factory=list)


class OasTlsTransport(_OasObject):
    """`upstream.tlsTransport`: Classic `proxy.transport`; versions are "1.0".."1.3" (checked in `translate_tls`)."""

    insecure_skip_verify: bool = False
    ciphers: list[str] = Field(default_factory=list)
    min_version: str = ""
    max_version: str = ""
    force_common_name_check: bool = False


class OasUpstreamProxy(_OasObject):
    """`upstream.proxy`: Classic `proxy.transport.proxy_url`. Tyk ignores `enabled` (a non-empty url is used)."""

    enabled: bool
    url: str = ""


class OasUpstream(_OasObject):
    url: str | None = None
    mutual_tls: OasMutualTls | None = Field(default=None, alias="mutualTLS")
    certificate_pinning: OasCertificatePinning | None = None
    tls_transport: OasTlsTransport | None = None
    proxy: OasUpstreamProxy | None = None
    service_discovery: OasServiceDiscovery | None = None
    uptime_tests: OasUptimeTests | None = None
    load_balancing: OasLoadBalancing | None = None
    preserve_host_header: OasEnabledFlag | None = None
    preserve_trailing_slash: OasEnabledFlag | None = None

    @model_validator(mode="after")
    def _has_url_or_load_balancing(self) -> Self:
        if self.url is None and self.load_balancing is None:
            raise ValueError("upstream requires url or loadBalancing")
        return self


class OasAuthHeader(_OasObject):
    """`header {enabled, name}` of a security scheme (Tyk's `AuthSource`)."""

    enabled: bool
    name: str = ""


class OasJwksUri(_OasObject):
    url: str
    cache_timeout: str = ""
    """A Go duration ("10m"); empty: the gateway's `jwks.cache.timeout`."""


class OasJwtScheme(_OasObject):
    """`server.authentication.securitySchemes.<name>` of a JWT scheme; skews are seconds (uint64)."""

    enabled: bool
    header: OasAuthHeader | None = None
    source: str = Field(default="", repr=False)
    jwks_uris: list[OasJwksUri] = Field(default_factory=list, alias="jwksURIs")
    signing_method: str = ""
    identity_base_field: str = ""
    skip_kid: bool = False
    expires_at_validation_skew: int = Field(default=0, ge=0)
    issued_at_validation_skew: int = Field(default=0, ge=0)
    not_before_validation_skew: int = Field(default=0, ge=0)


class OasIntrospectionCache(_OasObject):
    enabled: bool
    timeout: int = 0
    """Seconds."""


class OasIntrospection(_OasObject):
    enabled: bool
    url: str = ""
    client_id: str = ""
    client_secret: str = Field(default="", repr=False)
    identity_base_field: str = ""
    cache: OasIntrospectionCache | None = None


class OasProviderJwt(_OasObject):
    enabled: bool
    signing_method: str = ""
    source: str = Field(default="", repr=False)
    identity_base_field: str = ""
    expires_at_validation_skew: int = Field(default=0, ge=0)
    issued_at_validation_skew: int = Field(default=0, ge=0)
    not_before_validation_skew: int = Field(default=0, ge=0)


class OasOAuthProvider(_OasObject):
    jwt: OasProviderJwt | None = None
    introspection: OasIntrospection | None = None


class OasExternalOAuth(_OasObject):
    """`externalOAuthServer` (Tyk's `ExternalOAuth`): a security scheme holding `providers`."""

    enabled: bool
    header: OasAuthHeader | None = None
    providers: list[OasOAuthProvider] = Field(default_factory=list)


class OasAuthentication(_OasObject):
    """`server.authentication`; each scheme is typed by its kind in `translate_auth`."""

    enabled: bool
    security_schemes: dict[str, dict[str, Any]] = Field(default_factory=dict)


class OasTransformHeaders(_OasObject):
    enabled: bool
    add: list[OasHeader] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


class OasGlobalMiddleware(_OasObject):
    transform_request_headers: OasTransformHeaders | None = None


class OasMiddleware(_OasObject):
    """`middleware`. Not a field of `XTykApiGateway` (it stays in `model_extra`, as written);
    `translate_auth` validates it when it reads the global request headers."""

    global_: OasGlobalMiddleware | None = Field(default=None, alias="global")


class XTykApiGateway(_OasObject):
    info: OasInfo
    server: OasServer
    upstream: OasUpstream


class OasApiDefinition(_OasObject):
    """A Tyk OAS document: the OpenAPI description plus Tyk's vendor extension."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any] = Field(default_factory=dict)
    components: dict[str, Any] = Field(default_factory=dict)
    x_tyk_api_gateway: XTykApiGateway = Field(alias=OAS_EXTENSION_KEY)
