"""Outbound connection settings per external service, fully resolved (DECISIONS §5-13).

One `ServiceProfile` per service type says, with no further merging left to do, which proxy a call takes
(per target scheme, with its bypass list), how TLS is set up, the pool limits and the timeout, and where
each value came from (for `bascule doctor`). A profile with `problems` fails closed: its calls are refused
with an `[ExternalServices]` log line, never sent through an unconfigured client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

ValueOrigin = Literal["service", "global", "environment", "legacy", "default"]
TlsVersion = Literal["1.0", "1.1", "1.2", "1.3"]


class ServiceType(StrEnum):
    """The callers of external services, keyed as in tyk.conf's `external_services` block."""

    OAUTH = "oauth"
    STORAGE = "storage"
    WEBHOOKS = "webhooks"
    HEALTH = "health"
    DISCOVERY = "discovery"


@dataclass(frozen=True, slots=True)
class ProxyEndpoint:
    """A forward proxy. `https` means TLS to the proxy itself; credentials become `Proxy-Authorization`."""

    scheme: Literal["http", "https"]
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def redacted(self) -> str:
        """The URL for logs: the password never appears."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.username}:***@" if self.username or self.password else ""
        return f"{self.scheme}://{user}{shown}:{self.port}"


@dataclass(frozen=True, slots=True)
class BypassEntry:
    """One entry of a bypass list, as written (`bascule.core.proxy_bypass` decides what it matches)."""

    text: str


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """Which proxy a call of one service takes. None: direct."""

    http_proxy: ProxyEndpoint | None = None
    """For `http://` targets, and for `https://` ones when `https_proxy` is None (DECISIONS §7)."""
    https_proxy: ProxyEndpoint | None = None
    bypass: tuple[BypassEntry, ...] = ()
    loopback_never_proxied: bool = False
    """True when the proxy came from HTTP(S)_PROXY only: Go's rule, loopback is never proxied."""


@dataclass(frozen=True, slots=True)
class TlsClientSettings:
    """TLS towards the external service. Store ids win over files (with a warning, DECISIONS §9)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    cert_id: str = ""
    ca_cert_ids: tuple[str, ...] = ()
    insecure_skip_verify: bool = False
    min_version: TlsVersion = "1.2"
    max_version: TlsVersion = "1.3"

    @property
    def has_client_certificate(self) -> bool:
        return bool(self.cert_id) or self.cert_file is not None


@dataclass(frozen=True, slots=True)
class PoolLimits:
    max_idle: int
    max_idle_per_host: int
    idle_timeout: float
    tls_handshake_timeout: float


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    service: ServiceType
    proxy: ProxyRoute
    tls: TlsClientSettings
    pool: PoolLimits
    timeout: float
    """Seconds for one whole call (Tyk's client timeout)."""
    problems: tuple[str, ...] = ()
    """Why this service cannot be used as configured; non-empty means every call fails closed."""
    origins: Mapping[str, ValueOrigin] = field(default_factory=dict, compare=False)
    """Setting name (`http_proxy`, `https_proxy`, `bypass_proxy`, `tls`, `pool`, `timeout`, ...) -> origin."""
