"""Which proxy an external-service call takes: precedence (DECISIONS §5-6), proxy URLs, choice (§7).

Precedence, per field (`resolve_proxy_settings`; rows in `tests/unit/core/test_proxy_route.py`). Each of
`http_proxy`, `https_proxy` and `bypass_proxy` is, first that applies:
1. the service's own value (`external_services.<svc>.proxy.*`), whatever its `enabled` says;
2. the global value (`external_services.global.*`), only when `global.enabled` is true;
3. the process environment, only in *environment mode*: the effective block is enabled (the service's
   `proxy.enabled` or `global.enabled`) and neither step 1 nor 2 gave a URL for either scheme. Then
   `http_proxy` is `HTTP_PROXY`, `https_proxy` is `HTTPS_PROXY` and `bypass_proxy` is `NO_PROXY`; the
   upper-case name wins over the lower-case one, and an empty value counts as unset (Go's `getEnvAny`);
4. for the two URLs only, the legacy top-level `http_proxy` / `https_proxy` keys of tyk.conf;
5. nothing.
Consequences: a service with only `bypass_proxy` inherits the global URLs (docs' example 3); a service with
`enabled: true` alone inherits the global proxy (example 4); `global.enabled: false` with no service
settings and no legacy keys means no proxy, and the environment is not read.

Values are trimmed; blank counts as unset. Env-only routes (every URL from the environment) follow Go's
rule that loopback destinations are never proxied (`ProxySettings.loopback_never_proxied`).

Proxy URLs (`parse_proxy_url`): `[scheme://][user[:password]@]host[:port][/]`.
- scheme `http` (plain to the proxy) or `https` (TLS to the proxy); none written means `http`, as Go does
  for `HTTP_PROXY=host:port`; `//host` also means `http`. Case-insensitive.
- The user info runs to the LAST `@`, so `/` and `@` in a password need no escaping; it is percent-decoded.
- IPv6 hosts in brackets. No port (or an empty one): 80 for http, 443 for https, as Go's transport does.
- Error messages never contain the user info.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar
from urllib.parse import unquote

from bascule.core.proxy_bypass import is_loopback_host, should_bypass

ProxyOrigin = Literal["service", "global", "environment", "legacy"]
"""Where a proxy setting came from; a subset of `bascule.config.outbound.ValueOrigin`."""
ProxyScheme = Literal["http", "https"]

ENV_VARIABLES: Mapping[str, tuple[str, str]] = {
    "http_proxy": ("HTTP_PROXY", "http_proxy"),
    "https_proxy": ("HTTPS_PROXY", "https_proxy"),
    "bypass_proxy": ("NO_PROXY", "no_proxy"),
}
"""Setting -> the environment variables read for it in environment mode, winner first."""
DEFAULT_PROXY_PORTS: Mapping[ProxyScheme, int] = {"http": 80, "https": 443}

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_IPV6 = re.compile(r"[0-9a-f:.]+")
_MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class ProxyLayer:
    """One layer as the operator wrote it: `external_services.global` or `<service>.proxy`."""

    enabled: bool = False
    http_proxy: str = ""
    https_proxy: str = ""
    bypass_proxy: str = ""


@dataclass(frozen=True, slots=True)
class SourcedValue:
    """A resolved setting, trimmed, with where it came from."""

    text: str = field(repr=False)
    origin: ProxyOrigin
    variable: str = ""
    """The environment variable it was read from (origin `environment`), else ""."""


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The three resolved settings of one service; None: not set anywhere."""

    http_proxy: SourcedValue | None = None
    https_proxy: SourcedValue | None = None
    bypass_proxy: SourcedValue | None = None

    @property
    def loopback_never_proxied(self) -> bool:
        """True when there is a proxy URL and every URL came from the environment (Go's rule applies)."""
        urls = [value for value in (self.http_proxy, self.https_proxy) if value is not None]
        return bool(urls) and all(value.origin == "environment" for value in urls)


def resolve_proxy_settings(
    service: ProxyLayer,
    global_: ProxyLayer,
    environ: Mapping[str, str],
    legacy: ProxyLayer = ProxyLayer(),
) -> ProxySettings:
    """The settings one service uses, by the precedence in the module docstring.

    `legacy` holds the top-level `http_proxy` / `https_proxy` keys (its `enabled` and `bypass_proxy`
    are not read).
    """
    http = _layered(service.http_proxy, global_.http_proxy, global_.enabled)
    https = _layered(service.https_proxy, global_.https_proxy, global_.enabled)
    bypass = _layered(service.bypass_proxy, global_.bypass_proxy, global_.enabled)
    if (service.enabled or global_.enabled) and http is None and https is None:
        http = _from_environment(environ, "http_proxy")
        https = _from_environment(environ, "https_proxy")
        bypass = bypass or _from_environment(environ, "bypass_proxy")
    return ProxySettings(
        http_proxy=http or _sourced(legacy.http_proxy, "legacy"),
        https_proxy=https or _sourced(legacy.https_proxy, "legacy"),
        bypass_proxy=bypass,
    )


