"""Matching a request to an API (tyk-behaviour §3.1).

Every API is mounted twice: under its listen path and under `/<api_id>/`. Mounts are tried longest
prefix first; with custom domains, the mounts of the request's host are tried before the host-less ones.
A listen path is a literal prefix (`/users` matches `/usersXYZ`) unless strict routes are on, which then
demand a segment boundary (`/users`, `/users/`, `/users/...`). `{name}` segments match one path segment.

Lookups cost one dict probe per distinct prefix length, not a scan of every API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_PARAM = re.compile(r"\{[^/{}]*\}")


@dataclass(frozen=True, slots=True)
class Mount(Generic[T]):
    """One prefix an API answers on. `strips` is False for the `/<api_id>/` mount (Tyk never strips it)."""

    prefix: str
    domain: str
    target: T
    strips: bool
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[T]):
    mount: Mount[T]
    matched: str
    """The part of the request path the mount's prefix covered."""


@dataclass(frozen=True, slots=True)
class RouteEntry(Generic[T]):
    """What the router needs of one API."""

    api_id: str
    listen_path: str
    domain: str
    target: T


def listen_path_pattern(listen_path: str) -> re.Pattern[str] | None:
    """A prefix regex for a listen path with `{param}` segments, or None for a literal one."""
    if not _PARAM.search(listen_path):
        return None
    parts = _PARAM.split(listen_path)
    return re.compile("".join(re.escape(p) + ("[^/]+" if i < len(parts) - 1 else "") for i, p in enumerate(parts)))


class _Layer(Generic[T]):
    """The mounts of one domain, grouped by prefix length, longest first."""

    __slots__ = ("_groups",)

    def __init__(self, mounts: Iterable[Mount[T]]) -> None:
        by_length: dict[int, dict[str, Mount[T]]] = {}
        patterns: dict[int, list[Mount[T]]] = {}
        for mount in mounts:
            if mount.pattern is not None:
                patterns.setdefault(len(mount.prefix), []).append(mount)
            else:
                by_length.setdefault(len(mount.prefix), {}).setdefault(mount.prefix, mount)
        lengths = sorted(set(by_length) | set(patterns), reverse=True)
        self._groups: tuple[tuple[int, dict[str, Mount[T]], tuple[Mount[T], ...]], ...] = tuple(
            (n, by_length.get(n, {}), tuple(patterns.get(n, ()))) for n in lengths
        )

    def match(self, path: str, strict: bool) -> RouteMatch[T] | None:
        for length, literal, templated in self._groups:
            if literal:
                mount = literal.get(path[:length])
                if mount is not None and (not strict or _on_boundary(path, length, mount.prefix)):
                    return RouteMatch(mount, path[:length])
            for mount in templated:
                assert mount.pattern is not None
                found = mount.pattern.match(path)
                if found is not None and (not strict or _on_boundary(path, found.end(), mount.prefix)):
                    return RouteMatch(mount, found.group(0))
        return None


def _on_boundary(path: str, end: int, prefix: str) -> bool:
    return prefix.endswith("/") or len(path) == end or path[end] == "/"


class RouteTable(Generic[T]):
    """An immutable router built once per snapshot."""

    __slots__ = ("_by_domain", "_default", "_strict")

    def __init__(self, entries: Sequence[RouteEntry[T]], strict: bool) -> None:
        mounts: dict[str, list[Mount[T]]] = {}
        for entry in entries:
            domain = entry.domain.lower().strip("[]")
            pattern = listen_path_pattern(entry.listen_path)
            mounts.setdefault(domain, []).append(
                Mount(entry.listen_path, domain, entry.target, strips=True, pattern=pattern)
            )
            mounts[domain].append(Mount(f"/{entry.api_id}/", domain, entry.target, strips=False))
        self._strict = strict
        self._default = _Layer(mounts.pop("", []))
        self._by_domain = {domain: _Layer(ms) for domain, ms in mounts.items()}

    def match(self, host: str | bytes, path: str) -> RouteMatch[T] | None:
        """The mount serving `path` on `host` (a Host header value, port allowed), or None."""
        if self._by_domain:
            text = host.decode("latin-1") if isinstance(host, bytes) else host
            layer = self._by_domain.get(_host_without_port(text).lower())
            if layer is not None:
                found = layer.match(path, self._strict)
                if found is not None:
                    return found
        return self._default.match(path, self._strict)


def _host_without_port(host: str) -> str:
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    colon = host.rfind(":")
    return host[:colon] if colon >= 0 else host
