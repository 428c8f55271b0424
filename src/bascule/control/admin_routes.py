"""The control API's routing table and its matcher: pure, no I/O.

Rules (one test row each in `tests/unit/control/test_admin_routes.py`):

* A path is compared segment by segment after trailing slashes are dropped (`/tyk/apis/` = `/tyk/apis`,
  as Tyk tolerates them); the root stays `/`.
* A pattern segment `{name}` matches any one non-empty segment and captures it percent-decoded
  (`/tyk/apis/a%20b` gives `a b`); every other segment must be equal.
* Patterns are tried in table order and the first pattern that matches the path decides, whatever the
  method: a literal route listed first wins over a capture (`/tyk/apis/oas` is the OAS list, never the
  Classic API with id `oas`, as in Tyk; `PUT /tyk/apis/oas` is a 405, not an update of API `oas`).
* When the deciding pattern has no route for the method, the answer is a 405 naming the methods it
  has; a path that no pattern matches is a 404. A capture that is not valid percent-encoded UTF-8 is a
  404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

H = TypeVar("H")


@dataclass(frozen=True, slots=True)
class Route(Generic[H]):
    method: str
    pattern: str
    handler: H
    segments: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", split_path(self.pattern))


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[H]):
    handler: H
    params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RouteMiss:
    """No route for this request: 404, or 405 with the methods the path allows."""

    status: int
    allowed: tuple[str, ...] = ()


def split_path(path: str) -> tuple[str, ...]:
    """`/tyk/apis/` -> `("tyk", "apis")`; empty segments (`//`, trailing `/`) are dropped."""
    return tuple(segment for segment in path.split("/") if segment)


def normalise_path(path: str) -> str:
    """`/tyk/apis//` -> `/tyk/apis`; `/` and `` -> `/`."""
    return "/" + "/".join(split_path(path))


def _captures(pattern: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(pattern, segments, strict=True):
        if expected.startswith("{") and expected.endswith("}"):
            params[expected[1:-1]] = unquote(actual, errors="strict")
        elif expected != actual:
            return None
    return params


def match_route(routes: Sequence[Route[H]], method: str, path: str) -> RouteMatch[H] | RouteMiss:
    """The first route for `method` and `path`, or why there is none (see the module rules)."""
    segments = split_path(path)
    deciding: tuple[str, ...] | None = None
    allowed: list[str] = []
    for route in routes:
        if deciding is not None and route.segments != deciding:
            continue
        try:
            params = _captures(route.segments, segments)
        except UnicodeDecodeError:
            return RouteMiss(404)
        if params is None:
            continue
        deciding = route.segments
        if route.method == method:
            return RouteMatch(route.handler, params)
        if route.method not in allowed:
            allowed.append(route.method)
    if allowed:
        return RouteMiss(405, tuple(allowed))
    return RouteMiss(404)
