"""Built-in pool limits and timeouts per external service (docs' tables; tyk-behaviour §1.6), as data.

Invariants:
- `DEFAULTS` has one row per `ServiceType`; the values are Tyk's (`internal/httpclient/factory.go`):
  MaxIdleConns, MaxIdleConnsPerHost, IdleConnTimeout, TLSHandshakeTimeout and the client timeout.
- `default_profile(service)` is what a service gets when tyk.conf says nothing about it: no proxy,
  default TLS (system roots, verification on, TLS 1.2 to 1.3), the row's pool and timeout, every origin
  `default`, no problems.
- Overrides of these values (`external_services.<svc>.pool` / `.timeout`) are a bascule extension
  (DECISIONS §13), applied in `bascule.compat.tyk.translate_external_services`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bascule.config.outbound import PoolLimits, ProxyRoute, ServiceProfile, ServiceType, TlsClientSettings, ValueOrigin


@dataclass(frozen=True, slots=True)
class OutboundDefaults:
    pool: PoolLimits
    timeout: float
    """Seconds for one whole call."""


DEFAULTS: Mapping[ServiceType, OutboundDefaults] = MappingProxyType(
    {
        ServiceType.OAUTH: OutboundDefaults(PoolLimits(50, 10, 30.0, 10.0), 15.0),
        ServiceType.WEBHOOKS: OutboundDefaults(PoolLimits(50, 10, 30.0, 10.0), 30.0),
        ServiceType.HEALTH: OutboundDefaults(PoolLimits(20, 5, 15.0, 5.0), 10.0),
        ServiceType.DISCOVERY: OutboundDefaults(PoolLimits(30, 5, 20.0, 5.0), 10.0),
        ServiceType.STORAGE: OutboundDefaults(PoolLimits(50, 15, 90.0, 15.0), 20.0),
    }
)

PROFILE_SETTINGS = (
    "http_proxy",
    "https_proxy",
    "bypass_proxy",
    "tls",
    "insecure_skip_verify",
    "pool",
    "timeout",
)
"""The keys of `ServiceProfile.origins`."""


def default_profile(service: ServiceType) -> ServiceProfile:
    """The profile of a service that tyk.conf does not configure."""
    row = DEFAULTS[service]
    origins: dict[str, ValueOrigin] = dict.fromkeys(PROFILE_SETTINGS, "default")
    return ServiceProfile(
        service=service,
        proxy=ProxyRoute(),
        tls=TlsClientSettings(),
        pool=row.pool,
        timeout=row.timeout,
        origins=MappingProxyType(origins),
    )


def default_profiles() -> Mapping[ServiceType, ServiceProfile]:
    """A default profile for every service type."""
    return MappingProxyType({service: default_profile(service) for service in ServiceType})
