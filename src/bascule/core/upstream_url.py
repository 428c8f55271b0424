"""Upstream URLs, parsed once per snapshot (tyk-behaviour §3.2 step 2, §5 case 42)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

# Go's url.Parse rejects what urlsplit lets through (`exa mple.com`, `[::1]x:80`): host, then an optional port.
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(:[0-9]*)?")

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "h2c": 80, "tcp": 0, "tls": 0}
WIRE_SCHEMES = {"ws": "http", "wss": "https", "h2c": "http"}


class Origin(NamedTuple):
    """Where a connection goes and whether it speaks TLS: the key of a connection pool."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}"


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """Where one upstream lives and what its URL adds to every request."""

    url: str
    scheme: str
    """As written (`h2c`, `ws` kept); `wire_scheme` is what is spoken."""
    host: str
    port: int
    host_header: str
    """`host[:port]` as written in the URL (IPv6 in brackets): the default `Host` sent upstream."""
    path: str
    query: str
    origin: Origin
    host_header_bytes: bytes = b""
    """`host_header` encoded once, for the request path."""
    host_port: str = ""
    """`host:port` with the port always given (IPv6 in brackets): the name uptime checks know a host by."""

    @property
    def wire_scheme(self) -> str:
        return WIRE_SCHEMES.get(self.scheme, self.scheme)

    @property
    def is_tls(self) -> bool:
        return self.wire_scheme in ("https", "tls")


def normalise_host(value: str, default_scheme: str) -> str:
    """Give a discovered or load-balanced host string a scheme (§5 case 42).

    Trimmed; `default_scheme` (the API protocol, or `http`) is added when no `://` is present.
    Unlike Tyk, `h2c://` is kept: bascule speaks HTTP/2 to such targets (DECISIONS §19).
    """
    value = value.strip()
    if "://" in value:
        return value
    return f"{default_scheme or 'http'}://{value}"


def parse_target(url: str) -> UpstreamTarget:
    """Parse an upstream URL; raises ValueError naming what is wrong."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported scheme {parts.scheme!r} in upstream URL {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"upstream URL {url!r} has no host")
    if not _HOST_PORT.fullmatch(parts.netloc.rpartition("@")[2]):
        raise ValueError(f"upstream URL {url!r} has an invalid host or port")
    try:
        explicit_port = parts.port
    except ValueError as exc:
        raise ValueError(f"upstream URL {url!r} has an invalid port") from exc
    port = explicit_port if explicit_port is not None else DEFAULT_PORTS[scheme]
    if port == 0:
        raise ValueError(f"upstream URL {url!r} needs a port")
    shown = f"[{host}]" if ":" in host else host
    host_header = f"{shown}:{explicit_port}" if explicit_port is not None else shown
    return UpstreamTarget(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        host_header=host_header,
        host_header_bytes=host_header.encode("idna") if not host_header.isascii() else host_header.encode(),
        host_port=f"{shown}:{port}",
        path=parts.path,
        query=parts.query,
        origin=Origin(host, port, WIRE_SCHEMES.get(scheme, scheme) in ("https", "tls")),
    )
