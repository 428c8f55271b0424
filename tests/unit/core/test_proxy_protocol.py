"""Tables and properties for `bascule.core.proxy_protocol` (HAProxy PROXY protocol v1)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.proxy_protocol import MAX_V1_LENGTH, ProxyHeader, parse_proxy_v1_header, proxy_v1_header

MAX_V6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"


@pytest.mark.parametrize(
    ("source", "destination", "expected"),
    [
        (("192.168.0.1", 56324), ("192.168.0.11", 443), b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
        (("127.0.0.1", 0), ("127.0.0.1", 65535), b"PROXY TCP4 127.0.0.1 127.0.0.1 0 65535\r\n"),
        (("::1", 1), ("2001:db8::7", 2), b"PROXY TCP6 ::1 2001:db8::7 1 2\r\n"),
        (("2001:DB8:0:0:0:0:0:7", 1), ("::1", 2), b"PROXY TCP6 2001:db8::7 ::1 1 2\r\n"),  # canonical text
        (("fe80::1%eth0", 1), ("fe80::2%2", 2), b"PROXY TCP6 fe80::1 fe80::2 1 2\r\n"),  # zone dropped
        # IPv4-mapped IPv6 on both ends (a dual-stack listener) is IPv4
        (("::ffff:10.0.0.1", 1), ("::ffff:10.0.0.2", 2), b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n"),
        # mixed families: the IPv4 end written IPv4-mapped, in hex groups
        (("10.0.0.1", 1), ("::1", 2), b"PROXY TCP6 ::ffff:a00:1 ::1 1 2\r\n"),
        (("::ffff:10.0.0.1", 1), ("2001:db8::1", 2), b"PROXY TCP6 ::ffff:a00:1 2001:db8::1 1 2\r\n"),
        # UNKNOWN when either end is unknown
        (None, ("127.0.0.1", 80), b"PROXY UNKNOWN\r\n"),
        (("127.0.0.1", 80), None, b"PROXY UNKNOWN\r\n"),
        (None, None, b"PROXY UNKNOWN\r\n"),
    ],
)
def test_encode(source: tuple[str, int] | None, destination: tuple[str, int] | None, expected: bytes) -> None:
    assert proxy_v1_header(source, destination) == expected


def test_longest_header_fits_the_limit() -> None:
    header = proxy_v1_header((MAX_V6, 65535), (MAX_V6, 65535))
    assert header == f"PROXY TCP6 {MAX_V6} {MAX_V6} 65535 65535\r\n".encode()
    assert len(header) == 104 <= MAX_V1_LENGTH


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        (("localhost", 1), ("127.0.0.1", 2), "needs an IP address"),
        (("127.0.0.1", 1), ("example.com", 2), "needs an IP address"),
        (("", 1), ("127.0.0.1", 2), "needs an IP address"),
        (("127.0.0.1", -1), ("127.0.0.1", 2), "port"),
        (("127.0.0.1", 1), ("127.0.0.1", 65536), "port"),
        (("127.0.0.1", True), ("127.0.0.1", 2), "port"),
    ],
)
def test_encode_rejects(source: tuple[str, int], destination: tuple[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        proxy_v1_header(source, destination)


@pytest.mark.parametrize(
    ("data", "header", "used"),
    [
        (
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n",
            ProxyHeader("TCP4", ("192.168.0.1", 56324), ("192.168.0.11", 443)),
            47,
        ),
        (
            b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
            ProxyHeader("TCP4", ("0.0.0.0", 0), ("255.255.255.255", 65535)),
            44,
        ),
        (b"PROXY TCP6 ::1 2001:db8::7 1 2\r\nping", ProxyHeader("TCP6", ("::1", 1), ("2001:db8::7", 2)), 32),
        (b"PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", ProxyHeader("TCP6", ("::ffff:1.2.3.4", 1), ("::1", 2)), 35),
        (
            f"PROXY TCP6 {MAX_V6} {MAX_V6} 65535 65535\r\n".encode(),
            ProxyHeader("TCP6", (MAX_V6, 65535), (MAX_V6, 65535)),
            104,
        ),
        (b"PROXY UNKNOWN\r\n", ProxyHeader("UNKNOWN"), 15),
        # after UNKNOWN the rest of the line is ignored
        (b"PROXY UNKNOWN 1.2.3.4 whatever\r\nx", ProxyHeader("UNKNOWN"), 32),
        (b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", ProxyHeader("UNKNOWN"), 59),
    ],
)
def test_parse(data: bytes, header: ProxyHeader, used: int) -> None:
    assert parse_proxy_v1_header(data) == (header, used)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"P",
        b"PROXY",
        b"PROXY ",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r",
        b"PROXY UNKNOWN",
        b"PROXY " + b"x" * 99,  # 105 bytes: the CRLF still fits
        b"PROXY " + b"x" * 99 + b"\r",
    ],
)
def test_parse_incomplete(data: bytes) -> None:
    assert parse_proxy_v1_header(data) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\n", "not a PROXY protocol v1 header"),
        (b"\r\n\r\n\x00\r\nQUIT\n", "not a PROXY protocol v1 header"),  # the v2 signature
        (b"proxy TCP4", "not a PROXY protocol v1 header"),
        (b"PROXY\r\n", "not a PROXY protocol v1 header"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "not printable ASCII"),  # bare LF
        (b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "not printable ASCII"),  # bare CR
        (b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "not printable ASCII"),
        (b"PROXY TCP4 \xc3\xa9", "not printable ASCII"),  # fails before the CRLF arrives
        (b"PROXY " + b"x" * 100, "no CRLF within 107 bytes"),  # 106 bytes, no CR: the CRLF cannot fit
        (b"PROXY " + b"x" * 101, "no CRLF within 107 bytes"),
        (b"PROXY " + b"x" * 100 + b"\r\n", "no CRLF within 107 bytes"),  # CRLF ends at byte 108
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol 'UDP4'"),
        (b"PROXY \r\n", "unknown protocol ''"),
        (b"PROXY UNKNOWNX\r\n", "unknown protocol 'UNKNOWNX'"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "needs 6 fields"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "needs 6 fields"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "needs 6 fields"),  # two spaces
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "needs 6 fields"),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "invalid address '::1'"),  # wrong family
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "invalid address '1.2.3.4'"),
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "invalid address '01.2.3.4'"),  # leading zero
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "invalid address"),
        (b"PROXY TCP4 localhost 5.6.7.8 1 2\r\n", "invalid address"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "invalid address 'fe80::1%eth0'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "invalid port '65536'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n", "invalid port '080'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "invalid port '-1'"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "invalid port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "invalid port ''"),
    ],
)
def test_parse_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_proxy_v1_header(data)


ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str).filter(lambda a: ipaddress.IPv6Address(a).ipv4_mapped is None)
ports = st.integers(min_value=0, max_value=65535)


@given(st.one_of(st.tuples(ipv4, ipv4), st.tuples(ipv6, ipv6)), ports, ports, st.binary(max_size=20))
def test_round_trip(addresses: tuple[str, str], sport: int, dport: int, rest: bytes) -> None:
    header = proxy_v1_header((addresses[0], sport), (addresses[1], dport))
    assert len(header) <= MAX_V1_LENGTH
    parsed = parse_proxy_v1_header(header + rest)
    assert parsed is not None
    decoded, used = parsed
    assert used == len(header)
    assert decoded.protocol == ("TCP4" if "." in addresses[0] else "TCP6")
    assert decoded.source is not None
    assert decoded.destination is not None
    assert ipaddress.ip_address(decoded.source[0]) == ipaddress.ip_address(addresses[0])
    assert ipaddress.ip_address(decoded.destination[0]) == ipaddress.ip_address(addresses[1])
    assert (decoded.source[1], decoded.destination[1]) == (sport, dport)
    # every proper prefix of a header is incomplete, never an error
    for cut in range(len(header)):
        assert parse_proxy_v1_header(header[:cut]) is None


@given(st.binary(max_size=120))
def test_any_bytes_parse_or_wait_or_fail_cleanly(data: bytes) -> None:
    try:
        result = parse_proxy_v1_header(data)
    except ValueError:
        return
    if result is not None:
        assert 15 <= result[1] <= MAX_V1_LENGTH
        assert data[result[1] - 2 : result[1]] == b"\r\n"
