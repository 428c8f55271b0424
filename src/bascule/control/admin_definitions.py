"""API definition files in `app_path`, as the control API writes and removes them. Blocking: call these
through `asyncio.to_thread`.

Invariants (each tested in `tests/unit/control/test_admin_definitions.py`):

* An API id becomes part of a file name only when `is_safe_api_id` accepts it: 1 to 200 bytes of
  UTF-8, no `/`, `\\`, NUL or other control character, and not `.` or `..`. So a written file is always
  directly in `app_path` (Tyk answers `invalid API ID` too, for `../x`).
* Tyk's file names: a Classic definition is `<app_path>/<id>.json`, an OAS one `<app_path>/<id>-oas.json`.
* `write_definition` is atomic: the document goes to a temporary file in the same directory, whose name
  (`.<name>.<random>.tmp`) the loader never reads (it reads `*.json`), is flushed to disk and replaces
  the target with `os.replace`. Readers see the old file or the new one, never a part. A new file gets
  mode 0644 (Tyk's); a replaced file keeps its mode.
* Documents are written as UTF-8 JSON indented by two spaces (Tyk writes them with `MarshalIndent`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bascule.config.apis import DefinitionFormat

FILE_SUFFIXES: Mapping[DefinitionFormat, str] = {"classic": ".json", "oas": "-oas.json"}
"""Tyk's file name for each format: `<id>.json`, `<id>-oas.json`."""

MAX_API_ID_BYTES = 200
NEW_FILE_MODE = 0o644
_UNSAFE_ID_CHARACTER = re.compile(r"[/\\\x00-\x1f\x7f]")


def is_safe_api_id(api_id: str) -> bool:
    """True when `api_id` can name a file directly in `app_path` (see the module invariants)."""
    if api_id in ("", ".", "..") or _UNSAFE_ID_CHARACTER.search(api_id):
        return False
    try:
        return len(api_id.encode("utf-8")) <= MAX_API_ID_BYTES
    except UnicodeEncodeError:  # a lone surrogate, from a percent-decoded path
        return False


def definition_path(app_path: Path, api_id: str, definition_format: DefinitionFormat) -> Path:
    """Where the control API writes a new definition; `api_id` must pass `is_safe_api_id`."""
    assert is_safe_api_id(api_id), "unsafe API id used as a file name"
    return app_path / f"{api_id}{FILE_SUFFIXES[definition_format]}"


def is_directly_in(path: Path, directory: Path) -> bool:
    """True when `path` names a file directly inside `directory` (symlinks resolved)."""
    return path.resolve().parent == directory.resolve()


def first_existing(paths: Sequence[Path]) -> Path | None:
    """The first of `paths` that is an existing regular file."""
    return next((path for path in paths if path.is_file()), None)


def write_definition(path: Path, document: Mapping[str, Any]) -> None:
    """Write `document` to `path` atomically (see the module invariants)."""
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(path.parent)


def remove_definition(path: Path) -> bool:
    """Remove the definition file; False when it was already gone."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _sync_directory(path.parent)
    return True


def _sync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
