"""Tables and properties for `bascule.core.upstream_url` (tyk-behaviour §3.2, §5 case 42, DECISIONS §19)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.upstream_url import Origin, normalise_host, parse_target


@pytest.mark.parametrize(
    ("url", "scheme", "wire", "host", "port", "host_header", "tls"),
    [
        ("http://example.com", "http", "http", "example.com", 80, "example.com", False),
        ("http://example.com:8080", "http", "http", "example.com", 8080, "example.com:8080", False),
        ("http://example.com:80", "http", "http", "example.com", 80, "example.com:80", False),
        ("https://example.com", "https", "https", "example.com", 443, "example.com", True),
        ("https://example.com:8443", "https", "https", "example.com", 8443, "example.com:8443", True),
        ("ws://example.com", "ws", "http", "example.com", 80, "example.com", False),
        ("ws://example.com:9000", "ws", "http", "example.com", 9000, "example.com:9000", False),
        ("wss://example.com", "wss", "https", "example.com", 443, "example.com", True),
        ("wss://example.com:9443", "wss", "https", "example.com", 9443, "example.com:9443", True),
        # DECISIONS §19: h2c kept as written, spoken as cleartext HTTP/2
        ("h2c://grpc.local", "h2c", "http", "grpc.local", 80, "grpc.local", False),
        ("h2c://grpc.local:50051", "h2c", "http", "grpc.local", 50051, "grpc.local:50051", False),
        ("tcp://db.local:5432", "tcp", "tcp", "db.local", 5432, "db.local:5432", False),
        ("tls://db.local:5433", "tls", "tls", "db.local", 5433, "db.local:5433", True),
        # IPv4 and IPv6
        ("http://127.0.0.1:9000", "http", "http", "127.0.0.1", 9000, "127.0.0.1:9000", False),
        ("http://[::1]", "http", "http", "::1", 80, "[::1]", False),
        ("http://[::1]:8080", "http", "http", "::1", 8080, "[::1]:8080", False),
        ("https://[2001:db8::7]:8443", "https", "https", "2001:db8::7", 8443, "[2001:db8::7]:8443", True),
        # scheme is case-insensitive; an empty port means the default
        ("HTTPS://example.com", "https", "https", "example.com", 443, "example.com", True),
        ("http://example.com:", "http", "http", "example.com", 80, "example.com", False),
        # user info is not part of the host
        ("http://user:pw@example.com:81", "http", "http", "example.com", 81, "example.com:81", False),
    ],
)
def test_parse_target(url: str, scheme: str, wire: str, host: str, port: int, host_header: str, tls: bool) -> None:
    target = parse_target(url)
    assert target.url == url
    assert target.scheme == scheme
    assert target.wire_scheme == wire
    assert target.host == host
    assert target.port == port
    assert target.host_header == host_header
    assert target.is_tls is tls
    assert target.origin == Origin(host, port, tls)


@pytest.mark.parametrize(
    ("url", "path", "query"),
    [
        ("http://example.com", "", ""),
        ("http://example.com/", "/", ""),
        ("http://target-host.com/targetpath", "/targetpath", ""),
        ("http://acme.service.com/user-service", "/user-service", ""),
        ("http://example.com/a/b/?x=1&y=2", "/a/b/", "x=1&y=2"),
        ("http://example.com?x=1", "", "x=1"),
        ("http://example.com/%2Fenc%20oded", "/%2Fenc%20oded", ""),
        ("http://example.com/p#frag", "/p", ""),
    ],
)
def test_parse_target_path_and_query(url: str, path: str, query: str) -> None:
    target = parse_target(url)
    assert target.path == path
    assert target.query == query


def test_parse_target_trims_whitespace() -> None:
    target = parse_target("  http://example.com:81/x \n")
    assert (target.host, target.port, target.path) == ("example.com", 81, "/x")


def test_hostname_is_lower_cased() -> None:
    target = parse_target("http://Example.COM:81")
    assert target.host == "example.com"
    assert target.origin == Origin("example.com", 81, False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # missing host
        ("http://", "has no host"),
        ("http:///path", "has no host"),
        ("https://:8443", "has no host"),
        # bad scheme (a scheme-less value is not usable, §3.2 step 2)
        ("httpbin.org", "unsupported scheme"),
        ("/just/a/path", "unsupported scheme"),
        ("", "unsupported scheme"),
        ("ftp://example.com", "unsupported scheme"),
        ("tyk://other-api", "unsupported scheme"),
        ("grpc://example.com", "unsupported scheme"),
        ("localhost:8080", "unsupported scheme"),
        # bad port
        ("http://example.com:abc", "invalid (host or )?port"),
        ("http://example.com:99999", "invalid (host or )?port"),
        ("http://example.com:65536", "invalid (host or )?port"),
        ("http://example.com:-1", "invalid (host or )?port"),
        ("http://example.com:80x", "invalid (host or )?port"),
        ("http://[::1]:80x", "invalid (host or )?port"),
        # raw TCP needs a port, and port 0 is never usable
        ("tcp://db.local", "needs a port"),
        ("tls://db.local", "needs a port"),
        ("http://example.com:0", "needs a port"),
    ],
)
def test_parse_target_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(url)


@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]:80", "http://a]b:80"])
def test_malformed_ipv6_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        parse_target(url)


@pytest.mark.parametrize(
    "url",
    [
        # urlsplit lets these through; Go's url.Parse rejects them
        # (invalid character " " in host name / invalid port "x:80" after host)
        "http://exa mple.com",
        "http://exa mple.com:81/x",
        "http://[::1]x:80",
        "http://[::1]x",
        "http://a<b>.com",
        'http://a"b.com',
    ],
)
def test_malformed_host_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="invalid host or port"):
        parse_target(url)


def test_error_names_the_url() -> None:
    with pytest.raises(ValueError, match="ftp://x"):
        parse_target("ftp://x")


@pytest.mark.parametrize(
    ("origin", "shown"),
    [
        (Origin("example.com", 80, False), "http://example.com:80"),
        (Origin("example.com", 443, True), "https://example.com:443"),
        (Origin("::1", 8080, False), "http://[::1]:8080"),
    ],
)
def test_origin_str(origin: Origin, shown: str) -> None:
    assert str(origin) == shown


def test_same_origin_for_ws_and_http() -> None:
    # One connection pool serves both: the key is host, port and TLS only.
    assert parse_target("ws://a:81").origin == parse_target("http://a:81/x").origin
    assert parse_target("wss://a").origin == parse_target("https://a:443").origin
    assert parse_target("h2c://a").origin == parse_target("http://a").origin


# --- normalise_host --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "default_scheme", "expected"),
    [
        # tyk-behaviour §5 case 42
        ("192.168.1.1:443 ", "https", "https://192.168.1.1:443"),
        ("httpbin.org:2000", "tls", "tls://httpbin.org:2000"),
        ("httpbin.org", "", "http://httpbin.org"),
        ("http://httpbin.org", "https", "http://httpbin.org"),
        # DECISIONS §19: unlike Tyk (which gives http://httpbin.org), h2c is kept
        ("h2c://httpbin.org", "h2c", "h2c://httpbin.org"),
        ("h2c://httpbin.org", "http", "h2c://httpbin.org"),
        # more
        ("  httpbin.org:80\t", "http", "http://httpbin.org:80"),
        ("httpbin.org", "h2c", "h2c://httpbin.org"),
        ("[::1]:8080", "http", "http://[::1]:8080"),
        ("https://a:1/p", "http", "https://a:1/p"),
    ],
)
def test_normalise_host(value: str, default_scheme: str, expected: str) -> None:
    assert normalise_host(value, default_scheme) == expected


def test_normalised_host_parses() -> None:
    target = parse_target(normalise_host(" 10.0.0.5:9000 ", "https"))
    assert target.origin == Origin("10.0.0.5", 9000, True)
    target = parse_target(normalise_host("h2c://grpc.local:50051", "h2c"))
    assert target.scheme == "h2c"
    assert target.wire_scheme == "http"


# --- properties ------------------------------------------------------------------------------------------

_hosts = st.from_regex(r"[a-z][a-z0-9\-]{0,10}(\.[a-z][a-z0-9]{0,5}){0,2}", fullmatch=True)
_schemes = st.sampled_from(["http", "https", "ws", "wss", "h2c"])


@given(_schemes, _hosts, st.none() | st.integers(min_value=1, max_value=65535))
def test_parse_target_round_trip(scheme: str, host: str, port: int | None) -> None:
    url = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    target = parse_target(url)
    assert target.host == host
    assert target.port == (port if port is not None else {"https": 443, "wss": 443}.get(scheme, 80))
    assert target.host_header == (f"{host}:{port}" if port is not None else host)
    assert target.is_tls is (scheme in ("https", "wss"))


@given(_hosts, st.integers(min_value=1, max_value=65535), _schemes)
def test_normalise_then_parse(host: str, port: int, scheme: str) -> None:
    value = normalise_host(f" {host}:{port} ", scheme)
    assert value == f"{scheme}://{host}:{port}"
    assert normalise_host(value, "http") == value
    assert parse_target(value).origin.port == port
