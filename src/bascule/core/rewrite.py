"""Building the upstream request target from the inbound one (tyk-behaviour §3.2, §5 cases 39-47).

All functions work on the raw (still percent-encoded) path as received, so that encoded characters such as
`%2F` survive the trip unchanged.
"""

from __future__ import annotations

import re

# Go's `shouldEscape(c, encodePath)`: unreserved characters and `$&+,/:;=@` stay; everything else that
# is not already a percent-escape is encoded. `%XX` escapes are kept as they came (`%3A%2F%2F` stays).
_PATH_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~$&+,/:;=@%")
_PATH_SAFE_BYTES = bytes(sorted(_PATH_SAFE - {0x25}))
_HEX = frozenset(b"0123456789abcdefABCDEF")


def strip_listen_path(path: str, listen_path: str) -> str:
    """Remove the literal `listen_path` prefix from `path`; the result always starts with `/`.

    A plain prefix, as Tyk does: listen path `/foo` turns `/foobar/x` into `/bar/x`, `/foo` into `/`.
    A path that does not start with the listen path is returned unchanged.
    """
    if listen_path and path.startswith(listen_path):
        path = path[len(listen_path) :]
    if not path.startswith("/"):
        path = "/" + path
    return path


def strip_listen_path_pattern(path: str, pattern: re.Pattern[str]) -> str:
    """Remove the prefix matched by a templated listen path (`/users/{id}/`); leading `/` guaranteed."""
    match = pattern.match(path)
    if match is not None:
        path = path[match.end() :]
    if not path.startswith("/"):
        path = "/" + path
    return path


def join_paths(target_path: str, request_path: str, preserve_trailing_slash: bool) -> str:
    """Join the target's path and the request's path with exactly one `/` (§5 case 40).

    With `preserve_trailing_slash` (Tyk `disable_strip_slash`), a request path of "" or "/" leaves the
    target path untouched. Otherwise trailing slashes of the target and leading slashes of the request are
    trimmed and joined with one `/`; an empty request path yields the target path alone.
    """
    if preserve_trailing_slash and request_path in ("", "/"):
        return target_path
    base = target_path.rstrip("/")
    tail = request_path.lstrip("/")
    if not tail:
        return base
    return base + "/" + tail


def merge_query(target_query: str, request_query: str) -> str:
    """Target query first, then the request's, joined by `&` when both are present."""
    if target_query and request_query:
        return target_query + "&" + request_query
    return target_query or request_query


def escape_path(raw_path: str) -> str:
    """Re-escape a raw path as Go's `EscapedPath` does for Tyk's director (§5 cases 45-46).

    `/(abc,xyz)` becomes `/%28abc,xyz%29`; existing `%XX` escapes are kept, so `%3A%2F%2F` stays
    encoded; a `%` not followed by two hex digits is itself encoded as `%25`.
    """
    data = raw_path.encode("utf-8", "surrogateescape")
    if not data.translate(None, _PATH_SAFE_BYTES):
        return raw_path  # the common case: nothing to encode, no escapes to check
    out = bytearray()
    length = len(data)
    for index, byte in enumerate(data):
        if byte == 0x25:  # '%'
            if index + 2 < length and data[index + 1] in _HEX and data[index + 2] in _HEX:
                out.append(byte)
            else:
                out += b"%25"
        elif byte in _PATH_SAFE:
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return out.decode("ascii")


def _dot_segment(segment: str) -> str:
    """`.` or `..` also when percent-encoded (`%2e%2E`), as an upstream that decodes would read it."""
    if "%" in segment and len(segment) <= 6:
        return segment.replace("%2e", ".").replace("%2E", ".")
    return segment


def needs_cleaning(path: str) -> bool:
    """True when `path` has empty, `.` or `..` segments (plain or percent-encoded) that cleaning changes."""
    if "//" in path:
        return True
    if "." not in path and "%2" not in path:
        return False
    return any(_dot_segment(segment) in (".", "..") for segment in path.split("/"))


def clean_path(path: str, encoded_dots: bool = True) -> str:
    """Go's `path.Clean` plus a kept trailing slash, as gorilla/mux redirects to (§3.1).

    With `encoded_dots`, percent-encoded dot segments count as dot segments, so `/public/%2e%2e/admin`
    cleans to `/admin` and can never reach an upstream under `/public/` while meaning a parent directory.
    """
    segments: list[str] = []
    for raw in path.split("/"):
        segment = _dot_segment(raw) if encoded_dots else raw
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(raw)
    cleaned = "/" + "/".join(segments)
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned
