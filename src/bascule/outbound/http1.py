"""The outbound HTTP/1.1 adapter: one upstream connection, one exchange at a time.

An exchange is `begin` (write the request head), optional body writes, then the response head
(`response_head`) and the response body (`body`). The connection goes back to its pool only when the
response was read to its end and both sides allow keep-alive; anything else closes it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import httptools

from bascule.bodies import BodyStream
from bascule.core.headers import NO_TOKENS, Header, listed_in_connection
from bascule.deadlines import Deadline
from bascule.errors import UpstreamProtocolError, UpstreamTimeout


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
    """True for a 101 answer to an upgrade: the body is then the raw byte stream."""


class UpstreamConnection(asyncio.Protocol):
    """An asyncio protocol for one keep-alive connection to one upstream origin."""

    def __init__(self, origin: object) -> None:
        self.origin = origin
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._head_waiter: asyncio.Future[ResponseHead] | None = None
        self._head: ResponseHead | None = None
        self.body: BodyStream | None = None
        self._headers: list[Header] = []
        self._reason = b""
        self._content_length: int | None = None
        self._close_delimited = False
        self._skipping_interim = False
        self._head_request = False
        self._needs_new_parser = False
        self._switched = False
        self._response_deadline = Deadline(self._loop, self._on_response_timeout)
        self._exchanges = 0
        self._closed = False
        self._complete = True
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self.received_any = False
        self.idle_since = 0.0

    # -- state ---------------------------------------------------------------------------------
    @property
    def is_reusable(self) -> bool:
        """Open, between exchanges, with nothing unread."""
        return not self._closed and self._complete and self.transport is not None and not self.transport.is_closing()

    @property
    def is_reused(self) -> bool:
        return self._exchanges > 1

    @property
    def response_complete(self) -> bool:
        return self._complete

    # -- the exchange ----------------------------------------------------------------------------
    def begin(self, head: bytes, head_request: bool) -> None:
        """Write a request head and expect one response to it."""
        assert self.transport is not None and self._complete
        self._exchanges += 1
        self._complete = False
        self.received_any = False
        self._head = None
        self._head_request = head_request
        self._head_waiter = self._loop.create_future()
        self.body = BodyStream(self._pause_reading, self._resume_reading)
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(data)

    async def drain(self) -> None:
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

    async def response_head(self) -> ResponseHead:
        assert self._head_waiter is not None
        return await self._head_waiter

    def close(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- transport events ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        if self._switched:
            assert self.body is not None
            self.body.feed(data)
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            assert self.body is not None
            self.body.feed(data[upgrade.args[0] :])
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
        if self._complete:
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
        self._close_delimited = False

    def on_status(self, reason: bytes) -> None:
        self._reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._skipping_interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            return
        self._cancel_timer()
        if status == 101:
            self._switched = True  # from here the body stream carries the other protocol's bytes
        chunked = False
        listed = NO_TOKENS
        for name, value in self._headers:
            lname = name.lower()
            if lname == b"content-length":
                self._content_length = int(value)
            elif lname == b"transfer-encoding":
                chunked = True
            elif lname == b"connection":
                listed = listed | listed_in_connection(value)
        no_body = self._head_request or status in (204, 304)
        self._close_delimited = not chunked and self._content_length is None and not no_body
        head = ResponseHead(
            status=status,
            reason=self._reason,
            headers=self._headers,
            content_length=self._content_length if not chunked else None,
            keep_alive=self._parser.should_keep_alive(),
            connection_tokens=listed,
            switched=status == 101,
        )
        self._head = head
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(head)
        if self._head_request and status not in (204, 304):
            self._needs_new_parser = True
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self.body is not None and not self._complete:
            self.body.feed(body)

    def on_message_complete(self) -> None:
        if self._skipping_interim:
            self._skipping_interim = False
            return
        if not self._switched and not self._complete:
            self._finish()

    # -- internals -------------------------------------------------------------------------------
    def _finish(self) -> None:
        self._complete = True
        self.idle_since = self._loop.time()
        if self.body is not None:
            self.body.feed_eof()
        if self._head is not None and not self._head.keep_alive:
            self._closed = True

    def _fail(self, error: Exception) -> None:
        self._complete = True
        self._closed = True
        self._cancel_timer()
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        elif self.body is not None:
            self.body.feed_error(error)

    def _on_response_timeout(self) -> None:
        self._fail(UpstreamTimeout("response"))
        self.abort()

    def _cancel_timer(self) -> None:
        self._response_deadline.clear()

    def _pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
