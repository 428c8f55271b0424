"""Reading what a request head says: the target's path and query, and the headers that frame it."""

from __future__ import annotations

from bascule.core.headers import listed_in_connection
from bascule.errors import ClientProtocolError
from bascule.messages import InboundRequest


def read_request_head(request: InboundRequest) -> None:
    """Fill `path`, `query`, `host`, framing and `Connection` fields from the raw target and headers.

    Raises `ClientProtocolError`: 400 for a target that is neither origin-form, absolute-form nor `*` (for
    OPTIONS), for a 1.1 request without `Host` or any request with several (RFC 9112 §3.2); 417 for an
    `Expect` other than `100-continue`.
    """
    target = request.raw_target
    if target.startswith((b"http://", b"https://")):
        slash = target.find(b"/", target.find(b"//") + 2)
        target = target[slash:] if slash >= 0 else b"/"
    elif not target.startswith(b"/") and not (target == b"*" and request.method == "OPTIONS"):
        raise ClientProtocolError(400, "Bad Request")
    hash_at = target.find(b"#")
    if hash_at >= 0:
        target = target[:hash_at]
    question = target.find(b"?")
    if question >= 0:
        request.path = target[:question].decode("latin-1")
        request.query = target[question + 1 :].decode("latin-1")
    else:
        request.path = target.decode("latin-1")
    _read_framing_headers(request)


def _read_framing_headers(request: InboundRequest) -> None:
    hosts = 0
    for name, value in request.headers:
        size = len(name)  # compare lengths first: most headers are none of these
        if size == 4 and name.lower() == b"host":
            request.host = value
            hosts += 1
        elif size == 14 and name.lower() == b"content-length":
            request.content_length = int(value)
        elif size == 17 and name.lower() == b"transfer-encoding":
            request.chunked = True
        elif size == 10 and name.lower() == b"connection":
            request.connection_tokens |= listed_in_connection(value)
        elif size == 6 and name.lower() == b"expect":
            if value.strip().lower() != b"100-continue":
                raise ClientProtocolError(417, "Expectation Failed")
            request.expects_continue = True
    if hosts > 1 or (hosts == 0 and request.version == "1.1"):
        raise ClientProtocolError(400, "Bad Request")
