"""`TYK_GW_*` environment overrides of tyk.conf (DECISIONS §3), applied to the JSON document.

Names, derived from the model's field tree (`env_leaves`), never listed by hand. Every leaf has two:
- Tyk's real name (envconfig, no `split_words`): `TYK_GW_` + each segment's Go field name upper-cased,
  joined by `_`: `TYK_GW_HTTPSERVEROPTIONS_USESSL`, `TYK_GW_HTTPSERVEROPTIONS_CIPHERS` (`ssl_ciphers`).
- the documented name: `TYK_GW_` + the JSON keys upper-cased, joined by `_`:
  `TYK_GW_HTTP_SERVER_OPTIONS_USE_SSL`, `TYK_GW_HTTP_SERVER_OPTIONS_SSL_CIPHERS`.
Where both are the same (`TYK_GW_SECRET`) there is one name. No name sets two paths (`env_names`).
A leaf is any field that is not a nested object: scalars, lists and maps of scalars, and whole lists or
maps of objects and free objects, which take one JSON value (`TYK_GW_PORTWHITELIST`, as in Tyk).
Value forms: `env_values`.

Rules:
- Precedence: the real name, then the documented name, then the file. When both names are set with
  different values, the documented one is ignored with a warning.
- An override replaces the whole value at its path; objects and lists are not merged.
- An override under a key whose file value is not an object is not applied: validation reports the
  file's value instead.
- `TYK_GW_OMITCONFIGFILE` set to "true" in any case (as Tyk compares it) discards the file
  (`omits_config_file`); bascule then starts from its embedded defaults, not Tyk's zero config.
- A `TYK_GW_*` variable that names no leaf is reported once as a warning and ignored.
- A value that cannot be parsed is a problem with `file` None and `json_path` the variable's name;
  the message starts with the JSON path it was meant for, as validation problems blamed on a variable do.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from bascule.compat.tyk.env_values import parse_env_value
from bascule.compat.tyk.field_tree import FieldNode, JsonPath, Shape, fields_of, format_json_path
from bascule.errors import ConfigProblem

ENV_PREFIX = "TYK_GW"
OMIT_CONFIG_FILE_VARIABLE = f"{ENV_PREFIX}_OMITCONFIGFILE"


@dataclass(frozen=True, slots=True)
class EnvLeaf:
    """One overridable field: where it sits and the two names that set it."""

    json_path: tuple[str, ...]
    tyk_name: str
    documented_name: str
    node: FieldNode

    @property
    def names(self) -> tuple[str, ...]:
        """The accepted names, winner first; one name when both spellings coincide."""
        if self.tyk_name == self.documented_name:
            return (self.tyk_name,)
        return (self.tyk_name, self.documented_name)


def _go_segment(node: FieldNode) -> str:
    return (node.go_name or node.json_key.replace("_", "")).upper()


def _walk_leaves(model: type[BaseModel], json_path: tuple[str, ...], tyk: str, documented: str) -> Iterator[EnvLeaf]:
    for node in fields_of(model).values():
        path = (*json_path, node.json_key)
        tyk_name = f"{tyk}_{_go_segment(node)}"
        documented_name = f"{documented}_{node.json_key.upper()}"
        if node.shape is Shape.OBJECT:
            assert node.model is not None
            yield from _walk_leaves(node.model, path, tyk_name, documented_name)
        else:
            yield EnvLeaf(path, tyk_name, documented_name, node)


def env_leaves(model: type[BaseModel]) -> tuple[EnvLeaf, ...]:
    """Every overridable field of `model`, depth first in declaration order (computed once per model)."""
    return _cached_env_leaves(model)


@functools.cache
def _cached_env_leaves(model: type[BaseModel]) -> tuple[EnvLeaf, ...]:
    return tuple(_walk_leaves(model, (), ENV_PREFIX, ENV_PREFIX))


def env_names(model: type[BaseModel]) -> Mapping[str, tuple[str, ...]]:
    """Every accepted variable name -> the JSON path it sets (computed once per model).

    Raises ValueError when two paths would share a name (a model that cannot be overridden
    unambiguously is a programming error, caught by the tests of the model).
    """
    return _cached_env_names(model)


@functools.cache
def _cached_env_names(model: type[BaseModel]) -> Mapping[str, tuple[str, ...]]:
    names: dict[str, tuple[str, ...]] = {}
    for leaf in env_leaves(model):
        for name in leaf.names:
            other = names.setdefault(name, leaf.json_path)
            if other != leaf.json_path:
                raise ValueError(f"{name} would set both {other} and {leaf.json_path}")
    return MappingProxyType(names)


def omits_config_file(environ: Mapping[str, str]) -> bool:
    """Whether `TYK_GW_OMITCONFIGFILE` asks to discard tyk.conf: "true" in any case, spaces ignored."""
    return environ.get(OMIT_CONFIG_FILE_VARIABLE, "").strip().lower() == "true"


@dataclass(frozen=True, slots=True)
class EnvOverrides:
    """The document with the environment applied, and what the environment did to it."""

    document: dict[str, Any]
    origins: Mapping[JsonPath, str]
    """JSON path -> the variable that set the value there."""
    warnings: tuple[ConfigProblem, ...]
    problems: tuple[ConfigProblem, ...]


def apply_env_overrides(
    document: Mapping[str, Any], environ: Mapping[str, str], model: type[BaseModel]
) -> EnvOverrides:
    """`document` (not modified) with every `TYK_GW_*` override for `model` applied; see module rules."""
    result = copy.deepcopy(dict(document))
    origins: dict[JsonPath, str] = {}
    warnings: list[ConfigProblem] = []
    problems: list[ConfigProblem] = []
    for leaf in env_leaves(model):
        chosen = _choose_variable(leaf, environ, warnings)
        if chosen is None:
            continue
        try:
            value = parse_env_value(leaf.node, environ[chosen])
        except ValueError as error:
            problems.append(ConfigProblem(None, chosen, f"{format_json_path(leaf.json_path)}: {error}"))
            continue
        if _set_at(result, leaf.json_path, value):
            origins[leaf.json_path] = chosen
    warnings.extend(_unknown_variable_warnings(environ, env_names(model)))
    return EnvOverrides(result, MappingProxyType(origins), tuple(warnings), tuple(problems))


def _choose_variable(leaf: EnvLeaf, environ: Mapping[str, str], warnings: list[ConfigProblem]) -> str | None:
    present = [name for name in leaf.names if name in environ]
    if not present:
        return None
    winner = present[0]
    for loser in present[1:]:
        if environ[loser] != environ[winner]:
            warnings.append(ConfigProblem(None, loser, f"ignored: {winner} is also set and takes precedence"))
    return winner


def _set_at(document: dict[str, Any], path: tuple[str, ...], value: object) -> bool:
    container = document
    for key in path[:-1]:
        child = container.get(key)
        if child is None:  # absent, or JSON null: the default, which the override now fills in
            child = container[key] = {}
        if not isinstance(child, dict):
            return False
        container = child
    container[path[-1]] = value
    return True


def _unknown_variable_warnings(
    environ: Mapping[str, str], known: Mapping[str, tuple[str, ...]]
) -> Iterator[ConfigProblem]:
    for name in sorted(environ):
        if not name.startswith(f"{ENV_PREFIX}_") or name in known:
            continue
        if name == OMIT_CONFIG_FILE_VARIABLE:
            if environ[name].strip().lower() not in ("true", "false", ""):
                message = 'not "true" or "false": the config file is kept'
                yield ConfigProblem(None, name, message)
            continue
        yield ConfigProblem(None, name, "unknown variable, ignored")