def _sourced(text: str, origin: ProxyOrigin, variable: str = "") -> SourcedValue | None:
    text = text.strip()
    return SourcedValue(text, origin, variable) if text else None


def _layered(own: str, global_value: str, global_enabled: bool) -> SourcedValue | None:
    return _sourced(own, "service") or (_sourced(global_value, "global") if global_enabled else None)


def _from_environment(environ: Mapping[str, str], setting: str) -> SourcedValue | None:
    for variable in ENV_VARIABLES[setting]:
        value = _sourced(environ.get(variable, ""), "environment", variable)
        if value is not None:
            return value
    return None


# --- proxy URLs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyUrl:
    """A parsed proxy URL. `host` is lower-case, IPv6 without brackets; credentials percent-decoded."""

    scheme: ProxyScheme
    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)


def parse_proxy_url(text: str) -> ProxyUrl:
    """`text` as a proxy URL (forms in the module docstring); ValueError whose message has no user info."""
    rest = text.strip()
    scheme = "http"
    head, separator, tail = rest.partition("://")
    if separator and _SCHEME.fullmatch(head):
        scheme, rest = head.lower(), tail
    elif rest.startswith("//"):
        rest = rest[2:]
    if scheme not in DEFAULT_PROXY_PORTS:
        raise ValueError(f'unsupported proxy scheme "{scheme}" (http or https)')
    proxy_scheme: ProxyScheme = "https" if scheme == "https" else "http"
    userinfo, at, authority = rest.rpartition("@")
    if not at:
        userinfo, authority = "", rest
    hostport, path = _split_path(authority)
    if path not in ("", "/"):
        raise ValueError("a proxy URL has no path, query or fragment")
    host, port_text = _split_host_port(hostport)
    port = DEFAULT_PROXY_PORTS[proxy_scheme] if not port_text else _proxy_port(port_text)
    username, _, password = userinfo.partition(":")
    return ProxyUrl(proxy_scheme, host, port, unquote(username), unquote(password))


def _split_path(authority: str) -> tuple[str, str]:
    cut = min((i for i in (authority.find(c) for c in "/?#") if i >= 0), default=len(authority))
    return authority[:cut], authority[cut:]


def _split_host_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        host, close, after = hostport[1:].partition("]")
        if not close or not _IPV6.fullmatch(host.lower()) or ":" not in host:
            raise ValueError("invalid IPv6 host in brackets")
        if after and not after.startswith(":"):
            raise ValueError("unexpected text after ]")
        return host.lower(), after[1:]
    host, _, port_text = hostport.partition(":")
    if ":" in port_text:
        raise ValueError("an IPv6 host must be in brackets")
    host = host.lower()
    if not host:
        raise ValueError("missing host")
    if not _HOST_NAME.fullmatch(host):
        raise ValueError(f'invalid host "{host}"')
    return host, port_text


def _proxy_port(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f'invalid port "{text}" after host')
    if not 0 < int(text) <= _MAX_PORT:
        raise ValueError(f"port {int(text)} out of range")
    return int(text)


# --- choice per call ---------------------------------------------------------------------------------------

E_co = TypeVar("E_co", covariant=True)


class BypassText(Protocol):
    @property
    def text(self) -> str: ...


class RouteView(Protocol[E_co]):
    """What `choose_proxy` reads of a route (`bascule.config.outbound.ProxyRoute` has this shape)."""

    @property
    def http_proxy(self) -> E_co | None: ...
    @property
    def https_proxy(self) -> E_co | None: ...
    @property
    def bypass(self) -> Sequence[BypassText]: ...
    @property
    def loopback_never_proxied(self) -> bool: ...


def choose_proxy(route: RouteView[E_co], scheme: str, host: str, port: int) -> E_co | None:
    """The proxy for a call to `scheme://host:port`, or None to connect directly (DECISIONS §7-8).

    1. `http` targets use `http_proxy`; every other scheme (`https`, and non-HTTP traffic such as Redis,
       which is tunnelled with CONNECT) uses `https_proxy`, else `http_proxy`.
    2. No proxy there, or the destination is in the bypass list: direct.
    3. Env-only routes: loopback destinations go direct (Go's rule, `is_loopback_host`).
    """
    if scheme.lower() == "http":
        proxy = route.http_proxy
    else:
        proxy = route.https_proxy if route.https_proxy is not None else route.http_proxy
    if proxy is None or should_bypass(host, port, (entry.text for entry in route.bypass)):
        return None
    if route.loopback_never_proxied and is_loopback_host(host):
        return None
    return proxy
