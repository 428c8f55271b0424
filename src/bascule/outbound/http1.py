"""The outbound HTTP/1.1 adapter: one upstream connection, one exchange at a time.

An exchange is `begin` (write the request head and name the `ResponseSink`), optional body writes, then
the sink is told, from inside `data_received`, about the response head, each body chunk and the end (or
one failure). No task or future is involved: the response is relayed as it is parsed. The connection is
fit for another exchange only once the response ended cleanly and both sides allow keep-alive.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from bascule.core.headers import NO_TOKENS, Header, listed_in_connection
from bascule.core.upstream_url import Origin
from bascule.deadlines import Deadline
from bascule.errors import UpstreamProtocolError, UpstreamTimeout

if TYPE_CHECKING:
    from bascule.outbound.dial_plan import DialPlan


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: bytes
    headers: list[Header]
    content_length: int | None
    keep_alive: bool
    connection_tokens: frozenset[bytes] = NO_TOKENS
    """Header names listed in `Connection`: never forwarded."""
    switched: bool = False
    """True for a 101 answer to an upgrade: what follows is the other protocol's bytes."""


# `content-length`, `transfer-encoding`, `connection`: only names of these lengths are lower-cased.
_FRAMING_NAME_LENGTHS = frozenset({14, 17, 10})


class ResponseSink(Protocol):
    """Who receives one response. Exactly one of `response_end` / `response_failed` ends it."""

    def response_head(self, head: ResponseHead) -> None: ...

    def response_body(self, chunk: bytes) -> None: ...

    def response_end(self) -> None: ...

    def response_failed(self, error: Exception) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """An asyncio protocol for one keep-alive connection to one upstream origin."""

    def __init__(self, origin: Origin, plan: DialPlan | None = None) -> None:
        self.origin = origin
        self.plan = plan
        """The API's dial plan this connection was opened with (part of its pool key), or None."""
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._sink: ResponseSink | None = None
        self._head: ResponseHead | None = None
        self._headers: list[Header] = []
        self._reason = b""
        self._content_length: int | None = None
        self._chunked = False
        self._listed = NO_TOKENS
        self._close_delimited = False
        self._skipping_interim = False
        self._head_request = False
        self._needs_new_parser = False
        self._switched = False
        self._response_deadline = Deadline(self._loop, self._on_response_timeout)
        self._exchanges = 0
        self._closed = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self.received_any = False
        self.idle_since = self._loop.time()

    # -- state ---------------------------------------------------------------------------------
    @property
    def is_reusable(self) -> bool:
        """Open, between exchanges, with nothing unread."""
        return (
            self._sink is None and not self._closed and self.transport is not None and not self.transport.is_closing()
        )

    @property
    def is_reused(self) -> bool:
        return self._exchanges > 1

    # -- the exchange ----------------------------------------------------------------------------
    def begin(self, head: bytes, head_request: bool, sink: ResponseSink) -> None:
        """Write a request head; `sink` hears about the one response to it."""
        assert self.transport is not None and self._sink is None
        self._exchanges += 1
        self._sink = sink
        self.received_any = False
        self._head = None
        self._head_request = head_request
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the upstream reads the request body slower than it arrives."""
        if self._closed:
            raise ConnectionResetError("upstream closed the connection")
        if not self._write_paused:
            return
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        await waiter

    def arm_response_timeout(self, seconds: float) -> None:
        """From now, the response head must arrive within `seconds` (Go's ResponseHeaderTimeout)."""
        if self._head is None and not self._closed:
            self._response_deadline.set_in(seconds)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once; the sink hears nothing more."""
        self._closed = True
        self._sink = None
        self._response_deadline.close()
        if self.transport is not None:
            self.transport.abort()

    # -- transport events ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        if self._switched:
            if self._sink is not None:
                self._sink.response_body(data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            rest = data[upgrade.args[0] :]
            if rest and self._sink is not None:
                self._sink.response_body(rest)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamProtocolError(f"invalid response from upstream: {exc}"))
            self.abort()
            return
        if self._needs_new_parser:
            # llhttp cannot be told a response answers HEAD; the body it would wait for never comes.
            self._needs_new_parser = False
            self._parser = httptools.HttpResponseParser(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._response_deadline.close()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("upstream closed the connection"))
        if self._sink is None:
            return
        if self._switched or (self._head is not None and self._close_delimited):
            self._finish()
            return
        self._fail(UpstreamProtocolError("upstream closed the connection before the response was complete"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            self._drain_waiter = None
            waiter.set_result(None)

    # -- parser callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._headers = []
        self._content_length = None
        self._chunked = False
        self._listed = NO_TOKENS
        self._close_delimited = False

    def on_status(self, reason: bytes) -> None:
        self._reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if len(name) not in _FRAMING_NAME_LENGTHS:
            return
        # Read here rather than in a helper: this runs for every response header.
        lname = name.lower()
        if lname == b"content-length":
            self._content_length = int(value)
        elif lname == b"transfer-encoding":
            self._chunked = True
        elif lname == b"connection":
            self._listed = self._listed | listed_in_connection(value)

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._skipping_interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            return
        self._response_deadline.clear()
        if status == 101:
            self._switched = True  # from here on, the sink gets the other protocol's bytes
        head = self._read_head(status)
        self._head = head
        sink = self._sink
        if sink is not None:
            sink.response_head(head)
        if self._head_request and status not in (204, 304):
            self._needs_new_parser = True
            self._finish()

    def _read_head(self, status: int) -> ResponseHead:
        chunked = self._chunked
        listed = self._listed
        no_body = self._head_request or status in (204, 304)
        self._close_delimited = not chunked and self._content_length is None and not no_body
        # Positional, in field order: a dataclass __init__ called with keywords costs twice as much.
        return ResponseHead(
            status,
            self._reason,
            self._headers,
            None if chunked else self._content_length,  # content_length
            self._parser.should_keep_alive(),  # keep_alive
            listed,  # connection_tokens
            status == 101,  # switched
        )

    def on_body(self, body: bytes) -> None:
        sink = self._sink
        if sink is not None:
            sink.response_body(body)

    def on_message_complete(self) -> None:
        if self._skipping_interim:
            self._skipping_interim = False
            return
        if not self._switched and self._sink is not None:
            self._finish()

    # -- internals -------------------------------------------------------------------------------
    def _finish(self) -> None:
        sink = self._sink
        self._sink = None
        self.idle_since = self._loop.time()
        if self._head is not None and not self._head.keep_alive:
            self._closed = True
        if sink is not None:
            sink.response_end()

    def _fail(self, error: Exception) -> None:
        sink = self._sink
        self._sink = None
        self._closed = True
        self._response_deadline.close()
        if sink is not None:
            sink.response_failed(error)

    def _on_response_timeout(self) -> None:
        self._fail(UpstreamTimeout("response"))
        self.abort()
