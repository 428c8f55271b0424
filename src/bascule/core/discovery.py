"""Service discovery responses to host strings (tyk-behaviour §2.3, §3.5 "Parsing", §5 cases 22-28; DECISIONS §16).

Rules, in the order `discovered_hosts` applies them:

1. The body is JSON; anything else (including `NaN`/`Infinity`, which Go rejects, and arrays or objects nested
   deeper than Python's parser goes, where it raises RecursionError) raises `DiscoveryParseError`.
2. Paths are dot-separated keys walked through JSON objects: `node.value`, `application.instance`, `port.$`
   (`$` is an ordinary key in Eureka's JSON). A missing key, or a step into anything but an object, finds
   nothing. The empty path is the value itself.
3. Items, the objects hosts are read from:
   * `endpoint_returns_list`: the body must be a JSON array; its elements are the items.
   * otherwise the body must be an object, and
     * `use_nested_query`: the one item is the top object;
     * `use_target_list` with `parent_data_path`: the items are the elements of the array at that path, or the
       values of the object there (in document order) - unless that object itself names a host at
       `data_path`, when it is the one item (Eureka renders a single `instance` as an object);
     * `use_target_list` without `parent_data_path`: no items (as Tyk);
     * otherwise the one item is the top object.
4. `use_nested_query`: an item's value at `parent_data_path` must be a string holding JSON. It is parsed; an
   array stands for its elements, anything else for itself. A value that is not a string yields nothing; a
   string that is not JSON raises `DiscoveryParseError`.
5. Host: the string at `data_path` of an item; a non-string or blank value skips that item.
6. Port: the value at `port_data_path`, if that is set: an array stands for its first element; a string is used
   as is, a number as its integer part; `:port` is appended. A missing, empty or other value adds nothing.
7. `target_path` is appended to every host. With `use_target_list` every host is returned in order, otherwise
   only the first. No scheme is added: the caller applies `upstream_url.normalise_host`.

Departures from Tyk (`gateway/service_discovery.go`), each where Tyk yields a broken or empty host:
* A host value that is not a string is skipped; Tyk logs `Get Object: hostname is not a string` and keeps `""`
  (plus `target_path`), so the list holds an unusable host. Without `use_target_list` bascule returns the first
  usable host, and `[]` when there is none (Tyk returns `[""]`).
* A nested string holding one JSON object yields its host in `use_target_list` mode (Tyk reads `data_path`
  from the outer object and typically yields nothing); a nested string holding an array yields a host per
  element in every mode (Tyk: only for an object response with `use_target_list`, else `""`). Tyk tests
  for an array with a `[` prefix, so leading whitespace also defeats it there.
* A nested string that is not JSON raises `DiscoveryParseError` (Tyk dereferences a nil parse result).
* A missing or unusable port adds nothing; Tyk appends a bare `:`. An empty port array is unusable here; Tyk
  indexes it and panics.
* `endpoint_returns_list` with a body that is not an array, or a top-level array without it, raises
  `DiscoveryParseError` naming the setting; Tyk walks its paths over the other shape and finds nothing.
* Object values are taken in document order (Go's map iteration order is random); a path step never fans out
  over an array (gabs does).
"""

from __future__ import annotations

import json
import math

__all__ = ["DiscoveryParseError", "discovered_hosts"]


class DiscoveryParseError(ValueError):
    """The discovery response (or a nested JSON string in it) is not JSON of the expected shape."""


def discovered_hosts(
    body: str,
    *,
    data_path: str,
    parent_data_path: str = "",
    port_data_path: str = "",
    use_nested_query: bool = False,
    use_target_list: bool = False,
    endpoint_returns_list: bool = False,
    target_path: str = "",
) -> list[str]:
    """The `host[:port]` + `target_path` strings a discovery response names, in response order."""
    document = _load_json(body, "the discovery response")
    if endpoint_returns_list:
        if not isinstance(document, list):
            raise DiscoveryParseError("endpoint_returns_list is set but the discovery response is not a JSON array")
        items = document
    elif isinstance(document, list):
        raise DiscoveryParseError("the discovery response is a JSON array: set endpoint_returns_list")
    elif use_nested_query or not use_target_list:
        items = [document]
    elif parent_data_path:
        items = _children(_lookup(document, parent_data_path), data_path)
    else:
        items = []
    if use_nested_query:
        items = [nested for item in items for nested in _nested_items(item, parent_data_path)]
    hosts: list[str] = []
    for item in items:
        host = _host(item, data_path, port_data_path)
        if host is None:
            continue
        hosts.append(host + target_path)
        if not use_target_list:
            break
    return hosts


def discovered_check_objects(body: str, *, data_path: str) -> list[object]:
    """The check objects an uptime-tests discovery endpoint names (Tyk's `uptime_tests.config.service_discovery`):
    the value at `data_path` is a JSON array, or a string holding one (Tyk: always a string)."""
    value = _lookup(_load_json(body, "the discovery answer"), data_path)
    if isinstance(value, str):
        value = _load_json(value, f"the string at {data_path or 'the top'}")
    if not isinstance(value, list):
        raise DiscoveryParseError(f"no array of checks at {data_path or 'the top'}")
    return value


def _load_json(text: str, what: str) -> object:
    try:
        value: object = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError, and _reject_constant's
        raise DiscoveryParseError(f"{what} is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # `[[[[...`: an untrusted answer must not escape as a RecursionError
        raise DiscoveryParseError(f"{what} is nested too deeply") from exc
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _lookup(value: object, path: str) -> object:
    """The value at a dot path (rule 2); None when nothing is there."""
    if not path:
        return value
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _children(value: object, data_path: str) -> list[object]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if isinstance(_lookup(value, data_path), str):
            return [value]
        return list(value.values())
    return []


def _nested_items(item: object, parent_data_path: str) -> list[object]:
    raw = _lookup(item, parent_data_path)
    if not isinstance(raw, str):
        return []
    nested = _load_json(raw, f"the nested value at {parent_data_path!r}")
    return nested if isinstance(nested, list) else [nested]


def _host(item: object, data_path: str, port_data_path: str) -> str | None:
    host = _lookup(item, data_path)
    if not isinstance(host, str) or not host.strip():
        return None
    if port_data_path:
        port = _port_text(_lookup(item, port_data_path))
        if port:
            return f"{host}:{port}"
    return host


def _port_text(value: object) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value))
    return ""
