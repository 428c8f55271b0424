"""Loading tyk.conf and the `TYK_GW_*` environment into `GatewaySettings`: the only I/O of that path.

Steps: read the file (unless `path` is None or `TYK_GW_OMITCONFIGFILE` is "true") -> apply the
environment (`env_overrides`) -> warn about unknown keys and variables -> validate (`gateway_conf`)
-> translate (`translate_gateway`).

Invariants (each tested in `tests/unit/compat/test_load_gateway.py`):
- `path` None, or the file omitted by `TYK_GW_OMITCONFIGFILE`: the embedded defaults (listen on 8080,
  API definitions from `./apps`, in-memory storage, no secret), still with the environment applied;
  `settings.source` is then None and the file is not opened.
- A file that cannot be read, is not UTF-8, is not JSON (the problem gives line and column) or whose
  top level is not an object: `ConfigError` naming the file at `$`.
- Wrong types or values, in the file or the environment: one `ConfigError` carrying every problem, each
  blamed on the file and JSON path, or on the env variable (`conf_problems`).
- Unknown keys and unknown `TYK_GW_*` variables: one warning each in `warnings`, never an error.
- A relative `app_path` is resolved against the current working directory when loading, as Tyk does
  (Tyk opens `app_path` relative to its working directory, not to tyk.conf).
- `external_services` is resolved with `environ` (`HTTP_PROXY` & co. included); a bad proxy URL, bypass
  entry or mTLS block is a `ConfigError` naming the services and the cause, blamed like any other value;
  its warnings (insecure_skip_verify, store over files, ignored `NO_PROXY` entries) join `warnings`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bascule.compat.tyk.conf_problems import unknown_key_warnings, validate_document
from bascule.compat.tyk.env_overrides import apply_env_overrides, omits_config_file
from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.translate_external_services import (
    blame_findings,
    translate_external_services,
    translate_upstream_proxy,
)
from bascule.compat.tyk.translate_gateway import translate_gateway
from bascule.config.gateway import GatewaySettings
from bascule.errors import ConfigError, ConfigProblem


@dataclass(frozen=True, slots=True)
class LoadedGateway:
    """Settings that loaded, and the warnings to log about what was ignored on the way."""

    settings: GatewaySettings
    warnings: tuple[str, ...]


def load_gateway_settings(path: Path | None, environ: Mapping[str, str]) -> LoadedGateway:
    """The gateway settings from tyk.conf at `path` and `environ`; ConfigError if they are unusable.

    `path` None means the embedded defaults. `environ` is usually `os.environ`. A relative `app_path`
    is resolved against the current working directory (as Tyk does), not against `path`.
    """
    source = None if path is None or omits_config_file(environ) else path
    document = {} if source is None else read_json_object(source)
    overrides = apply_env_overrides(document, environ, TykGatewayConf)
    warnings = [
        *overrides.warnings,
        *unknown_key_warnings(overrides.document, TykGatewayConf, file=source, origins=overrides.origins),
    ]
    try:
        conf = validate_document(overrides.document, TykGatewayConf, file=source, origins=overrides.origins)
    except ConfigError as error:
        raise ConfigError([*overrides.problems, *error.problems]) from None
    if overrides.problems:
        raise ConfigError(list(overrides.problems))
    external = translate_external_services(conf, environ)
    if external.problems:
        raise ConfigError(blame_findings(external.problems, file=source, origins=overrides.origins))
    upstream_proxy, proxy_findings = translate_upstream_proxy(environ)
    # one line per variable and message: the upstream route reads the same variables as services in env mode
    warnings.extend(blame_findings([*external.warnings, *proxy_findings], file=source, origins=overrides.origins))
    settings = translate_gateway(
        conf, source=source, cwd=Path.cwd(), external_services=external.profiles, upstream_proxy=upstream_proxy
    )
    return LoadedGateway(settings, tuple(str(warning) for warning in warnings))


def read_json_object(file: Path) -> dict[str, Any]:
    """The JSON object in `file`; ConfigError naming the file when it cannot be read or parsed."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([ConfigProblem(file, "$", f"cannot read the file: {error}")]) from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        message = f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        raise ConfigError([ConfigProblem(file, "$", message)]) from None
    except ValueError as error:
        raise ConfigError([ConfigProblem(file, "$", f"invalid JSON: {error}")]) from None
    if not isinstance(document, dict):
        raise ConfigError([ConfigProblem(file, "$", "tyk.conf must be a JSON object")])
    return document


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")
