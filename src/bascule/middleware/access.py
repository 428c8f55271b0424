"""Who may use an API. Today: keyless APIs are open; every other API fails closed.

bascule has no key store yet (keys, policies and JWT arrive with the authentication work), so a request to
an API that is not keyless can never present a valid credential. Such requests are refused with Tyk's
texts (`mw_auth_key.go`): no credential at all is 401 `Authorization field missing`, any credential is 403
`Access to this API has been disallowed`. Nothing is forwarded.
"""

from __future__ import annotations

from bascule.core.headers import Header

MISSING = (401, "Authorization field missing")
DISALLOWED = (403, "Access to this API has been disallowed")


def refusal(keyless: bool, headers: list[Header], auth_header: bytes = b"authorization") -> tuple[int, str] | None:
    """None when the request may pass; else the status and message to answer with."""
    if keyless:
        return None
    if any(name.lower() == auth_header for name, _ in headers):
        return DISALLOWED
    return MISSING
