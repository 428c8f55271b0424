"""Tables for `bascule.core.host_patterns` (tyk-behaviour §5 case 55, §3.7) and `bascule.core.cipher_names`."""

from __future__ import annotations

import pytest

from bascule.core.cipher_names import is_tls13_suite, openssl_cipher_name
from bascule.core.host_patterns import HostPattern, parse_host_pattern, select_for_host, select_pins

GLOBAL = "global"


# One row per rule of tyk-behaviour §5 case 55, then the module's other rules.
@pytest.mark.parametrize(
    ("entries", "host", "port", "chosen"),
    [
        # `*` matches anything
        ([("*", "any")], "whatever.example.org", 443, "any"),
        # exact beats `*` (whatever the order)
        ([("example.com", "exact"), ("*", "any")], "example.com", 443, "exact"),
        # `*.example.com` beats `*`
        ([("*.example.com", "wild"), ("*", "any")], "api.example.com", 443, "wild"),
        # `*.example.com:8443` beats `*.example.com`
        ([("*.example.com:8443", "wild-port"), ("*.example.com", "wild")], "api.example.com", 8443, "wild-port"),
        # `example.com:8443` beats `example.com`
        ([("example.com:8443", "exact-port"), ("example.com", "exact")], "example.com", 8443, "exact-port"),
        # later map (API) beats earlier (global) at equal precedence
        ([("example.com", GLOBAL), ("example.com", "api")], "example.com", 443, "api"),
        # no match -> none
        ([("other.com", "x"), ("*.example.com", "y")], "example.com", 443, None),
        ([], "example.com", 443, None),
        # `192.168.1.1` matches `192.168.1.1:8443`
        ([("192.168.1.1", "ip")], "192.168.1.1", 8443, "ip"),
        # `::1` matches `[::1]:8443`
        ([("::1", "v6")], "[::1]", 8443, "v6"),
        ([("::1", "v6")], "::1", 8443, "v6"),
        ([("[::1]:8443", "v6-port"), ("::1", "v6")], "::1", 8443, "v6-port"),
        ([("[::1]", "v6")], "[::1]", 8443, "v6"),
        # wildcards cover one label only
        ([("*.example.com", "wild")], "a.b.example.com", 443, None),
        ([("*.example.com", "wild")], "example.com", 443, None),
        # a port in the pattern must equal the port
        ([("example.com:8443", "x")], "example.com", 443, None),
        ([("*.example.com:8443", "x")], "api.example.com", 443, None),
        # case-insensitive hosts and patterns
        ([("API.Example.COM", "exact")], "api.example.com", 443, "exact"),
        ([("*.example.com", "wild")], "API.EXAMPLE.COM", 443, "wild"),
        # the most specific wins across layers: a gateway exact entry beats an API `*` (departure from Tyk)
        ([("example.com", GLOBAL), ("*", "api")], "example.com", 443, GLOBAL),
        # an unparsable pattern matches nothing
        ([("a.*.com", "bad"), ("*", "any")], "a.b.com", 443, "any"),
    ],
)
def test_select_for_host(entries: list[tuple[str, str]], host: str, port: int, chosen: str | None) -> None:
    assert select_for_host(entries, host, port) == chosen


@pytest.mark.parametrize(
    ("entries", "host", "chosen"),
    [
        # `*`
        ([("*", "any")], "api.example.com", "any"),
        # `*.parent` beats `*`
        ([("*.example.com", "wild"), ("*", "any")], "api.example.com", "wild"),
        # exact beats `*.parent`
        ([("api.example.com", "exact"), ("*.example.com", "wild")], "api.example.com", "exact"),
        # port stripped from the host
        ([("api.example.com", "exact")], "api.example.com:8443", "exact"),
        ([("::1", "v6")], "[::1]:8443", "v6"),
        # a pattern with a port never selects pins
        ([("api.example.com:8443", "port"), ("*", "any")], "api.example.com:8443", "any"),
        # later entry wins ties
        ([("api.example.com", GLOBAL), ("api.example.com", "api")], "api.example.com", "api"),
        # one label, case-insensitive, no match
        ([("*.example.com", "wild")], "a.b.example.com", None),
        ([("API.example.com", "exact")], "api.EXAMPLE.com", "exact"),
    ],
)
def test_select_pins(entries: list[tuple[str, str]], host: str, chosen: str | None) -> None:
    assert select_pins(entries, host) == chosen


@pytest.mark.parametrize(
    ("pattern", "parsed"),
    [
        ("*", HostPattern("*", None)),
        ("*.Example.com", HostPattern("*.example.com", None)),
        ("*.example.com:8443", HostPattern("*.example.com", 8443)),
        ("example.com", HostPattern("example.com", None)),
        ("example.com:8443", HostPattern("example.com", 8443)),
        ("::1", HostPattern("::1", None)),
        ("[::1]", HostPattern("::1", None)),
        ("[::1]:8443", HostPattern("::1", 8443)),
    ],
)
def test_parse_host_pattern(pattern: str, parsed: HostPattern) -> None:
    assert parse_host_pattern(pattern) == parsed


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "has no host"),
        (":8443", "has no host"),
        ("*:8443", "takes no port"),
        ("a.*.com", "first label"),
        ("*example.com", "first label"),
        ("*.*.com", "first label"),
        ("*.", "empty label"),
        ("example..com", "empty label"),
        ("example.com:http", "invalid port"),
        ("example.com:0", "invalid port"),
        ("example.com:70000", "invalid port"),
        ("[::1", "unclosed"),
        ("[::1]x", "unclosed or misplaced"),
    ],
)
def test_parse_host_pattern_refuses(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_host_pattern(pattern)


@pytest.mark.parametrize(
    ("name", "openssl"),
    [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
        ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
        ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
        ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),  # already OpenSSL's
        ("TLS_FAKE_WITH_NOTHING", None),
        ("tls_ecdhe_rsa_with_aes_128_gcm_sha256", None),  # case-sensitive, as in Go
    ],
)
def test_openssl_cipher_name(name: str, openssl: str | None) -> None:
    assert openssl_cipher_name(name) == openssl


def test_tls13_suites_are_told_apart() -> None:
    assert is_tls13_suite("TLS_CHACHA20_POLY1305_SHA256")
    assert not is_tls13_suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
