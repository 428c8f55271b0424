"""Tables and properties for `bascule.core.rewrite` (tyk-behaviour §3.1-3.2, §5 cases 39-47)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bascule.core.rewrite import (
    clean_path,
    escape_path,
    join_paths,
    merge_query,
    needs_cleaning,
    strip_listen_path,
    strip_listen_path_pattern,
)
from bascule.core.routes import listen_path_pattern


def upstream_path(path: str, listen_path: str, target_path: str, strip: bool, preserve: bool = False) -> str:
    """The composition `proxy.http._upstream_path` performs for a literal listen path."""
    if strip:
        path = strip_listen_path(path, listen_path)
    joined = join_paths(target_path, path, preserve)
    return joined if joined.startswith("/") else "/" + joined


# --- join_paths ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "request_path", "expected"),
    [
        # tyk-behaviour §5 case 40, default (strip slash on)
        ("", "", ""),
        ("/", "", ""),
        ("foo", "/", "foo"),
        ("foo/", "/bar", "foo/bar"),
        ("foo//", "//bar/", "foo/bar/"),
        # §3.2 step 3 examples
        ("foo/", "/bar/", "foo/bar/"),
        ("foo//", "//bar", "foo/bar"),
        # request path empty => target path alone
        ("/api", "", "/api"),
        ("/api/", "/", "/api"),
        ("", "/x", "/x"),
        ("/", "/x", "/x"),
        # §5 case 39: request path with or without a leading slash
        ("/targetpath", "/origpath", "/targetpath/origpath"),
        ("/targetpath", "origpath", "/targetpath/origpath"),
    ],
)
def test_join_paths_default(target: str, request_path: str, expected: str) -> None:
    assert join_paths(target, request_path, preserve_trailing_slash=False) == expected


@pytest.mark.parametrize(
    ("target", "request_path", "expected"),
    [
        # tyk-behaviour §5 case 40, with disable_strip_slash
        ("/", "", "/"),
        ("foo/", "/", "foo/"),
        ("foo/", "//name/", "foo/name/"),
        # "" and "/" leave the target untouched, whatever it is
        ("", "", ""),
        ("", "/", ""),
        ("/api/", "", "/api/"),
        ("/api", "/", "/api"),
        # any other request path joins as usual
        ("/api/", "/x", "/api/x"),
        ("/api", "x/", "/api/x/"),
    ],
)
def test_join_paths_preserve_trailing_slash(target: str, request_path: str, expected: str) -> None:
    assert join_paths(target, request_path, preserve_trailing_slash=True) == expected


def test_case_39_target_path_and_request_path() -> None:
    # Target http://target-host.com/targetpath; request /origpath or origpath.
    for request_path in ("/origpath", "origpath"):
        assert upstream_path(request_path, "/", "/targetpath", strip=False) == "/targetpath/origpath"


@pytest.mark.parametrize(
    ("strip", "expected"),
    [
        (True, "/user-service/1234/profile"),
        (False, "/user-service/users/1234/profile"),
    ],
)
def test_users_example(strip: bool, expected: str) -> None:
    # The seed's example: listen /users/, target http://acme.service.com/user-service.
    assert upstream_path("/users/1234/profile", "/users/", "/user-service", strip=strip) == expected


@pytest.mark.parametrize(
    ("path", "strip", "expected"),
    [
        # tyk-behaviour §5 case 46 (before escaping)
        ("/listen_me/(abc,xyz)", False, "/sent_to_me/listen_me/(abc,xyz)"),
        ("/listen_me/(abc,xyz)", True, "/sent_to_me/(abc,xyz)"),
        ("/listen_me/%3A%2F%2F", True, "/sent_to_me/%3A%2F%2F"),
    ],
)
def test_case_46_strip_and_join(path: str, strip: bool, expected: str) -> None:
    assert upstream_path(path, "/listen_me", "/sent_to_me", strip=strip) == expected


def test_case_46_escaped_end_to_end() -> None:
    joined = upstream_path("/listen_me/(abc,xyz)", "/listen_me", "/sent_to_me", strip=False)
    assert escape_path(joined) == "/sent_to_me/listen_me/%28abc,xyz%29"
    joined = upstream_path("/listen_me/(abc,xyz)", "/listen_me", "/sent_to_me", strip=True)
    assert escape_path(joined) == "/sent_to_me/%28abc,xyz%29"


@pytest.mark.parametrize(
    ("path", "listen_path", "expected"),
    [
        # Stripping is a prefix test on the path, whichever mount matched (tyk-behaviour §3.2 step 1):
        # via `/<api_id>/` the prefix differs and nothing is stripped ...
        ("/a1b2c3/users/1", "/users/", "/user-service/a1b2c3/users/1"),
        # ... but when the api id mount covers the listen path too, it is stripped
        ("/users/1", "/users", "/user-service/1"),
    ],
)
def test_strip_via_api_id_mount(path: str, listen_path: str, expected: str) -> None:
    assert upstream_path(path, listen_path, "/user-service", strip=True) == expected


def test_root_request_against_empty_target_path_gives_root() -> None:
    # ("/", "") joins to "" and the caller turns it into "/".
    assert upstream_path("/", "/", "", strip=True) == "/"
    assert upstream_path("/api", "/api", "", strip=True) == "/"


# --- strip_listen_path -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "listen_path", "expected"),
    [
        ("/users/1234/profile", "/users/", "/1234/profile"),
        ("/users/", "/users/", "/"),
        ("/users", "/users", "/"),
        # a plain prefix, as Tyk does (§3.2 step 1)
        ("/foobar/x", "/foo", "/bar/x"),
        ("/foo", "/foo", "/"),
        ("/foo/", "/foo", "/"),
        ("/foo/x", "/foo", "/x"),
        # no match: unchanged
        ("/other/x", "/foo", "/other/x"),
        ("/users", "/users/", "/users"),
        # root and empty listen paths
        ("/x/y", "/", "/x/y"),
        ("/", "/", "/"),
        ("/x", "", "/x"),
        # §5 case 47: only the leading listen path is stripped
        ("/myapi/anything/a/myapi/b/c", "/myapi/", "/anything/a/myapi/b/c"),
        # raw path: escapes are left as they came
        ("/api/%2F..%2Fadmin", "/api", "/%2F..%2Fadmin"),
    ],
)
def test_strip_listen_path(path: str, listen_path: str, expected: str) -> None:
    assert strip_listen_path(path, listen_path) == expected


@pytest.mark.parametrize(
    ("listen_path", "path", "expected"),
    [
        ("/users/{id}/", "/users/42/profile", "/profile"),
        ("/users/{id}/", "/users/42/", "/"),
        ("/users/{id}", "/users/42", "/"),
        ("/users/{id}", "/users/42/profile", "/profile"),
        ("/orgs/{org}/users/{id}/", "/orgs/acme/users/7/keys", "/keys"),
        # a parameter is one segment: it never eats a `/`
        ("/users/{id}/", "/users/42/43/x", "/43/x"),
        # no match: unchanged
        ("/users/{id}/", "/users/", "/users/"),
        ("/users/{id}/", "/users/42", "/users/42"),
        ("/users/{id}/", "/other/1/x", "/other/1/x"),
    ],
)
def test_strip_templated_listen_path(listen_path: str, path: str, expected: str) -> None:
    pattern = listen_path_pattern(listen_path)
    assert pattern is not None
    assert strip_listen_path_pattern(path, pattern) == expected


def test_strip_templated_adds_leading_slash() -> None:
    pattern = re.compile(r"/v[0-9]+")
    assert strip_listen_path_pattern("/v2x/y", pattern) == "/x/y"
    assert strip_listen_path_pattern("/v2", pattern) == "/"


# --- merge_query -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target_query", "request_query", "expected"),
    [
        ("", "", ""),
        ("a=1", "", "a=1"),
        ("", "b=2", "b=2"),
        ("a=1", "b=2", "a=1&b=2"),
        # target first, duplicates kept
        ("k=t", "k=r", "k=t&k=r"),
        ("a=1&c=3", "b=2", "a=1&c=3&b=2"),
        # §5 case 45
        ("", "arg=val", "arg=val"),
    ],
)
def test_merge_query(target_query: str, request_query: str, expected: str) -> None:
    assert merge_query(target_query, request_query) == expected


# --- escape_path -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # tyk-behaviour §5 case 45
        ("/(abc,xyz)", "/%28abc,xyz%29"),
        # §5 case 46: existing escapes stay encoded
        ("/%3A%2F%2F", "/%3A%2F%2F"),
        ("/a%2fb", "/a%2fb"),
        # a `%` that is not an escape becomes `%25`
        ("/%", "/%25"),
        ("/100%", "/100%25"),
        ("/%4", "/%254"),
        ("/%zz", "/%25zz"),
        ("/%4g", "/%254g"),
        ("/%%41", "/%25%41"),
        # unicode: UTF-8 bytes, upper-case hex
        ("/é", "/%C3%A9"),
        ("/日本", "/%E6%97%A5%E6%9C%AC"),
        ("/😀", "/%F0%9F%98%80"),
        # Go's encodePath: these stay
        ("/a-b_c.d~e", "/a-b_c.d~e"),
        ("/$&+,/:;=@", "/$&+,/:;=@"),
        # and these are escaped
        ("/a b", "/a%20b"),
        ("/a?b", "/a%3Fb"),
        ("/a#b", "/a%23b"),
        ("/!*'", "/%21%2A%27"),
        ("/[x]", "/%5Bx%5D"),
        ('/"<>', "/%22%3C%3E"),
        ("/a\x00b", "/a%00b"),
        ("/{id}", "/%7Bid%7D"),
        # nothing to do
        ("", ""),
        ("/", "/"),
        ("/plain/path", "/plain/path"),
    ],
)
def test_escape_path(raw: str, expected: str) -> None:
    assert escape_path(raw) == expected


def test_escape_path_surrogate_escaped_bytes() -> None:
    # A raw path decoded with surrogateescape turns back into its original bytes.
    raw = b"/\xff\xfe".decode("utf-8", "surrogateescape")
    assert escape_path(raw) == "/%FF%FE"


# --- needs_cleaning / clean_path -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "dirty", "clean"),
    [
        ("/", False, "/"),
        ("/a/b", False, "/a/b"),
        ("/a/b/", False, "/a/b/"),
        ("/a.b/..c/...", False, "/a.b/..c/..."),
        ("/a%2F%2Fb", False, "/a%2F%2Fb"),
        ("//", True, "/"),
        ("//a", True, "/a"),
        ("/a//b", True, "/a/b"),
        ("/a//", True, "/a/"),
        ("/./", True, "/"),
        ("/a/./b", True, "/a/b"),
        ("/a/.", True, "/a"),
        ("/a/../b", True, "/b"),
        ("/a/b/..", True, "/a"),
        ("/a/b/../", True, "/a/"),
        ("/..", True, "/"),
        ("/../a", True, "/a"),
        ("/../../a/", True, "/a/"),
        # trailing slash kept
        ("/a/./b/", True, "/a/b/"),
        ("//a//b//", True, "/a/b/"),
        # §5 case 44 (cleaning on): the path would be cleaned
        ("/http://example.com", True, "/http:/example.com"),
    ],
)
def test_needs_cleaning_and_clean_path(path: str, dirty: bool, clean: str) -> None:
    assert needs_cleaning(path) is dirty
    assert clean_path(path) == clean


def test_clean_path_of_empty_is_root() -> None:
    assert clean_path("") == "/"


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        # Encoded dot segments are dot segments (Go's mux cleans the decoded path): a parent step can never
        # reach an upstream under the listen path it escapes from.
        ("/public/%2e%2e/admin", "/admin"),
        ("/public/%2E%2E/admin", "/admin"),
        ("/public/.%2e/admin", "/admin"),
        ("/public/%2e./admin", "/admin"),
        ("/public/%2e/admin", "/public/admin"),
        ("/public/%2E%2e/", "/"),
        ("/a/b/%2e%2e", "/a"),
        # raw segments are kept as written when they survive
        ("/A%2eB/%2e%2e%2e/./x", "/A%2eB/%2e%2e%2e/x"),
    ],
)
def test_encoded_dot_segments_are_cleaned(path: str, clean: str) -> None:
    assert needs_cleaning(path)
    assert clean_path(path) == clean


@pytest.mark.parametrize("path", ["/a%2eb", "/%2e%2e%2e", "/x%2e%2e", "/%2f..%2f", "/%2e%2e%2Fadmin", "/%25"])
def test_encoded_non_dot_segments_are_left_alone(path: str) -> None:
    assert not needs_cleaning(path)
    assert clean_path(path) == path


# --- properties ------------------------------------------------------------------------------------------

_tokens = st.sampled_from(["a", "b", "/", ".", "..", "%", "2", "e", "F", "%2e", "%2E", "%2F", "é", "(", " "])
_paths = st.lists(_tokens, max_size=16).map("".join) | st.text(max_size=24)
_abs_paths = _paths.map(lambda p: "/" + p)


@given(_paths, _paths, st.booleans())
def test_join_never_doubles_the_slash_at_the_join(target: str, request_path: str, preserve: bool) -> None:
    assume("//" not in target and "//" not in request_path)
    assert "//" not in join_paths(target, request_path, preserve)


@given(_paths, _paths)
def test_join_keeps_both_parts(target: str, request_path: str) -> None:
    joined = join_paths(target, request_path, preserve_trailing_slash=False)
    tail = request_path.lstrip("/")
    assert joined.startswith(target.rstrip("/"))
    assert joined.endswith(tail)
    if tail:
        assert joined == target.rstrip("/") + "/" + tail


@given(_paths)
def test_escape_path_is_ascii_and_idempotent(raw: str) -> None:
    once = escape_path(raw)
    assert once.isascii()
    assert escape_path(once) == once


@given(_paths)
def test_escape_path_round_trips_through_unquote(raw: str) -> None:
    # Escaping only adds encodings: decoding both sides gives the same text.
    assert unquote(escape_path(raw), errors="surrogateescape") == unquote(raw, errors="surrogateescape")


@given(_paths, _paths)
def test_strip_always_starts_with_slash(path: str, listen_path: str) -> None:
    assert strip_listen_path(path, listen_path).startswith("/")


@given(_abs_paths, _abs_paths)
def test_strip_leaves_unmatched_paths_alone(path: str, listen_path: str) -> None:
    assume(not path.startswith(listen_path))
    assert strip_listen_path(path, listen_path) == path


@given(_paths)
def test_clean_path_is_clean_and_idempotent(path: str) -> None:
    cleaned = clean_path(path)
    assert cleaned.startswith("/")
    assert not needs_cleaning(cleaned)
    assert clean_path(cleaned) == cleaned


@given(_abs_paths)
def test_needs_cleaning_agrees_with_clean_path(path: str) -> None:
    assert needs_cleaning(path) == (clean_path(path) != path)
