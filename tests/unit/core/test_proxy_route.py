"""Tables for `bascule.core.proxy_route`: precedence (DECISIONS §5-6), proxy URLs, choice per call (§7-8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.config.outbound import BypassEntry, ProxyEndpoint, ProxyRoute
from bascule.core.proxy_route import (
    ProxyLayer,
    ProxyUrl,
    SourcedValue,
    choose_proxy,
    parse_proxy_url,
    resolve_proxy_settings,
)

L = ProxyLayer
GLOBAL = L(True, "http://g:3128", "https://g:3128", "localhost,.internal")
ENV = {"HTTP_PROXY": "http://env:1", "HTTPS_PROXY": "http://env:2", "NO_PROXY": "corp.example"}
Expected = tuple[str, str] | None


def got(value: SourcedValue | None) -> Expected:
    return None if value is None else (value.text, value.origin)


# desc, service, global, environ, legacy, (http_proxy, https_proxy, bypass_proxy), loopback_never_proxied
PRECEDENCE: list[tuple[str, L, L, dict[str, str], L, tuple[Expected, Expected, Expected], bool]] = [
    ("nothing anywhere", L(), L(), {}, L(), (None, None, None), False),
    (
        "global enabled applies to a service with no block",
        L(),
        GLOBAL,
        {},
        L(),
        (("http://g:3128", "global"), ("https://g:3128", "global"), ("localhost,.internal", "global")),
        False,
    ),
    (
        "global disabled: its values are not read",
        L(),
        L(False, "http://g:1", "http://g:2", "x"),
        {},
        L(),
        (None,) * 3,
        False,
    ),
    ("global disabled, no service block: no proxy, env not read", L(), L(False), ENV, L(), (None,) * 3, False),
    (
        "service enabled false while global enabled: uses global",
        L(False),
        GLOBAL,
        ENV,
        L(),
        (("http://g:3128", "global"), ("https://g:3128", "global"), ("localhost,.internal", "global")),
        False,
    ),
    (
        "service URLs win; the global bypass still applies (per field)",
        L(True, "http://s:1", "http://s:2"),
        GLOBAL,
        {},
        L(),
        (("http://s:1", "service"), ("http://s:2", "service"), ("localhost,.internal", "global")),
        False,
    ),
    (
        "service URLs without enabled are used, global disabled",
        L(False, "http://s:1", "http://s:2", "svc.local"),
        L(),
        ENV,
        L(),
        (("http://s:1", "service"), ("http://s:2", "service"), ("svc.local", "service")),
        False,
    ),
    (
        "docs example 3: bypass-only service inherits the global URLs, keeps its bypass",
        L(True, bypass_proxy="localhost,127.0.0.1,redis.internal"),
        GLOBAL,
        ENV,
        L(),
        (("http://g:3128", "global"), ("https://g:3128", "global"), ("localhost,127.0.0.1,redis.internal", "service")),
        False,
    ),
    (
        "docs example 4: enabled alone inherits the global proxy",
        L(True),
        GLOBAL,
        ENV,
        L(),
        (("http://g:3128", "global"), ("https://g:3128", "global"), ("localhost,.internal", "global")),
        False,
    ),
    (
        "service http only: https comes from global",
        L(True, http_proxy="http://s:1"),
        GLOBAL,
        {},
        L(),
        (("http://s:1", "service"), ("https://g:3128", "global"), ("localhost,.internal", "global")),
        False,
    ),
    (
        "env mode: service enabled without URLs, global disabled -> upper-case variables",
        L(True),
        L(),
        ENV,
        L(),
        (("http://env:1", "environment"), ("http://env:2", "environment"), ("corp.example", "environment")),
        True,
    ),
    (
        "env mode: global enabled without URLs",
        L(),
        L(True),
        ENV,
        L(),
        (("http://env:1", "environment"), ("http://env:2", "environment"), ("corp.example", "environment")),
        True,
    ),
    (
        "env mode: lower-case variables",
        L(True),
        L(),
        {"http_proxy": "http://low:1", "https_proxy": "http://low:2", "no_proxy": "low.example"},
        L(),
        (("http://low:1", "environment"), ("http://low:2", "environment"), ("low.example", "environment")),
        True,
    ),
    (
        "env mode: upper case wins over lower case",
        L(True),
        L(),
        {**ENV, "http_proxy": "http://low:1", "https_proxy": "http://low:2", "no_proxy": "low.example"},
        L(),
        (("http://env:1", "environment"), ("http://env:2", "environment"), ("corp.example", "environment")),
        True,
    ),
    (
        "env mode: an empty upper-case variable counts as unset",
        L(True),
        L(),
        {"HTTP_PROXY": "", "http_proxy": "http://low:1"},
        L(),
        (("http://low:1", "environment"), None, None),
        True,
    ),
    (
        "env mode: the service's bypass list wins over NO_PROXY",
        L(True, bypass_proxy="svc.local"),
        L(),
        ENV,
        L(),
        (("http://env:1", "environment"), ("http://env:2", "environment"), ("svc.local", "service")),
        True,
    ),
    (
        "env mode: the global bypass list wins over NO_PROXY",
        L(),
        L(True, bypass_proxy="g.local"),
        ENV,
        L(),
        (("http://env:1", "environment"), ("http://env:2", "environment"), ("g.local", "global")),
        True,
    ),
    (
        "not env mode when the block has one URL: HTTPS_PROXY is not read",
        L(),
        L(True, http_proxy="http://g:3128"),
        ENV,
        L(),
        (("http://g:3128", "global"), None, None),
        False,
    ),
    (
        "legacy keys alone (no external_services): used",
        L(),
        L(),
        ENV,
        L(http_proxy="http://legacy:1", https_proxy="http://legacy:2"),
        (("http://legacy:1", "legacy"), ("http://legacy:2", "legacy"), None),
        False,
    ),
    (
        "external_services URLs win over legacy keys",
        L(),
        GLOBAL,
        {},
        L(http_proxy="http://legacy:1", https_proxy="http://legacy:2"),
        (("http://g:3128", "global"), ("https://g:3128", "global"), ("localhost,.internal", "global")),
        False,
    ),
    (
        "legacy fills the URL external_services leaves unset (per field)",
        L(),
        L(True, http_proxy="http://g:3128"),
        {},
        L(https_proxy="http://legacy:2"),
        (("http://g:3128", "global"), ("http://legacy:2", "legacy"), None),
        False,
    ),
    (
        "env mode wins over legacy; legacy fills what the environment lacks",
        L(True),
        L(),
        {"HTTP_PROXY": "http://env:1"},
        L(http_proxy="http://legacy:1", https_proxy="http://legacy:2"),
        (("http://env:1", "environment"), ("http://legacy:2", "legacy"), None),
        False,
    ),
    (
        "env mode with no variables: legacy",
        L(True),
        L(),
        {},
        L(http_proxy="http://legacy:1"),
        (("http://legacy:1", "legacy"), None, None),
        False,
    ),
    (
        "blank values are unset; values are trimmed",
        L(True, http_proxy="  ", https_proxy=" http://s:2 ", bypass_proxy=" "),
        L(),
        {},
        L(),
        (None, ("http://s:2", "service"), None),
        False,
    ),
]


@pytest.mark.parametrize(
    ("service", "global_", "environ", "legacy", "expected", "loopback"),
    [pytest.param(*row[1:], id=row[0]) for row in PRECEDENCE],
)
def test_precedence_per_field(
    service: L,
    global_: L,
    environ: dict[str, str],
    legacy: L,
    expected: tuple[Expected, Expected, Expected],
    loopback: bool,
) -> None:
    settings = resolve_proxy_settings(service, global_, environ, legacy)
    assert (got(settings.http_proxy), got(settings.https_proxy), got(settings.bypass_proxy)) == expected
    assert settings.loopback_never_proxied is loopback


def test_environment_values_name_their_variable() -> None:
    settings = resolve_proxy_settings(L(True), L(), {"https_proxy": "http://low:2", "NO_PROXY": "x"})
    assert settings.https_proxy is not None and settings.https_proxy.variable == "https_proxy"
    assert settings.bypass_proxy is not None and settings.bypass_proxy.variable == "NO_PROXY"


# --- proxy URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://proxy.example.com:8080", ProxyUrl("http", "proxy.example.com", 8080)),
        ("https://proxy.example.com:8443", ProxyUrl("https", "proxy.example.com", 8443)),
        ("http://proxy", ProxyUrl("http", "proxy", 80)),  # no port: 80 for http
        ("https://proxy", ProxyUrl("https", "proxy", 443)),  # 443 for https
        ("http://proxy:", ProxyUrl("http", "proxy", 80)),
        ("HTTP://Proxy.Example.COM:3128/", ProxyUrl("http", "proxy.example.com", 3128)),
        ("  http://proxy:3128  ", ProxyUrl("http", "proxy", 3128)),
        ("proxy:3128", ProxyUrl("http", "proxy", 3128)),  # no scheme: http, as Go's env rule
        ("//proxy:3128", ProxyUrl("http", "proxy", 3128)),
        ("http://10.0.0.1:3128", ProxyUrl("http", "10.0.0.1", 3128)),
        ("http://[::1]:3128", ProxyUrl("http", "::1", 3128)),
        ("https://[2001:DB8::1]", ProxyUrl("https", "2001:db8::1", 443)),
        ("http://alice:s3cr3t@proxy:8080", ProxyUrl("http", "proxy", 8080, "alice", "s3cr3t")),
        ("alice:s3cr3t@proxy:8080", ProxyUrl("http", "proxy", 8080, "alice", "s3cr3t")),
        ("//alice:s3cr3t@proxy:8080", ProxyUrl("http", "proxy", 8080, "alice", "s3cr3t")),
        ("http://alice:s3/cr3t@proxy:8080", ProxyUrl("http", "proxy", 8080, "alice", "s3/cr3t")),
        ("http://alice:p@ss@proxy:8080", ProxyUrl("http", "proxy", 8080, "alice", "p@ss")),  # last @
        ("http://al%40ce:p%3Aw@proxy", ProxyUrl("http", "proxy", 80, "al@ce", "p:w")),
        ("http://token@proxy", ProxyUrl("http", "proxy", 80, "token", "")),
        ("http://alice:x://y@proxy", ProxyUrl("http", "proxy", 80, "alice", "x://y")),
    ],
)
def test_parse_proxy_url(text: str, expected: ProxyUrl) -> None:
    url = parse_proxy_url(text)
    assert (url, url.username, url.password) == (expected, expected.username, expected.password)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://badproxy:wrong_port", 'invalid port "wrong_port" after host'),  # the docs' example
        ("http://alice:s3cr3t@proxy:99999", "port 99999 out of range"),
        ("http://proxy:0", "port 0 out of range"),
        ("socks5://proxy:1080", 'unsupported proxy scheme "socks5" (http or https)'),
        ("ftp://proxy", 'unsupported proxy scheme "ftp"'),
        ("", "missing host"),
        ("http://", "missing host"),
        ("http://alice:pw@", "missing host"),
        ("http://proxy:3128/path", "a proxy URL has no path, query or fragment"),
        ("http://proxy:3128?q", "a proxy URL has no path, query or fragment"),
        ("http://::1:3128", "an IPv6 host must be in brackets"),
        ("http://[::1:3128", "invalid IPv6 host in brackets"),
        ("http://[proxy]:3128", "invalid IPv6 host in brackets"),
        ("http://[::1]x", "unexpected text after ]"),
        ("http://pro xy:3128", 'invalid host "pro xy"'),
    ],
)
def test_parse_proxy_url_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_proxy_url(text)
    assert message in str(caught.value)


_PASSWORD = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="%"), min_size=6)


@given(_PASSWORD, st.sampled_from(["http://", "https://", "//", ""]), st.sampled_from([":8080", ":99999", ":x", ""]))
def test_parse_errors_never_contain_the_password(password: str, scheme: str, port: str) -> None:
    text = f"{scheme}alice:{password}@proxy.example.com{port}"
    try:
        url = parse_proxy_url(text)
    except ValueError as error:
        assert password not in str(error)
    else:
        assert url.password == password
        assert password not in repr(url)


# --- choice per call ---------------------------------------------------------------------------------------

HTTP_P = ProxyEndpoint("http", "hp", 3128)
HTTPS_P = ProxyEndpoint("https", "sp", 3129)
BOTH = ProxyRoute(http_proxy=HTTP_P, https_proxy=HTTPS_P)


@pytest.mark.parametrize(
    ("route", "scheme", "host", "port", "expected"),
    [
        pytest.param(BOTH, "http", "api.example.com", 80, HTTP_P, id="http target: http_proxy"),
        pytest.param(BOTH, "https", "api.example.com", 443, HTTPS_P, id="https target: https_proxy"),
        pytest.param(BOTH, "HTTPS", "api.example.com", 443, HTTPS_P, id="scheme case-insensitive"),
        pytest.param(ProxyRoute(http_proxy=HTTP_P), "https", "a", 443, HTTP_P, id="https falls back to http_proxy"),
        pytest.param(ProxyRoute(https_proxy=HTTPS_P), "http", "a", 80, None, id="http never uses https_proxy"),
        pytest.param(BOTH, "redis", "redis.example", 6379, HTTPS_P, id="non-HTTP (CONNECT): https_proxy"),
        pytest.param(ProxyRoute(http_proxy=HTTP_P), "rediss", "r", 6380, HTTP_P, id="non-HTTP: else http_proxy"),
        pytest.param(ProxyRoute(), "https", "a", 443, None, id="no proxy: direct"),
        pytest.param(
            ProxyRoute(http_proxy=HTTP_P, bypass=(BypassEntry(".internal"),)),
            "http",
            "db.internal",
            80,
            None,
            id="bypassed: direct",
        ),
        pytest.param(
            ProxyRoute(http_proxy=HTTP_P, bypass=(BypassEntry(".internal"),)),
            "http",
            "api.example.com",
            80,
            HTTP_P,
            id="not bypassed",
        ),
        pytest.param(BOTH, "http", "127.0.0.1", 8080, HTTP_P, id="loopback proxied unless listed"),
        pytest.param(BOTH, "http", "localhost", 8080, HTTP_P, id="localhost proxied unless listed"),
        pytest.param(
            ProxyRoute(http_proxy=HTTP_P, loopback_never_proxied=True),
            "http",
            "127.0.0.1",
            8080,
            None,
            id="env-only: loopback never proxied",
        ),
        pytest.param(
            ProxyRoute(http_proxy=HTTP_P, loopback_never_proxied=True),
            "http",
            "[::1]",
            8080,
            None,
            id="env-only: IPv6 loopback never proxied",
        ),
        pytest.param(
            ProxyRoute(http_proxy=HTTP_P, loopback_never_proxied=True),
            "http",
            "api.example.com",
            80,
            HTTP_P,
            id="env-only: others proxied",
        ),
    ],
)
def test_choose_proxy(route: ProxyRoute, scheme: str, host: str, port: int, expected: ProxyEndpoint | None) -> None:
    assert choose_proxy(route, scheme, host, port) == expected
