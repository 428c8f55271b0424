"""The `/tyk/apis` and `/tyk/apis/oas` endpoints: read the loaded definitions, write and remove files.

Rules (one test each in `tests/unit/control/test_admin_apis.py`):

* Reads come from the running snapshot. `GET /tyk/apis` lists every loaded definition exactly as loaded,
  Classic and OAS; `GET /tyk/apis/oas` lists the OAS ones. `GET /tyk/apis/<id>` returns an API of either
  format; `GET /tyk/apis/oas/<id>` refuses a Classic API with Tyk's text. Unknown id: 404.
* Writes change files only: the running APIs change at the next reload, as in Tyk.
* A body must be a JSON object (else 400 `Request malformed`; `NaN` and `Infinity` are not JSON) in the
  endpoint's format: the Classic endpoints refuse a document with `x-tyk-api-gateway`, the OAS endpoints
  require it. It must translate (`translate_api_definition`), else 400 listing every problem.
* POST: a Classic body without `api_id` gets a generated one (32 hex digits, as Tyk does); an OAS body
  without `info.id` keeps the id the translator derives from its name. An id already loaded, or whose
  file exists, is 400 `API already exists`. The file is `<id>.json` or `<id>-oas.json`.
* PUT: the body's id must equal the path's (else 400, Tyk's text), or is set to it when empty. The API
  must exist, loaded or on disk (else 404), in the endpoint's format (else 400, Tyk's text). The file it
  was loaded from is replaced, so no second file with the same id appears.
* DELETE removes the API's file, whatever its format; unknown id: 404.
* Writes are serialised by one lock: two requests cannot both pass "does it exist?" before writing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bascule.compat.tyk.oas import OAS_EXTENSION_KEY
from bascule.compat.tyk.translate_api import translate_api_definition
from bascule.config.apis import ApiSettings, DefinitionFormat
from bascule.control.admin_definitions import (
    FILE_SUFFIXES,
    definition_path,
    first_existing,
    is_directly_in,
    is_safe_api_id,
    remove_definition,
    write_definition,
)
from bascule.control.admin_replies import (
    API_ALREADY_EXISTS,
    API_NOT_FOUND,
    CLASSIC_EXPECTED,
    DELETE_FAILED,
    ID_MISMATCH,
    INVALID_API_ID,
    OAS_BODY_ON_CLASSIC,
    OAS_EXTENSION_MISSING,
    OAS_GET_FOR_CLASSIC,
    REQUEST_MALFORMED,
    WRITE_FAILED,
    AdminCall,
    Reply,
    action_reply,
    error_reply,
    validation_reply,
)
from bascule.errors import ConfigError
from bascule.runtime.snapshot import SnapshotHolder

log = logging.getLogger("bascule.control")

Document = dict[str, Any]


def _classic_id_holder(document: Document) -> Document | None:
    return document


def _oas_id_holder(document: Document) -> Document | None:
    extension = document.get(OAS_EXTENSION_KEY)
    info = extension.get("info") if isinstance(extension, dict) else None
    return info if isinstance(info, dict) else None


@dataclass(frozen=True, slots=True)
class _FormatRules:
    """How one endpoint family (`/tyk/apis` or `/tyk/apis/oas`) treats each format."""

    id_holder: Callable[[Document], Document | None]
    """The object holding the definition's id (None when the document has no such object)."""
    id_key: str
    generates_missing_id: bool
    listed: frozenset[DefinitionFormat]
    wrong_body: str
    """Refusal of a body in the other format."""
    wrong_api_update: str
    """Refusal of a PUT onto an API of the other format."""
    wrong_api_get: str | None
    """Refusal of a GET of an API of the other format; None: it is returned as loaded."""


_RULES: Mapping[DefinitionFormat, _FormatRules] = {
    "classic": _FormatRules(
        id_holder=_classic_id_holder,
        id_key="api_id",
        generates_missing_id=True,
        listed=frozenset({"classic", "oas"}),
        wrong_body=OAS_BODY_ON_CLASSIC,
        wrong_api_update=CLASSIC_EXPECTED,
        wrong_api_get=None,
    ),
    "oas": _FormatRules(
        id_holder=_oas_id_holder,
        id_key="id",
        generates_missing_id=False,
        listed=frozenset({"oas"}),
        wrong_body=OAS_EXTENSION_MISSING,
        wrong_api_update=OAS_BODY_ON_CLASSIC,
        wrong_api_get=OAS_GET_FOR_CLASSIC,
    ),
}


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_document(body: bytes) -> Document | None:
    """The JSON object in `body`, or None when it is not one."""
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return document if isinstance(document, dict) else None


def _format_of(document: Document) -> DefinitionFormat:
    return "oas" if OAS_EXTENSION_KEY in document else "classic"


@dataclass(frozen=True, slots=True)
class _Located:
    path: Path
    format: DefinitionFormat


def locate_definition(app_path: Path, api_id: str, loaded: ApiSettings | None) -> _Located | None:
    """The file holding API `api_id`: the one it was loaded from, else `<id>.json` or `<id>-oas.json`."""
    source = loaded.source if loaded is not None else None
    if loaded is not None and source is not None and is_directly_in(source, app_path) and source.is_file():
        return _Located(source, loaded.format)
    if not is_safe_api_id(api_id):
        return None
    for definition_format in FILE_SUFFIXES:
        path = definition_path(app_path, api_id, definition_format)
        if path.is_file():
            return _Located(path, definition_format)
    return None


