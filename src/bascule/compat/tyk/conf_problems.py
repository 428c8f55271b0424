"""What is wrong with a tyk.conf document, blamed on its source: the file or an env variable.

Invariants:
- A finding at a JSON path is blamed on the env variable that set that path or one of its parents
  (`origins`, from `env_overrides`): `ConfigProblem(None, "<variable>", "<$.path>: <message>")`;
  otherwise on the file: `ConfigProblem(file, "<$.path>", "<message>")`.
- Every validation error becomes one problem; all are reported, not only the first.
- An error message shows the offending value only when it is a short scalar and the field is not a
  secret (`repr=False`), so passwords never reach a log.
- Every unknown key gives exactly one warning: `<$.path>: unknown key, ignored`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bascule.compat.tyk.field_tree import JsonPath, find_unknown_keys, format_json_path, node_at
from bascule.errors import ConfigError, ConfigProblem

ModelT = TypeVar("ModelT", bound=BaseModel)

_ECHO_LIMIT = 60


def problem_at(path: JsonPath, message: str, *, file: Path | None, origins: Mapping[JsonPath, str]) -> ConfigProblem:
    """A problem at `path`, blamed on the variable that set it (or a parent of it), else on `file`."""
    for length in range(len(path), 0, -1):
        variable = origins.get(path[:length])
        if variable is not None:
            return ConfigProblem(None, variable, f"{format_json_path(path)}: {message}")
    return ConfigProblem(file, format_json_path(path), message)


def unknown_key_warnings(
    document: Mapping[str, Any],
    model: type[BaseModel],
    *,
    file: Path | None,
    origins: Mapping[JsonPath, str],
) -> list[ConfigProblem]:
    """One warning per key of `document` that `model` does not declare."""
    return [
        problem_at(path, "unknown key, ignored", file=file, origins=origins)
        for path in find_unknown_keys(document, model)
    ]


def validate_document(
    document: Mapping[str, Any],
    model: type[ModelT],
    *,
    file: Path | None,
    origins: Mapping[JsonPath, str],
) -> ModelT:
    """`document` validated as `model`; ConfigError with one problem per validation error."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise ConfigError(validation_problems(error, model, file=file, origins=origins)) from None


def validation_problems(
    error: ValidationError,
    model: type[BaseModel],
    *,
    file: Path | None,
    origins: Mapping[JsonPath, str],
) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors(include_url=False):
        path: JsonPath = tuple(detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        node = node_at(model, path)
        if not (node is not None and node.is_secret):
            message += _echo(detail.get("input"))
        problems.append(problem_at(path, message, file=file, origins=origins))
    return problems


def _echo(value: object) -> str:
    if isinstance(value, bool | int | float | str):
        shown = repr(value)
        if len(shown) <= _ECHO_LIMIT:
            return f", got {shown}"
    return ""
