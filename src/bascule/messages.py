"""The vocabulary between listeners and handlers: a parsed request, and how a handler answers it.

Listeners (`bascule.inbound`) produce these; handlers (`bascule.proxy`, `bascule.control`) consume them,
so neither side imports the other.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Protocol

from bascule.bodies import BodyStream
from bascule.core.headers import NO_TOKENS, Header


class InboundRequest:
    """One parsed request head, and its body as it arrives."""

    __slots__ = (
        "body",
        "chunked",
        "client_ip",
        "connection_tokens",
        "content_length",
        "expects_continue",
        "headers",
        "host",
        "keep_alive",
        "method",
        "path",
        "peer_certificate_sha256",
        "query",
        "raw_target",
        "scheme",
        "upgrade",
        "version",
    )

    def __init__(self) -> None:
        self.method = ""
        self.raw_target = b""
        self.path = "/"
        """The raw (still percent-encoded) path."""
        self.query = ""
        self.headers: list[Header] = []
        self.connection_tokens: frozenset[bytes] = NO_TOKENS
        """Header names listed in `Connection`: never forwarded."""
        self.host = b""
        self.version = "1.1"
        self.keep_alive = True
        self.upgrade = False
        self.content_length: int | None = None
        self.chunked = False
        self.expects_continue = False
        self.body: BodyStream | None = None
        """None when the request has no body."""
        self.client_ip = b""
        self.scheme = b"http"
        self.peer_certificate_sha256 = ""
        """Hex SHA-256 of the DER of the client's TLS certificate; "" without TLS or without one."""


class ResponseWriter(Protocol):
    """How a handler answers. Exactly one head, then body bytes, then `end`."""

    @property
    def started(self) -> bool: ...

    def send_continue(self) -> None:
        """Tell a client waiting on `Expect: 100-continue` to send its body (at most once)."""

    def send_head(self, status: int, reason: bytes, headers: list[Header], content_length: int | None) -> None:
        """`content_length` None: the body length is unknown (chunked, or close-delimited for HTTP/1.0)."""

    def write(self, data: bytes) -> None: ...

    @property
    def must_drain(self) -> bool:
        """True while the client is slower than the body: call `drain` before writing more."""

    async def drain(self) -> None:
        """Wait while the client is slower than the body: the transport's buffer is over its limit."""

    def end(self) -> None: ...

    def abandon(self) -> None:
        """The response cannot be completed; the connection closes so the client sees a cut message."""

    def on_writable(self, callback: Callable[[bool], None]) -> None:
        """`callback(False)` when the client stops reading fast enough, `callback(True)` when it catches up:
        how a relay driven by callbacks pauses its source instead of awaiting `drain`."""

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """`callback()` once if the client goes away before the response ended."""

    def send_simple(self, status: int, body: bytes) -> None:
        """A complete small JSON response made by the gateway itself."""

    def switch_protocols(self, status: int, reason: bytes, headers: list[Header]) -> RawChannel:
        """Send a 101 head and hand the connection over as a byte pipe (WebSocket upgrade)."""


class RawChannel(Protocol):
    """Both directions of a connection after a protocol switch."""

    incoming: BodyStream

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


RequestHandler = Callable[[InboundRequest, ResponseWriter], None]
"""Starts answering a request and returns at once; the answer ends with `writer.end()` or `abandon()`."""

AsyncRequestHandler = Callable[[InboundRequest, ResponseWriter], Awaitable[None]]

log = logging.getLogger("bascule.handlers")


def run_as_task(handler: AsyncRequestHandler) -> RequestHandler:
    """A `RequestHandler` that runs a coroutine handler in its own task (cancelled if the client goes)."""

    def start(request: InboundRequest, writer: ResponseWriter) -> None:
        task = asyncio.get_running_loop().create_task(_run(handler, request, writer))

        def cancel() -> None:
            task.cancel()

        writer.on_cancel(cancel)

    return start


async def _run(handler: AsyncRequestHandler, request: InboundRequest, writer: ResponseWriter) -> None:
    try:
        await handler(request, writer)
    except asyncio.CancelledError:
        return  # the client went away: nobody to answer
    except Exception:
        log.exception("handler failed for %s %s", request.method, request.path)
        if not writer.started:
            writer.send_simple(*error_response(500, "Internal Server Error"))
            return
    writer.abandon()  # no-op when the handler ended its response


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def error_response(status: int, message: str) -> tuple[int, bytes]:
    """A gateway-made error: `{"error": "<message>"}` (DECISIONS §18)."""
    return status, json.dumps({"error": message}).encode()
