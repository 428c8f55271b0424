"""What a control API handler receives and what it answers: a status and a JSON body, with Tyk's texts
kept verbatim."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bascule.core.headers import Header

INVALID_KEY = "Attempted administrative access with invalid or missing key!"
API_NOT_FOUND = "API not found"
REQUEST_MALFORMED = "Request malformed"
INVALID_API_ID = "invalid API ID"
API_ALREADY_EXISTS = "API already exists"
ID_MISMATCH = "Request APIID does not match that in Definition! For Update operations these must match."
CLASSIC_EXPECTED = "this API endpoint only supports Tyk Classic APIs; please use the appropriate Tyk OAS API endpoint"
OAS_BODY_ON_CLASSIC = "the supplied API definition is in OAS format, please use the Tyk classic format for this API"
OAS_GET_FOR_CLASSIC = "the requested API definition is in Tyk classic format, please use old api endpoint"
OAS_EXTENSION_MISSING = "the payload should contain x-tyk-api-gateway"
NOT_FOUND = "Not found"
METHOD_NOT_ALLOWED = "Method not allowed"
BODY_TOO_LARGE = "Request body too large"
REQUEST_TIMEOUT = "Request timeout"
WRITE_FAILED = "file object creation failed, write error"
DELETE_FAILED = "Delete failed"
RELOAD_FAILED = "Reload failed; the running configuration keeps serving"
INTERNAL_ERROR = "Internal error"


@dataclass(frozen=True, slots=True)
class AdminCall:
    """One authorised request, routed: the path's captures, the raw query and the whole body."""

    params: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: object
    """Anything `json.dumps` takes; mappings (API definitions as loaded) are written as objects."""
    headers: tuple[Header, ...] = ()


def error_reply(status: int, message: str, headers: tuple[Header, ...] = ()) -> Reply:
    """Tyk's error envelope: `{"status": "error", "message": ...}`."""
    return Reply(status, {"status": "error", "message": message}, headers)


def action_reply(api_id: str, action: str) -> Reply:
    """Tyk's answer to a definition change: `{"key": id, "status": "ok", "action": "added"}`."""
    return Reply(200, {"key": api_id, "status": "ok", "action": action})


def validation_reply(messages: list[str]) -> Reply:
    """A definition the translator refused, in Tyk's wording, every problem listed."""
    return error_reply(400, f"Validation of API Definition failed. Reason: {'; '.join(messages)}.")
