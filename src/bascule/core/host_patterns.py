"""Choosing a value by upstream host: upstream client certificates and certificate pins. Pure, stdlib only.

One rule set for both uses (tyk-behaviour §3.7 and §5 case 55), so the two cannot drift apart as Tyk's
`getCertificateIDForHost` and `getPinnedPublicKeys` did. Patterns, lowest precedence first:

0. `*`: any host, any port.
1. `*.parent`: a host one label below `parent`, any port (`*.example.com` matches `api.example.com`, not
   `a.b.example.com` nor `example.com`).
2. `*.parent:port`: the same, on that port only.
3. `host`: that host, any port. An IPv6 address is written bare (`::1`) or bracketed (`[::1]`).
4. `host:port`: that host on that port (`[::1]:8443` for IPv6).

Hosts and patterns compare case-insensitively. Among matching entries the highest precedence wins, and
among equals the later entry (callers list the gateway's entries before the API's). No match: None.

Pins (`select_pins`) use only `*`, `*.parent` and `host`, on the host without its port; a pattern with a
port never selects pins (the translation refuses one).

Departure from Tyk: Tyk checks the gateway map, then the API map, and any match in the API map replaces
the gateway's whatever its precedence (a gateway `api.example.com` loses to an API `*`); here the most
specific entry wins whichever layer wrote it, and the API wins ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

ANY_HOST = "*"


@dataclass(frozen=True, slots=True)
class HostPattern:
    """A parsed pattern: `host` lower-cased without brackets (`*.parent` kept as written), `port` or None."""

    host: str
    port: int | None

    @property
    def is_any(self) -> bool:
        return self.host == ANY_HOST

    @property
    def is_wildcard(self) -> bool:
        return self.host.startswith("*.")


def parse_host_pattern(pattern: str) -> HostPattern:
    """`pattern` parsed; ValueError naming the problem when it is none of the five forms."""
    text = pattern.strip().lower()
    host, port = _split_port(text, pattern)
    if not host:
        raise ValueError(f"host pattern {pattern!r} has no host")
    if host == ANY_HOST:
        if port is not None:
            raise ValueError(f"host pattern {pattern!r}: `*` takes no port")
        return HostPattern(host, None)
    labels = host.split(".") if ":" not in host else [host]
    if "*" in host and (labels[0] != "*" or len(labels) < 2 or "*" in ".".join(labels[1:])):
        raise ValueError(f"host pattern {pattern!r}: `*` may only stand for the first label (`*.example.com`)")
    if any(not label for label in labels):
        raise ValueError(f"host pattern {pattern!r} has an empty label")
    return HostPattern(host, port)


def select_for_host(entries: Sequence[tuple[str, T]], host: str, port: int) -> T | None:
    """The value of the most specific entry matching `host` on `port` (module rules); None without one.

    `host` is the upstream URL's host (never the client's Host header), bracketed or not for IPv6.
    Entries whose pattern does not parse match nothing."""
    return _select(entries, _normalise_host(host), port)


def select_pins(entries: Sequence[tuple[str, T]], host: str) -> T | None:
    """The pins of the most specific of `*`, `*.parent` and `host` matching `host` (a port, if any, is
    stripped: `api.example.com:8443`, `[::1]:8443`); later entries win ties; None without a match."""
    return _select(entries, _normalise_host(_strip_port(host)), None)


def _select(entries: Sequence[tuple[str, T]], host: str, port: int | None) -> T | None:
    best: T | None = None
    best_rank = -1
    for pattern, value in entries:
        rank = _rank(pattern, host, port)
        if rank is not None and rank >= best_rank:
            best, best_rank = value, rank
    return best


def _rank(pattern: str, host: str, port: int | None) -> int | None:
    """The precedence (0-4) with which `pattern` matches, or None. `port` None: pin selection."""
    try:
        parsed = parse_host_pattern(pattern)
    except ValueError:
        return None
    if parsed.port is not None and parsed.port != port:
        return None
    with_port = 1 if parsed.port is not None else 0
    if parsed.is_any:
        return 0
    if parsed.is_wildcard:
        _, dot, parent = host.partition(".")
        return 1 + with_port if dot and parent == parsed.host[2:] else None
    return 3 + with_port if parsed.host == host else None


def _split_port(text: str, pattern: str) -> tuple[str, int | None]:
    """`host`/`[v6]`/`v6` -> (host, None); `host:port`/`[v6]:port` -> (host, port). Brackets removed."""
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"host pattern {pattern!r} has an unclosed or misplaced `]`")
        return inside, _port(rest[1:], pattern) if rest else None
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        return host, _port(port_text, pattern)
    return text, None  # no port, or a bare IPv6 address


def _port(text: str, pattern: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= 65535:
        raise ValueError(f"host pattern {pattern!r} has an invalid port {text!r}")
    return int(text)


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _normalise_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host
