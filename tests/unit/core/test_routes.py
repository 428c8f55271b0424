"""Tables and properties for `bascule.core.routes` (tyk-behaviour §3.1, §5 cases 48, 50, 52)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.routes import RouteEntry, RouteTable, listen_path_pattern


def table(*apis: tuple[str, ...], strict: bool = False) -> RouteTable[str]:
    """A table whose targets are API names. Each API is `(name, listen_path[, domain])`; its id is
    `id-<name>`, so its `/<api_id>/` mount never collides with a listen path under test."""
    entries = [
        RouteEntry(api_id=f"id-{api[0]}", listen_path=api[1], domain=api[2] if len(api) > 2 else "", target=api[0])
        for api in apis
    ]
    return RouteTable(entries, strict=strict)


def by_id(*apis: tuple[str, str], strict: bool = False) -> RouteTable[str]:
    """A table of `(api_id, listen_path)` whose targets are the api ids."""
    return RouteTable([RouteEntry(api_id=i, listen_path=lp, domain="", target=i) for i, lp in apis], strict=strict)


def routed(routes: RouteTable[str], path: str, host: str = "gw.local") -> str | None:
    found = routes.match(host, path)
    return None if found is None else found.mount.target


# --- literal prefixes ------------------------------------------------------------------------------------

PREFIXES = table(
    ("root", "/"),
    ("users", "/users/"),
    ("admin", "/users/admin/"),
    ("bare", "/usersx"),
    ("short", "/u"),
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # longest prefix wins
        ("/users/admin/1", "admin"),
        ("/users/admin/", "admin"),
        ("/users/adminx", "users"),
        ("/users/1", "users"),
        ("/users/", "users"),
        # `/users/` does not match `/users`; `/u` is a plain prefix of it
        ("/users", "short"),
        ("/usersx/1", "bare"),
        ("/usersxyz", "bare"),
        ("/other", "root"),
        ("/", "root"),
    ],
)
def test_longest_prefix_wins(path: str, expected: str) -> None:
    assert routed(PREFIXES, path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users", None),
        ("/users/", "users"),
        ("/users/1", "users"),
        ("/user", None),
        ("/", None),
        ("", None),
        ("/USERS/1", None),
    ],
)
def test_trailing_slash_listen_path_is_a_literal_prefix(path: str, expected: str | None) -> None:
    assert routed(table(("users", "/users/")), path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users", "users"),
        ("/users/", "users"),
        ("/users/1", "users"),
        # not strict: a plain prefix
        ("/usersXYZ", "users"),
        ("/usersXYZ/1", "users"),
        ("/user", None),
    ],
)
def test_non_strict_matches_any_continuation(path: str, expected: str | None) -> None:
    assert routed(table(("users", "/users")), path) == expected


def test_no_match_is_none() -> None:
    routes = table(("a", "/a/"), ("b", "/b"))
    assert routes.match("gw.local", "/c") is None
    assert routes.match("gw.local", "/") is None
    assert table().match("gw.local", "/anything") is None


def test_match_reports_the_matched_prefix() -> None:
    found = table(("users", "/users")).match("gw.local", "/usersXYZ/1")
    assert found is not None
    assert found.matched == "/users"
    assert found.mount.prefix == "/users"
    assert found.mount.strips is True


# --- strict routes ---------------------------------------------------------------------------------------

STRICT = table(("bar", "/bar/"), ("baz", "/baz"), strict=True)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # tyk-behaviour §5 case 48 (listen paths as stored after normalisation)
        ("/bar/get", "bar"),
        ("/bar/", "bar"),
        ("/barextra/get", None),
        ("/bar", None),
        ("/baz", "baz"),
        ("/baz/", "baz"),
        ("/baz/get", "baz"),
        ("/bazextra/get", None),
        ("/baz?", None),
    ],
)
def test_strict_routes(path: str, expected: str | None) -> None:
    assert routed(STRICT, path) == expected


def test_strict_falls_back_to_a_shorter_prefix_on_a_boundary() -> None:
    routes = table(("api", "/api"), ("apiv", "/api/v"), strict=True)
    assert routed(routes, "/api/v/x") == "apiv"
    assert routed(routes, "/api/v") == "apiv"
    # `/api/vx` is not on `/api/v`'s boundary but is on `/api`'s
    assert routed(routes, "/api/vx") == "api"
    assert routed(routes, "/apix") is None


def test_strict_root_listen_path_matches_everything() -> None:
    routes = table(("root", "/"), strict=True)
    assert routed(routes, "/") == "root"
    assert routed(routes, "/anything/at/all") == "root"


# --- the /<api_id>/ mount --------------------------------------------------------------------------------


def test_api_id_mount_does_not_strip() -> None:
    routes = by_id(("a1b2c3", "/users/"))
    found = routes.match("gw.local", "/a1b2c3/users/1")
    assert found is not None
    assert found.mount.target == "a1b2c3"
    assert found.mount.strips is False
    assert found.mount.prefix == "/a1b2c3/"
    assert found.matched == "/a1b2c3/"
    listen = routes.match("gw.local", "/users/1")
    assert listen is not None
    assert listen.mount.strips is True


def test_api_id_mount_needs_its_trailing_slash() -> None:
    routes = by_id(("a1b2c3", "/users/"))
    assert routes.match("gw.local", "/a1b2c3") is None
    assert routes.match("gw.local", "/a1b2c3x/") is None


def test_api_id_mount_competes_by_length() -> None:
    routes = by_id(("abc", "/users/"), ("root", "/"))
    assert routed(routes, "/abc/x") == "abc"
    assert routed(routes, "/abcd/x") == "root"


def test_listen_path_equal_to_an_api_id_mount_keeps_the_listen_path() -> None:
    # API "users" mounted at /users/ twice: the listen-path mount (which strips) comes first.
    found = by_id(("users", "/users/")).match("gw.local", "/users/1")
    assert found is not None
    assert found.mount.strips is True


def test_control_like_prefix_is_an_ordinary_listen_path() -> None:
    # tyk-behaviour §5 case 52: `/tyk-foo/` is just a listen path.
    assert routed(table(("foo", "/tyk-foo/")), "/tyk-foo/get") == "foo"


# --- custom domains --------------------------------------------------------------------------------------

DOMAINS = table(("a", "/with_domain", "host1"), ("b", "/without_domain"), ("c", "/", "host2"))


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        # tyk-behaviour §5 case 50
        ("host1", "/with_domain", "a"),
        ("other", "/with_domain", None),
        ("", "/with_domain", None),
        ("host1", "/without_domain", "b"),
        ("other", "/without_domain", "b"),
        # host match is case-insensitive, the port is ignored
        ("HOST1", "/with_domain", "a"),
        ("Host1:8080", "/with_domain", "a"),
        ("host1:443", "/with_domain/x", "a"),
        # a domain API's own mount comes first, even when shorter
        ("host2", "/without_domain", "c"),
        ("host2", "/x", "c"),
        ("other", "/x", None),
        # the domain layer misses, the host-less APIs still answer
        ("host1", "/elsewhere", None),
        ("host1.example", "/with_domain", None),
        ("xhost1", "/with_domain", None),
    ],
)
def test_custom_domains(host: str, path: str, expected: str | None) -> None:
    assert routed(DOMAINS, path, host) == expected


def test_domain_written_in_upper_case_matches() -> None:
    routes = table(("a", "/x", "API.Example.COM"))
    assert routed(routes, "/x", "api.example.com") == "a"
    assert routed(routes, "/x", "Api.Example.Com:8443") == "a"


def test_domain_api_id_mount_lives_on_its_domain() -> None:
    routes = table(("abc", "/with_domain", "host1"))
    assert routed(routes, "/id-abc/x", "host1") == "abc"
    assert routed(routes, "/id-abc/x", "other") is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("[::1]", "v6"),
        ("[::1]:8080", "v6"),
        ("[::1]:80", "v6"),
        ("[::2]:8080", None),
        ("127.0.0.1:8080", None),
    ],
)
def test_ipv6_host_in_brackets(host: str, expected: str | None) -> None:
    routes = table(("v6", "/api", "::1"))
    assert routed(routes, "/api/x", host) == expected


def test_ipv4_host_with_port() -> None:
    routes = table(("v4", "/api", "10.0.0.1"))
    assert routed(routes, "/api", "10.0.0.1:8080") == "v4"
    assert routed(routes, "/api", "10.0.0.1") == "v4"
    assert routed(routes, "/api", "10.0.0.2") is None


@pytest.mark.parametrize("host", ["[::1]", "[::1]:8080"])
def test_ipv6_domain_written_with_brackets(host: str) -> None:
    # A domain in URL form matches the same hosts as the bare address.
    routes = table(("v6", "/api", "[::1]"))
    assert routed(routes, "/api", host) == "v6"
    assert routed(routes, "/api", "[::2]") is None


def test_domain_entries_still_mount_longest_first() -> None:
    routes = table(("short", "/a", "h"), ("long", "/a/b", "h"), strict=False)
    assert routed(routes, "/a/b/c", "h") == "long"
    assert routed(routes, "/a/c", "h") == "short"


# --- templated listen paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listen_path", "regex"),
    [
        ("/users/", None),
        ("/users/{id}", r"/users/[^/]+"),
        ("/users/{id}/", r"/users/[^/]+/"),
        ("/orgs/{org}/users/{id}", r"/orgs/[^/]+/users/[^/]+"),
        ("/v1.0/{x}", r"/v1\.0/[^/]+"),
    ],
)
def test_listen_path_pattern(listen_path: str, regex: str | None) -> None:
    pattern = listen_path_pattern(listen_path)
    if regex is None:
        assert pattern is None
    else:
        assert pattern is not None
        assert pattern.pattern == regex


TEMPLATED = table(("one", "/users/{id}/"), ("list", "/users/"), ("deep", "/users/{id}/keys/{key}"))


@pytest.mark.parametrize(
    ("path", "expected", "matched"),
    [
        ("/users/42/", "one", "/users/42/"),
        ("/users/42/profile", "one", "/users/42/"),
        ("/users/42/keys/k1", "deep", "/users/42/keys/k1"),
        ("/users/42/keys/k1/x", "deep", "/users/42/keys/k1"),
        # `{id}` needs at least one character and never crosses a `/`
        ("/users/", "list", "/users/"),
        ("/users//", "list", "/users/"),
        ("/users/42", "list", "/users/"),
        ("/other/42/", None, None),
    ],
)
def test_templated_listen_paths(path: str, expected: str | None, matched: str | None) -> None:
    found = TEMPLATED.match("gw.local", path)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.mount.target == expected
        assert found.matched == matched
        assert found.mount.strips is True


def test_templated_dot_is_literal() -> None:
    routes = table(("v", "/v1.0/{x}"))
    assert routed(routes, "/v1.0/a") == "v"
    assert routed(routes, "/v1x0/a") is None


def test_templated_strict() -> None:
    routes = table(("t", "/users/{id}"), strict=True)
    assert routed(routes, "/users/42") == "t"
    assert routed(routes, "/users/42/x") == "t"
    assert routed(routes, "/users/42x") == "t"  # `{id}` takes the whole segment


# --- properties ------------------------------------------------------------------------------------------

_segments = st.lists(st.sampled_from(["a", "b", "ab", "users", "x1"]), min_size=1, max_size=4)
_listen_paths = st.builds(lambda segs, slash: "/" + "/".join(segs) + ("/" if slash else ""), _segments, st.booleans())
_request_paths = st.builds(
    lambda segs: "/" + "/".join(segs),
    st.lists(st.sampled_from(["a", "b", "ab", "users", "x1", ""]), max_size=6),
)


@given(st.lists(_listen_paths, min_size=1, max_size=6, unique=True), _request_paths)
def test_non_strict_match_is_the_longest_literal_prefix(listen_paths: list[str], path: str) -> None:
    entries = [RouteEntry(api_id=f"id{i}", listen_path=lp, domain="", target=lp) for i, lp in enumerate(listen_paths)]
    found = RouteTable(entries, strict=False).match("gw.local", path)
    candidates = [lp for lp in listen_paths if path.startswith(lp)]
    if not candidates:
        assert found is None
    else:
        assert found is not None
        assert found.mount.target == max(candidates, key=len)


@given(st.lists(_listen_paths, min_size=1, max_size=6, unique=True), _request_paths)
def test_strict_match_is_on_a_segment_boundary(listen_paths: list[str], path: str) -> None:
    entries = [RouteEntry(api_id=f"id{i}", listen_path=lp, domain="", target=lp) for i, lp in enumerate(listen_paths)]
    found = RouteTable(entries, strict=True).match("gw.local", path)

    def accepts(lp: str) -> bool:
        return path.startswith(lp) and (lp.endswith("/") or path == lp or path[len(lp)] == "/")

    candidates = [lp for lp in listen_paths if accepts(lp)]
    if not candidates:
        assert found is None
    else:
        assert found is not None
        assert found.mount.target == max(candidates, key=len)


def test_api_id_mount_can_be_longer_than_the_listen_path() -> None:
    # An OAS API named "users" without info.id gets api_id "users"; with listen path /users its
    # `/users/` mount is the longer prefix. Stripping no longer depends on the mount (proxy/http.py
    # strips by the listen-path prefix, as Tyk does), so either mount serves the same API.
    found = by_id(("users", "/users")).match("gw.local", "/users/1")
    assert found is not None
    assert found.mount.target == "users"
    assert found.mount.prefix == "/users/"
