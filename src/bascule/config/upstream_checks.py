"""Keeping upstreams current, in bascule's own terms: uptime checks, service discovery, event handlers.

Translated from Tyk Classic (`uptime_tests`, `proxy.service_discovery`, `event_handlers`) or Tyk OAS
(`upstream.uptimeTests`, `upstream.serviceDiscovery`, `server.eventHandlers`) by
`bascule.compat.tyk.translate_upstream_checks`. Durations are seconds (float), bodies are bytes (Classic's
base64 already decoded), and nothing downstream knows which format a value came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CheckKind = Literal["http", "tcp", "tls"]
CommandName = Literal["send", "expect"]
EventHandlerKind = Literal["webhook", "log", "custom"]
"""`custom`: Tyk's JavaScript and coprocess handlers, which bascule does not run (logged at load)."""


@dataclass(frozen=True, slots=True)
class CheckCommand:
    """One step of a TCP/TLS check: `send` writes `message`; `expect` reads as many bytes and compares."""

    name: CommandName
    message: bytes


@dataclass(frozen=True, slots=True)
class UptimeCheck:
    """One uptime test of an API. `url` keeps its scheme: `http(s)://` checks by HTTP, `tcp://`/`tls://`
    by socket; `host` is the `host:port` it vouches for (default port of the scheme filled in)."""

    url: str
    kind: CheckKind
    host: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    timeout: float | None = None
    """Seconds; None: the `health` service's timeout."""
    commands: tuple[CheckCommand, ...] = ()
    proxy_protocol: bool = False
    """Send a PROXY protocol v1 header first (TCP/TLS checks)."""


@dataclass(frozen=True, slots=True)
class ServiceDiscovery:
    """Where an API finds its upstream hosts (tyk-behaviour §3.5). Paths use dots: `node.value`, `port.$`."""

    query_endpoint: str
    data_path: str = ""
    use_nested_query: bool = False
    parent_data_path: str = ""
    port_data_path: str = ""
    target_path: str = ""
    use_target_list: bool = False
    endpoint_returns_list: bool = False
    cache_timeout: float = 0.0
    """Seconds between queries; 0 means the gateway's `service_discovery.default_cache_timeout` (120 s)."""


@dataclass(frozen=True, slots=True)
class UptimeTests:
    """An API's uptime tests (Classic `uptime_tests`, OAS `upstream.uptimeTests`)."""

    checks: tuple[UptimeCheck, ...] = ()
    recheck_wait: float = 0.0
    """Classic `config.recheck_wait`, OAS `hostDownRetestPeriod` (kept; bascule checks every tick)."""
    log_retention: float = 0.0
    """Classic `config.expire_utime_after`, OAS `logRetentionPeriod`: TTL of uptime analytics, 0 = none."""
    discovery: ServiceDiscovery | None = None
    """`config.service_discovery` / OAS `serviceDiscovery`: the check list itself comes from a discovery
    endpoint whose selected value is a JSON string holding an array of check objects."""


@dataclass(frozen=True, slots=True)
class EventHandler:
    """One handler for one event (Classic `event_handlers.events[trigger][]`, OAS `server.eventHandlers[]`)."""

    trigger: str
    """The event name: `HostDown`, `HostUp`, `AuthFailure`, ..."""
    kind: EventHandlerKind
    name: str = ""
    handler_id: str = ""
    url: str = ""
    """Webhook target (Classic `target_path`, OAS `url`)."""
    method: str = "GET"
    """Upper-cased; one of GET, PUT, POST, DELETE, PATCH (anything else was GET with a warning)."""
    headers: tuple[tuple[str, str], ...] = ()
    template_path: str = ""
    """The body template file (Classic `template_path`, OAS `bodyTemplate`), read when the handler is built;
    "" or a file that cannot be read: the default template."""
    cooldown: float = 0.0
    """Seconds during which an identical delivery is not repeated (Classic `event_timeout`, OAS
    `cooldownPeriod`); 0: no de-duplication."""


@dataclass(frozen=True, slots=True)
class UpstreamChecks:
    """Everything of one API that keeps its upstream list current; lives on `ApiSettings.checks`."""

    uptime: UptimeTests | None = None
    """None: the API has no uptime tests (or they are disabled)."""
    skip_unavailable_hosts: bool = False
    """Classic `check_host_against_uptime_tests`, OAS `loadBalancing.skipUnavailableHosts`."""
    discovery: ServiceDiscovery | None = None
    """None: no service discovery (absent or disabled)."""
    event_handlers: tuple[EventHandler, ...] = ()
