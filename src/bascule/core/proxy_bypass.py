"""Proxy bypass lists (DECISIONS §8): which destinations are reached directly instead of through the proxy.

A list is written as one string, `bypass_proxy` in tyk.conf or the `NO_PROXY` variable: entries are
separated by commas, trimmed, and empty ones dropped (`split_bypass_list`).

Forms of an entry (`should_bypass`; one row each in `tests/unit/core/test_proxy_bypass.py`):

| entry                             | bypasses                                                                 |
|-----------------------------------|--------------------------------------------------------------------------|
| `*`                               | every destination                                                        |
| `api.example.com`                 | that host exactly, on any port; NOT its subdomains (see below)           |
| `localhost`                       | the host `localhost`, and every loopback IP literal (127.0.0.0/8, ::1)   |
| `10.1.2.3`, `::1`, `[::1]`        | that IP literal                                                          |
| `10.0.0.0/8`, `fd00::/8`          | IP literals inside the network                                           |
| `.internal`                       | every subdomain (`a.internal`, `b.a.internal`), not `internal` itself    |
| `*.local`                         | the same as `.local`                                                     |
| any of these + `:port`            | only on that port: `host:8080`, `[::1]:8080`, `.internal:8443`           |

Invariants:
- Matching is case-insensitive, ignores one trailing dot (`Example.COM.` is `example.com`) and never
  resolves a name: a CIDR or IP entry matches IP literals only, a name entry matches names only.
- A bare domain matches itself only. This is the documented list's meaning (the docs spell "and its
  subdomains" as `.internal`); Go's `NO_PROXY` also matches subdomains of `example.com`, so values taken
  from `NO_PROXY` are given that meaning by `go_no_proxy_entries`, which adds `.example.com`.
- `localhost` also covers loopback literals, as Tyk's explicit mode does for `127.0.0.1`; the reverse does
  not hold (`127.0.0.1` does not cover the name `localhost`).
- An entry that `parse_bypass_entry` rejects never matches anything in `should_bypass`; configuration
  translation reports it before it gets there.
- `is_loopback_host` is Go's environment-mode rule (`http.ProxyFromEnvironment`): `localhost` and
  loopback IP literals are never proxied. It is separate from the list: only env-only routes apply it.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_PORT = re.compile(r"[0-9]{1,5}")
_MAX_PORT = 65535


class RuleKind(enum.Enum):
    EVERYTHING = "*"
    NAME = "name"
    """A host name, exactly."""
    SUFFIX = "suffix"
    """Names ending in `.suffix`."""
    NETWORK = "network"
    """IP literals in a network; a single address is a /32 or /128 network."""


@dataclass(frozen=True, slots=True)
class BypassRule:
    """One parsed entry. `name` is lower-case without a trailing dot; for SUFFIX it starts with `.`."""

    kind: RuleKind
    name: str = ""
    network: IpNetwork | None = None
    port: int | None = None
    """None: any port."""


def split_bypass_list(text: str) -> tuple[str, ...]:
    """The entries of a comma-separated list, trimmed, empties dropped, order kept."""
    return tuple(entry for entry in (part.strip() for part in text.split(",")) if entry)


def parse_bypass_entry(text: str) -> BypassRule:
    """The rule an entry stands for; ValueError saying why when it is none of the forms above."""
    entry = text.strip().lower()
    if entry == "*":
        return BypassRule(RuleKind.EVERYTHING)
    host, port = _split_port(entry)
    if "/" in host:
        try:
            return BypassRule(RuleKind.NETWORK, network=ipaddress.ip_network(host, strict=False), port=port)
        except ValueError:
            raise ValueError("not a CIDR network") from None
    address = _ip_literal(host)
    if address is not None:
        return BypassRule(RuleKind.NETWORK, network=ipaddress.ip_network(address), port=port)
    if entry.startswith("["):
        raise ValueError("brackets hold an IPv6 address only")
    name = host.removesuffix(".")
    if name.startswith("*."):
        name = name[1:]
    if name.startswith(".") and _NAME.fullmatch(name[1:]):
        return BypassRule(RuleKind.SUFFIX, name=name, port=port)
    if _NAME.fullmatch(name):
        return BypassRule(RuleKind.NAME, name=name, port=port)
    raise ValueError("not a host, IP address, CIDR network, .suffix or *.suffix")


def should_bypass(host: str, port: int, entries: Iterable[str]) -> bool:
    """Whether a connection to `host`:`port` skips the proxy under `entries` (the forms above).

    `host` is a name or an IP literal, IPv6 with or without brackets.
    """
    name, address = _normalise(host)
    return any(rule is not None and _matches(rule, name, address, port) for rule in (_cached_rule(e) for e in entries))


def is_loopback_host(host: str) -> bool:
    """Go's environment-mode rule: `localhost` and loopback IP literals are never proxied."""
    name, address = _normalise(host)
    return name == "localhost" or (address is not None and address.is_loopback)


def go_no_proxy_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """`entries` written for Go's `NO_PROXY`, in this module's forms: each bare domain `d` (with its
    port, if any) also stands for `.d`, because Go matches a domain's subdomains too. Other entries,
    including invalid ones, are kept as they are."""
    result: list[str] = []
    for entry in entries:
        result.append(entry)
        rule = _cached_rule(entry)
        if rule is not None and rule.kind is RuleKind.NAME:
            result.append(f".{rule.name}" if rule.port is None else f".{rule.name}:{rule.port}")
    return tuple(result)


@functools.lru_cache(maxsize=4096)
def _cached_rule(entry: str) -> BypassRule | None:
    # Profiles keep entries as written; parsing each once keeps the per-call check to comparisons.
    try:
        return parse_bypass_entry(entry)
    except ValueError:
        return None


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            raise ValueError("unclosed [")
        host, rest = entry[1:close], entry[close + 1 :]
        if ":" not in host:
            raise ValueError("brackets hold an IPv6 address only")
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise ValueError("unexpected text after ]")
        return host, _port(rest[1:])
    if entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
        return host, _port(port_text)
    return entry, None  # no port, or a bare IPv6 address / network


def _port(text: str) -> int:
    if not _PORT.fullmatch(text) or not 0 < int(text) <= _MAX_PORT:
        raise ValueError(f'invalid port "{text}"')
    return int(text)


def _ip_literal(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _normalise(host: str) -> tuple[str, IpAddress | None]:
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.removesuffix(".")
    return name, _ip_literal(name)


def _matches(rule: BypassRule, name: str, address: IpAddress | None, port: int) -> bool:
    if rule.port is not None and rule.port != port:
        return False
    if rule.kind is RuleKind.EVERYTHING:
        return True
    if rule.kind is RuleKind.NETWORK:
        assert rule.network is not None
        return address is not None and address.version == rule.network.version and address in rule.network
    if address is not None:
        return rule.name == "localhost" and address.is_loopback
    if rule.kind is RuleKind.SUFFIX:
        return name.endswith(rule.name)
    return name == rule.name
