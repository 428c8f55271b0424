"""PROXY protocol version 1, the text header (HAProxy's `proxy-protocol.txt`, section 2.1).

Rules:
1. The header is one US-ASCII line: `PROXY TCP4 <src> <dst> <sport> <dport>\\r\\n`, `TCP6` for IPv6, or
   `PROXY UNKNOWN\\r\\n`; fields are separated by exactly one space; the whole line, CRLF included, is at most
   107 bytes.
2. Encoding: `UNKNOWN` when either end is None. Addresses must be IP literals (a hostname is a ValueError);
   an IPv6 zone (`%eth0`) is dropped. Both IPv4 (IPv4-mapped IPv6 counts as IPv4) -> `TCP4`; otherwise `TCP6`,
   with an IPv4 end written IPv4-mapped (`::ffff:a00:1`). Ports must be 0-65535.
3. Parsing: `None` while the bytes so far are a valid beginning of a header without its CRLF; ValueError for
   anything else that is not a header: another first word, a byte outside printable ASCII, a bare CR or LF,
   no room left for the CRLF within 107 bytes, an unknown protocol, a wrong field count, an address not of
   the announced family (IPv4 without leading zeros; IPv6 without a zone), a port outside 0-65535 or with a
   leading zero. After `UNKNOWN` the rest of the line is ignored, as the spec requires.
4. A parsed header gives back the addresses as written, and the number of bytes it took (CRLF included); the
   bytes after it belong to the proxied stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Literal

__all__ = ["MAX_V1_LENGTH", "ProxyHeader", "parse_proxy_v1_header", "proxy_v1_header"]

MAX_V1_LENGTH = 107
"""The longest v1 header, CRLF included (`PROXY TCP6` with two full-length IPv6 addresses and ports)."""

_PREFIX = b"PROXY "
_PRINTABLE = re.compile(rb"[\x20-\x7e]*")
_PORT = re.compile(r"0|[1-9][0-9]{0,4}")

Protocol = Literal["TCP4", "TCP6", "UNKNOWN"]
_FAMILIES: dict[str, type[IPv4Address] | type[IPv6Address]] = {"TCP4": IPv4Address, "TCP6": IPv6Address}


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A decoded v1 header; `source` and `destination` are `(address, port)`, None for `UNKNOWN`."""

    protocol: Protocol
    source: tuple[str, int] | None = None
    destination: tuple[str, int] | None = None


def proxy_v1_header(source: tuple[str, int] | None, destination: tuple[str, int] | None) -> bytes:
    """The header announcing a connection from `source` to `destination` (rule 2)."""
    if source is None or destination is None:
        return b"PROXY UNKNOWN\r\n"
    src, dst = _address(source[0]), _address(destination[0])
    ports = [_port(source[1]), _port(destination[1])]
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        protocol, addresses = "TCP4", [str(src), str(dst)]
    else:
        protocol, addresses = "TCP6", [_ipv6_text(src), _ipv6_text(dst)]
    return f"PROXY {protocol} {addresses[0]} {addresses[1]} {ports[0]} {ports[1]}\r\n".encode("ascii")


def parse_proxy_v1_header(data: bytes) -> tuple[ProxyHeader, int] | None:
    """The header at the start of `data` and its length, or None until its CRLF has arrived (rule 3)."""
    head = data[: len(_PREFIX)]
    if head != _PREFIX[: len(head)]:
        raise ValueError("not a PROXY protocol v1 header")
    window = data[:MAX_V1_LENGTH]
    end = window.find(b"\r\n")
    line = window[:end] if end >= 0 else window.removesuffix(b"\r")
    if not _PRINTABLE.fullmatch(line):
        raise ValueError("PROXY header holds a byte that is not printable ASCII (or a bare CR or LF)")
    if end < 0:
        if len(line) > MAX_V1_LENGTH - 2:  # no room left for the CRLF
            raise ValueError(f"PROXY header has no CRLF within {MAX_V1_LENGTH} bytes")
        return None
    return _parse_line(line.decode("ascii")), end + 2


def _parse_line(line: str) -> ProxyHeader:
    fields = line.split(" ")
    protocol = fields[1]
    if protocol == "UNKNOWN":
        return ProxyHeader("UNKNOWN")
    family = _FAMILIES.get(protocol)
    if family is None:
        raise ValueError(f"PROXY header names an unknown protocol {protocol!r}")
    if len(fields) != 6:
        raise ValueError(f"PROXY {protocol} header needs 6 fields separated by single spaces, got {line!r}")
    for text in fields[2:4]:
        try:
            family(text)
            valid = "%" not in text
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(f"PROXY {protocol} header has an invalid address {text!r}")
    for text in fields[4:6]:
        if not _PORT.fullmatch(text) or int(text) > 65535:
            raise ValueError(f"PROXY {protocol} header has an invalid port {text!r}")
    return ProxyHeader(
        "TCP4" if protocol == "TCP4" else "TCP6",
        (fields[2], int(fields[4])),
        (fields[3], int(fields[5])),
    )


def _address(host: str) -> IPv4Address | IPv6Address:
    try:
        address = ip_address(host.partition("%")[0])
    except ValueError as exc:
        raise ValueError(f"PROXY header needs an IP address, got {host!r}") from exc
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ipv6_text(address: IPv4Address | IPv6Address) -> str:
    if isinstance(address, IPv4Address):
        value = int(address)
        return f"::ffff:{value >> 16:x}:{value & 0xFFFF:x}"
    return address.compressed


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"PROXY header needs a port 0-65535, got {port!r}")
    return port
