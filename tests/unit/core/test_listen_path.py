from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bascule.core.listen_path import is_kv_reference, normalise_listen_path


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        # tyk-behaviour §5 case 49
        ("foo", "/foo"),
        ("foo/", "/foo/"),
        ("..", "/"),
        ("/../..", "/"),
        ("/foo/../bar/", "/bar/"),
        ("/foo/./bar", "/foo/bar"),
        ("//foo//bar", "/foo/bar"),
        ("env://FOO", "env://FOO"),
        # tyk-behaviour §5 case 48
        ("/foo/../baz", "/baz"),
        # empty and root
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        (".", "/"),
        ("/.", "/"),
        ("./", "/"),
        # trailing slash kept only when written
        ("/users/", "/users/"),
        ("/users", "/users"),
        ("/foo/.", "/foo"),
        ("/foo/./", "/foo/"),
        ("/foo/bar/..", "/foo"),
        ("/foo/bar/../", "/foo/"),
        ("foo//", "/foo/"),
        # never above the root
        ("/a/../../b", "/b"),
        ("../../a/", "/a/"),
        # dots inside a segment are ordinary characters
        ("/v1.0/...", "/v1.0/..."),
        ("/.hidden/", "/.hidden/"),
        # templated listen paths pass through
        ("/users/{id}/", "/users/{id}/"),
        # other KV-style references are untouched
        ("consul://apis/users", "consul://apis/users"),
        ("vault://secret/path", "vault://secret/path"),
        ("secrets://name", "secrets://name"),
        # a scheme-like segment after a slash is not a reference
        ("/env://FOO", "/env:/FOO"),
    ],
)
def test_normalise_listen_path(given_value: str, expected: str) -> None:
    assert normalise_listen_path(given_value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("env://FOO", True),
        ("consul://a/b", True),
        ("x+y-z.1://a", True),
        ("/env://FOO", False),
        ("env:/FOO", False),
        ("1env://FOO", False),
        ("://FOO", False),
        ("", False),
    ],
)
def test_is_kv_reference(value: str, expected: bool) -> None:
    assert is_kv_reference(value) is expected


_paths = st.text(alphabet=st.sampled_from(["/", ".", "a", "b", "é", "{", "}", ":"]), max_size=30) | st.text(max_size=30)


@given(_paths)
def test_normalised_is_idempotent(value: str) -> None:
    once = normalise_listen_path(value)
    assert normalise_listen_path(once) == once


@given(_paths)
def test_normalised_is_clean(value: str) -> None:
    assume(not is_kv_reference(value))
    result = normalise_listen_path(value)
    assert result.startswith("/")
    assert "//" not in result
    segments = result.split("/")
    assert "." not in segments
    assert ".." not in segments


@given(_paths)
def test_trailing_slash_only_when_written_or_root(value: str) -> None:
    assume(not is_kv_reference(value))
    result = normalise_listen_path(value)
    if result != "/":
        assert result.endswith("/") == value.endswith("/")


@given(st.from_regex(r"[a-z][a-z0-9+.\-]{0,8}://[^\n]{0,20}", fullmatch=True))
def test_kv_references_are_untouched(value: str) -> None:
    assert normalise_listen_path(value) == value
