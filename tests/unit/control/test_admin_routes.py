from __future__ import annotations

import pytest

from bascule.control.admin_routes import Route, RouteMatch, RouteMiss, match_route, normalise_path

ROUTES = (
    Route("GET", "/tyk/apis/oas", "oas-list"),
    Route("POST", "/tyk/apis/oas", "oas-create"),
    Route("GET", "/tyk/apis/oas/{id}", "oas-get"),
    Route("GET", "/tyk/apis", "list"),
    Route("POST", "/tyk/apis", "create"),
    Route("GET", "/tyk/apis/{id}", "get"),
    Route("PUT", "/tyk/apis/{id}", "update"),
    Route("DELETE", "/tyk/apis/{id}", "delete"),
    Route("GET", "/tyk/reload", "reload"),
)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/tyk/apis", RouteMatch("list", {})),
        ("GET", "/tyk/apis/", RouteMatch("list", {})),
        ("GET", "/tyk/apis//", RouteMatch("list", {})),
        ("POST", "/tyk/apis", RouteMatch("create", {})),
        ("GET", "/tyk/apis/abc", RouteMatch("get", {"id": "abc"})),
        ("GET", "/tyk/apis/abc/", RouteMatch("get", {"id": "abc"})),
        ("GET", "/tyk/apis/a%20b", RouteMatch("get", {"id": "a b"})),
        ("GET", "/tyk/apis/a%2Fb", RouteMatch("get", {"id": "a/b"})),
        ("DELETE", "/tyk/apis/abc", RouteMatch("delete", {})),
        # a literal pattern listed first wins over a capture, whatever the method
        ("GET", "/tyk/apis/oas", RouteMatch("oas-list", {})),
        ("PUT", "/tyk/apis/oas", RouteMiss(405, ("GET", "POST"))),
        ("GET", "/tyk/apis/oas/x", RouteMatch("oas-get", {"id": "x"})),
        ("DELETE", "/tyk/apis", RouteMiss(405, ("GET", "POST"))),
        ("POST", "/tyk/apis/abc", RouteMiss(405, ("GET", "PUT", "DELETE"))),
        ("POST", "/tyk/reload", RouteMiss(405, ("GET",))),
        ("GET", "/tyk/unknown", RouteMiss(404)),
        ("GET", "/tyk/apis/a/b", RouteMiss(404)),
        ("GET", "/tyk", RouteMiss(404)),
        ("GET", "/tyk/apis/%ff", RouteMiss(404)),
    ],
)
def test_match_route(method: str, path: str, expected: RouteMatch[str] | RouteMiss) -> None:
    found = match_route(ROUTES, method, path)
    if isinstance(expected, RouteMatch):
        assert isinstance(found, RouteMatch)
        assert found.handler == expected.handler
        if expected.params:
            assert dict(found.params) == dict(expected.params)
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/tyk/apis/", "/tyk/apis"), ("//tyk//apis", "/tyk/apis"), ("/", "/"), ("", "/"), ("hello", "/hello")],
)
def test_normalise_path(path: str, expected: str) -> None:
    assert normalise_path(path) == expected
