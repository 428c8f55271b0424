"""Tables for `bascule.core.proxy_bypass` (DECISIONS §8): one row per documented form, then IPv6, ports, case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.proxy_bypass import (
    RuleKind,
    go_no_proxy_entries,
    is_loopback_host,
    parse_bypass_entry,
    should_bypass,
    split_bypass_list,
)


@pytest.mark.parametrize(
    ("text", "entries"),
    [
        ("localhost,127.0.0.1,.internal", ("localhost", "127.0.0.1", ".internal")),
        (" localhost , 127.0.0.1 ,, .internal ,", ("localhost", "127.0.0.1", ".internal")),
        ("", ()),
        (" , ,", ()),
        ("*", ("*",)),
    ],
)
def test_split_bypass_list_trims_and_drops_empties(text: str, entries: tuple[str, ...]) -> None:
    assert split_bypass_list(text) == entries


# One row per form of the module docstring, with a match and the nearest non-match.
@pytest.mark.parametrize(
    ("entry", "host", "port", "bypassed"),
    [
        # `*`: everything
        ("*", "anything.example.com", 443, True),
        ("*", "10.9.8.7", 6379, True),
        # exact host, any port
        ("api.example.com", "api.example.com", 443, True),
        ("api.example.com", "api.example.com", 8080, True),
        ("api.example.com", "other.example.com", 443, False),
        # a bare domain matches itself only, not its subdomains (Go's NO_PROXY would match them)
        ("example.com", "api.example.com", 443, False),
        ("example.com", "notexample.com", 443, False),
        # `localhost` also covers loopback literals (Tyk's explicit mode special case, widened)
        ("localhost", "localhost", 8080, True),
        ("localhost", "127.0.0.1", 8080, True),
        ("localhost", "127.1.2.3", 8080, True),
        ("localhost", "::1", 8080, True),
        ("localhost", "10.0.0.1", 8080, False),
        ("127.0.0.1", "localhost", 8080, False),
        # IP address
        ("10.1.2.3", "10.1.2.3", 80, True),
        ("10.1.2.3", "10.1.2.4", 80, False),
        ("127.0.0.1", "127.0.0.1", 3128, True),
        # CIDR, IP literals only: a name is never resolved
        ("10.0.0.0/8", "10.200.3.4", 80, True),
        ("10.0.0.0/8", "11.0.0.1", 80, False),
        ("10.0.0.0/8", "ten.internal", 80, False),
        ("10.0.0.1/8", "10.200.3.4", 80, True),  # host bits ignored, as Go's ParseCIDR
        # leading-dot suffix
        (".internal", "a.internal", 443, True),
        (".internal", "b.a.internal", 443, True),
        (".internal", "internal", 443, False),
        (".internal", "a.internal.example.com", 443, False),
        (".internal", "xinternal", 443, False),
        # `*.local` is `.local`
        ("*.local", "printer.local", 631, True),
        ("*.local", "local", 631, False),
        # host:port, only on that port
        ("idp.internal:8443", "idp.internal", 8443, True),
        ("idp.internal:8443", "idp.internal", 443, False),
        (".internal:8443", "a.internal", 8443, True),
        (".internal:8443", "a.internal", 443, False),
        ("10.0.0.1:6379", "10.0.0.1", 6379, True),
        ("10.0.0.1:6379", "10.0.0.1", 6380, False),
    ],
)
def test_each_documented_form(entry: str, host: str, port: int, bypassed: bool) -> None:
    assert should_bypass(host, port, [entry]) is bypassed


@pytest.mark.parametrize(
    ("entry", "host", "port", "bypassed"),
    [
        ("::1", "::1", 80, True),
        ("::1", "[::1]", 80, True),
        ("[::1]", "::1", 80, True),
        ("[::1]", "[::1]", 80, True),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "::1", 8081, False),
        ("[2001:DB8::7]", "2001:db8::7", 443, True),
        ("fd00::/8", "fd12:3456::1", 443, True),
        ("fd00::/8", "fe80::1", 443, False),
        ("fd00::/8", "10.0.0.1", 443, False),  # versions never mix
        ("0.0.0.0/0", "::1", 443, False),
        ("::/0", "10.0.0.1", 443, False),
    ],
)
def test_ipv6_in_and_out_of_brackets(entry: str, host: str, port: int, bypassed: bool) -> None:
    assert should_bypass(host, port, [entry]) is bypassed


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        ("API.Example.COM", "api.example.com"),
        ("api.example.com", "API.EXAMPLE.COM"),
        (".Internal", "A.INTERNAL"),
        ("*.LOCAL", "printer.local"),
        ("example.com.", "example.com"),  # one trailing dot ignored, both sides
        ("example.com", "example.com."),
    ],
)
def test_matching_ignores_case_and_a_trailing_dot(entry: str, host: str) -> None:
    assert should_bypass(host, 443, [entry])


def test_any_entry_of_the_list_is_enough() -> None:
    entries = split_bypass_list("localhost,127.0.0.1,.internal,*.local")
    assert should_bypass("db.internal", 5432, entries)
    assert should_bypass("printer.local", 631, entries)
    assert not should_bypass("api.example.com", 443, entries)
    assert not should_bypass("api.example.com", 443, [])


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("", "not a host"),
        ("a*b.example.com", "not a host"),
        ("*example.com", "not a host"),
        ("*:8080", "not a host"),
        ("exa mple.com", "not a host"),
        ("user@host", "not a host"),
        ("host:port", 'invalid port "port"'),
        ("host:0", 'invalid port "0"'),
        ("host:65536", 'invalid port "65536"'),
        ("10.0.0.0/33", "not a CIDR network"),
        ("example.com/8", "not a CIDR network"),
        ("[::1", "unclosed ["),
        ("[::1]x", "unexpected text after ]"),
        ("[example.com]", "brackets hold an IPv6 address only"),
        ("[foo:bar]", "brackets hold an IPv6 address only"),
    ],
)
def test_invalid_entries_are_rejected_and_never_match(entry: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_bypass_entry(entry)
    assert reason in str(caught.value)
    assert not should_bypass("example.com", 8080, [entry])


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("*", RuleKind.EVERYTHING),
        ("host", RuleKind.NAME),
        (".suffix", RuleKind.SUFFIX),
        ("*.suffix", RuleKind.SUFFIX),
        ("1.2.3.4", RuleKind.NETWORK),
        ("1.2.0.0/16", RuleKind.NETWORK),
        ("[::1]:80", RuleKind.NETWORK),
    ],
)
def test_parse_bypass_entry_kinds(entry: str, kind: RuleKind) -> None:
    assert parse_bypass_entry(entry).kind is kind


# --- Go's environment-mode rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost.example.com", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("entries", "expanded"),
    [
        (("example.com",), ("example.com", ".example.com")),
        (("example.com:8443",), ("example.com:8443", ".example.com:8443")),
        ((".example.com", "*.local"), (".example.com", "*.local")),
        (("10.0.0.0/8", "127.0.0.1", "*"), ("10.0.0.0/8", "127.0.0.1", "*")),
        (("bad entry",), ("bad entry",)),
    ],
)
def test_go_no_proxy_entries_give_a_domain_its_subdomains(entries: tuple[str, ...], expanded: tuple[str, ...]) -> None:
    assert go_no_proxy_entries(entries) == expanded


def test_no_proxy_domain_covers_subdomains_only_after_go_expansion() -> None:
    assert not should_bypass("api.example.com", 443, ["example.com"])
    assert should_bypass("api.example.com", 443, go_no_proxy_entries(["example.com"]))
    assert should_bypass("example.com", 443, go_no_proxy_entries(["example.com"]))


# --- properties ----------------------------------------------------------------------------------------

_LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@given(st.lists(_LABEL, min_size=1, max_size=4), _LABEL, st.integers(1, 65535), st.data())
def test_suffix_matches_strict_subdomains_in_any_case(
    labels: list[str], suffix: str, port: int, data: st.DataObject
) -> None:
    host = ".".join([*labels, suffix])
    shouted = "".join(c.upper() if data.draw(st.booleans()) else c for c in host)
    assert should_bypass(shouted, port, [f".{suffix}"])
    assert should_bypass(shouted, port, [f"*.{suffix}"])
    assert not should_bypass(suffix, port, [f".{suffix}"])
    assert should_bypass(host, port, ["*"])