class ApiDefinitions:
    """Handlers for the definition endpoints; `definition_format` is the endpoint family's."""

    def __init__(self, holder: SnapshotHolder) -> None:
        self._holder = holder
        self._writing = asyncio.Lock()

    async def index(self, definition_format: DefinitionFormat, call: AdminCall) -> Reply:
        listed = _RULES[definition_format].listed
        apis = self._holder.current.definitions.values()
        return Reply(200, [api.definition for api in apis if api.format in listed])

    async def show(self, definition_format: DefinitionFormat, call: AdminCall) -> Reply:
        api = self._holder.current.definitions.get(call.params["id"])
        if api is None:
            return error_reply(404, API_NOT_FOUND)
        refusal = _RULES[definition_format].wrong_api_get
        if refusal is not None and api.format != definition_format:
            return error_reply(400, refusal)
        return Reply(200, api.definition)

    async def create(self, definition_format: DefinitionFormat, call: AdminCall) -> Reply:
        rules = _RULES[definition_format]
        document = self._document_in_format(call.body, definition_format)
        if isinstance(document, Reply):
            return document
        holder = rules.id_holder(document)
        if rules.generates_missing_id and holder is not None and holder.get(rules.id_key) in (None, ""):
            holder[rules.id_key] = uuid.uuid4().hex
        settings = self._translate(document)
        if isinstance(settings, Reply):
            return settings
        api_id = settings.api_id
        if not is_safe_api_id(api_id):
            return error_reply(400, INVALID_API_ID)
        async with self._writing:
            loaded = api_id in self._holder.current.definitions
            app_path = self._holder.current.gateway.app_path
            return await asyncio.to_thread(_create_file, app_path, api_id, definition_format, document, loaded)

    async def update(self, definition_format: DefinitionFormat, call: AdminCall) -> Reply:
        rules = _RULES[definition_format]
        api_id = call.params["id"]
        document = self._document_in_format(call.body, definition_format)
        if isinstance(document, Reply):
            return document
        holder = rules.id_holder(document)
        if holder is not None:
            body_id = holder.get(rules.id_key)
            if body_id in (None, ""):
                holder[rules.id_key] = api_id
            elif body_id != api_id:
                return error_reply(400, ID_MISMATCH)
        settings = self._translate(document)
        if isinstance(settings, Reply):
            return settings
        if settings.api_id != api_id:
            return error_reply(400, ID_MISMATCH)
        async with self._writing:
            loaded = self._loaded(api_id)
            app_path = self._holder.current.gateway.app_path
            return await asyncio.to_thread(_replace_file, app_path, api_id, definition_format, document, loaded)

    async def delete(self, call: AdminCall) -> Reply:
        api_id = call.params["id"]
        async with self._writing:
            loaded = self._loaded(api_id)
            app_path = self._holder.current.gateway.app_path
            return await asyncio.to_thread(_remove_file, app_path, api_id, loaded)

    def _loaded(self, api_id: str) -> ApiSettings | None:
        return self._holder.current.definitions.get(api_id)

    def _document_in_format(self, body: bytes, definition_format: DefinitionFormat) -> Document | Reply:
        document = parse_document(body)
        if document is None:
            return error_reply(400, REQUEST_MALFORMED)
        if _format_of(document) != definition_format:
            return error_reply(400, _RULES[definition_format].wrong_body)
        return document

    def _translate(self, document: Document) -> ApiSettings | Reply:
        try:
            return translate_api_definition(document, self._holder.current.gateway, None)
        except ConfigError as error:
            return validation_reply([f"{problem.json_path}: {problem.message}" for problem in error.problems])


def _create_file(
    app_path: Path, api_id: str, definition_format: DefinitionFormat, document: Document, loaded: bool
) -> Reply:
    files = [definition_path(app_path, api_id, f) for f in FILE_SUFFIXES]
    if loaded or first_existing(files) is not None:
        return error_reply(400, API_ALREADY_EXISTS)
    return _written(definition_path(app_path, api_id, definition_format), api_id, document, "added")


def _replace_file(
    app_path: Path,
    api_id: str,
    definition_format: DefinitionFormat,
    document: Document,
    loaded: ApiSettings | None,
) -> Reply:
    located = locate_definition(app_path, api_id, loaded)
    if located is None:
        return error_reply(404, API_NOT_FOUND)
    if located.format != definition_format:
        return error_reply(400, _RULES[definition_format].wrong_api_update)
    return _written(located.path, api_id, document, "modified")


def _remove_file(app_path: Path, api_id: str, loaded: ApiSettings | None) -> Reply:
    located = locate_definition(app_path, api_id, loaded)
    if located is None:
        return error_reply(404, API_NOT_FOUND)
    try:
        removed = remove_definition(located.path)
    except OSError:
        log.exception("control API: cannot remove %s", located.path)
        return error_reply(500, DELETE_FAILED)
    if not removed:
        return error_reply(404, API_NOT_FOUND)
    log.info("control API: removed %s (API %r); applies at the next reload", located.path, api_id)
    return action_reply(api_id, "deleted")


def _written(path: Path, api_id: str, document: Document, action: str) -> Reply:
    try:
        write_definition(path, document)
    except OSError:
        log.exception("control API: cannot write %s", path)
        return error_reply(500, WRITE_FAILED)
    log.info("control API: wrote %s (API %r, %s); applies at the next reload", path, api_id, action)
    return action_reply(api_id, action)
