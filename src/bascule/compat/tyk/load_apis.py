"""Reading the API definitions in `app_path`: the only I/O of the API-definition translation.

Invariants (each tested in `tests/unit/compat/test_load_apis.py`):

* every `*.json` file directly in `app_path` is read, in order of file name; subdirectories and other
  extensions are ignored (Tyk globs `app_path/*.json`);
* a file that cannot be read, is not JSON, is not a JSON object, or is not a valid definition is
  skipped, and each of its problems is reported with the file and a JSON path; the others load;
* when two files define the same api_id, the first in file-name order loads and the second is
  reported (`duplicate api_id "x", also in <first file>`);
* inactive APIs (`active: false`) load, with `active=False`: the router skips them, the control API
  lists them;
* a missing `app_path`, or a file in its place, gives no APIs and one problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bascule.compat.tyk.oas import OAS_EXTENSION_KEY
from bascule.compat.tyk.translate_api import translate_api_definition
from bascule.config.apis import ApiSettings
from bascule.config.gateway import GatewaySettings
from bascule.errors import ConfigError, ConfigProblem


@dataclass(frozen=True, slots=True)
class LoadedApis:
    """The APIs that loaded, and what was wrong with the files that did not."""

    apis: tuple[ApiSettings, ...]
    problems: tuple[ConfigProblem, ...]


def load_api_definitions(app_path: Path, gateway: GatewaySettings) -> LoadedApis:
    """Every valid API definition in `app_path`; see the module docstring for what is skipped."""
    if not app_path.is_dir():
        reason = "is not a directory" if app_path.exists() else "does not exist"
        return LoadedApis((), (ConfigProblem(app_path, "$", f"app_path {reason}"),))
    try:
        files = sorted(path for path in app_path.iterdir() if path.name.endswith(".json") and path.is_file())
    except OSError as error:
        return LoadedApis((), (ConfigProblem(app_path, "$", f"cannot list app_path: {error}"),))
    apis: list[ApiSettings] = []
    problems: list[ConfigProblem] = []
    first_file_of: dict[str, Path] = {}
    for file in files:
        try:
            api = translate_api_definition(_read_json_object(file), gateway, file)
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        first_file = first_file_of.setdefault(api.api_id, file)
        if first_file != file:
            problems.append(
                ConfigProblem(file, _api_id_path(api), f'duplicate api_id "{api.api_id}", also in {first_file}')
            )
            continue
        apis.append(api)
    return LoadedApis(tuple(apis), tuple(problems))


def _read_json_object(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([ConfigProblem(file, "$", f"cannot read the file: {error}")]) from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        message = f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        raise ConfigError([ConfigProblem(file, "$", message)]) from error
    if not isinstance(document, dict):
        raise ConfigError([ConfigProblem(file, "$", "an API definition must be a JSON object")])
    return document


def _api_id_path(api: ApiSettings) -> str:
    return f"$.{OAS_EXTENSION_KEY}.info.id" if api.format == "oas" else "$.api_id"
