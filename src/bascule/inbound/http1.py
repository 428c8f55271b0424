"""The inbound HTTP/1.1 adapter: llhttp (httptools) parses, handlers decide, this only moves bytes.

Invariants:
- Requests on one connection are answered in order, one handler at a time; a pipelined request waits
  parsed in `_pending` and reading pauses until the handler before it has finished.
- A request the parser rejects (malformed, smuggling-shaped: CL+TE, differing duplicate Content-Length,
  obfuscated Transfer-Encoding) is answered 400 after the responses before it, and the connection is
  closed: nothing pipelined after it is parsed or processed.
- Limits answer 414 (request target), 431 (header bytes or count) and 413 (body) before any handler runs.
- Reading pauses while a request body waits unread over the high-water mark (`BodyStream`), so a slow
  upstream slows the client down instead of filling memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from typing import cast

import httptools

from bascule.bodies import BodyStream
from bascule.config.gateway import HttpServerSettings
from bascule.deadlines import Deadline
from bascule.errors import ClientProtocolError
from bascule.inbound.registry import ConnectionRegistry
from bascule.inbound.request_head import read_request_head
from bascule.inbound.response import Http1ResponseWriter
from bascule.messages import InboundRequest, RequestHandler, error_response

log = logging.getLogger("bascule.inbound")

_PAUSE_PIPELINE = 1
_PAUSE_BODY = 2


class Http1ServerProtocol(asyncio.Protocol):
    def __init__(
        self,
        handler: RequestHandler,
        limits: HttpServerSettings,
        registry: ConnectionRegistry,
        scheme: bytes = b"http",
    ) -> None:
        self._handler = handler
        self._limits = limits
        self._max_header_bytes = limits.max_header_bytes
        self._max_header_count = limits.max_header_count
        self._registry = registry
        self._scheme = scheme
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client_ip = b""
        self._peer_certificate_sha256 = ""
        self._building: InboundRequest | None = None
        self._header_bytes = 0
        self._pending: deque[InboundRequest] = deque()
        self._writer: Http1ResponseWriter | None = None
        self._failure: ClientProtocolError | None = None
        self._rejected: ClientProtocolError | None = None
        self._rejected_request: InboundRequest | None = None
        """The request that failed mid-body after a handler took it: its handler answers the error."""
        self._paused = 0
        self._body_received = 0
        self._upgraded: BodyStream | None = None
        self._upgrade_request: InboundRequest | None = None
        self._lost = False
        self._draining = False
        self._read_deadline = Deadline(self._loop, self._on_read_timeout)
        self.write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    # -- transport events -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        peer = self._transport.get_extra_info("peername")
        self._client_ip = (peer[0] if isinstance(peer, tuple) else "").encode()
        if self._scheme == b"https":  # once per connection; the handshake is over by now
            ssl_object = self._transport.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            if der:
                self._peer_certificate_sha256 = hashlib.sha256(der).hexdigest()
        self._registry.connections.add(self)
        if self._registry.closing:
            transport.close()
            return
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._read_deadline.close()
        self._registry.discard(self)
        lost = ConnectionResetError("client closed the connection")
        if self._building is not None and self._building.body is not None:
            self._building.body.feed_error(lost)
        if self._upgraded is not None:
            self._upgraded.feed_eof()
        writer = self._writer
        if writer is not None:
            self._writer = None
            self._pending.clear()
            cancel = writer.cancel_callback
            writer.cancel_callback = writer.writable_callback = None
            if cancel is not None:
                cancel()
        self._wake_drain(lost)

    def data_received(self, data: bytes) -> None:
        if self._upgraded is not None:
            self._upgraded.feed(data)
            return
        if self._rejected is not None:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # Everything after the upgrade request's head belongs to the protocol switched to.
            request = self._upgrade_request
            if request is not None and request.body is not None:
                self._upgraded = request.body
                request.body.feed(data[upgrade.args[0] :])
        except httptools.HttpParserError as exc:
            failure = self._failure or ClientProtocolError(400, "Bad Request")
            log.debug("rejected request from %s: %s (%s)", self._client_ip.decode(), failure.message, exc)
            self._reject(failure)

    def eof_received(self) -> bool | None:
        # A client that closes its side has gone away (as nginx reads it): requests in flight are
        # cancelled and their upstream connections closed, so a slow upstream does no work for nobody.
        return None

    def pause_writing(self) -> None:
        self.write_paused = True
        writer = self._writer
        if writer is not None and writer.writable_callback is not None:
            writer.writable_callback(False)
        if self._limits.write_timeout > 0:
            self._write_timer = self._loop.call_later(self._limits.write_timeout, self._on_write_timeout)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._wake_drain(None)
        writer = self._writer
        if writer is not None and writer.writable_callback is not None:
            writer.writable_callback(True)

    # -- parser callbacks ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        request = InboundRequest()
        request.client_ip = self._client_ip
        request.scheme = self._scheme
        request.peer_certificate_sha256 = self._peer_certificate_sha256
        self._building = request
        self._header_bytes = 0
        self._body_received = 0
        if not self._read_deadline.is_set:
            self._arm_read_timer()

    def on_url(self, url: bytes) -> None:
        request = self._building
        assert request is not None
        request.raw_target += url
        if len(request.raw_target) > self._limits.max_request_line_bytes:
            self._fail(414, "Request URI Too Long")

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._building
        assert request is not None
        self._header_bytes += len(name) + len(value) + 4
        headers = request.headers
        if self._header_bytes > self._max_header_bytes or len(headers) >= self._max_header_count:
            self._fail(431, "Request Header Fields Too Large")
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        request = self._building
        assert request is not None
        parser = self._parser
        request.method = parser.get_method().decode("ascii")
        request.version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        request.upgrade = parser.should_upgrade()
        try:
            read_request_head(request)
        except ClientProtocolError as exc:
            self._failure = exc
            raise
        limit = self._limits.max_request_body_size
        if limit > 0 and request.content_length is not None and request.content_length > limit:
            self._fail(413, "Request is too large")
        if request.content_length or request.chunked or request.upgrade:
            request.body = BodyStream(self._pause_for_body, self._resume_for_body)
        if request.upgrade:
            self._upgrade_request = request
        self._pending.append(request)
        if self._writer is None:
            self._start_next()
        else:
            self._pause(_PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        request = self._building
        assert request is not None and request.body is not None
        self._body_received += len(body)
        limit = self._limits.max_request_body_size
        if limit > 0 and self._body_received > limit:
            self._fail(413, "Request is too large")
        request.body.feed(body)

    def on_message_complete(self) -> None:
        request = self._building
        assert request is not None
        self._building = None
        if request.body is not None and not request.upgrade:
            request.body.feed_eof()

    # -- request head ------------------------------------------------------------------------------
    def _fail(self, status: int, message: str) -> None:
        self._failure = ClientProtocolError(status, message)
        raise self._failure

    # -- running handlers --------------------------------------------------------------------------
    def _start_next(self) -> None:
        request = self._pending.popleft()
        writer = Http1ResponseWriter(self, request)
        if request is self._rejected_request:
            writer.closes_connection = True
        self._writer = writer
        try:
            self._handler(request, writer)
        except Exception:
            log.exception("handler failed for %s %s", request.method, request.path)
            if not writer.started:
                writer.send_simple(*error_response(500, "Internal Server Error"))
            else:
                writer.abandon()

    def response_finished(self, writer: Http1ResponseWriter) -> None:
        """The handler ended (or abandoned) the active response: go on with the connection."""
        if writer is not self._writer:
            return
        self._writer = None
        writer.cancel_callback = writer.writable_callback = None  # no cycle outlives the response
        self._after_response(writer.request, writer)

    def _after_response(self, request: InboundRequest, writer: Http1ResponseWriter) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not writer.finished or writer.closes_connection or request.upgrade or request is self._rejected_request:
            # An upgrade request not switched leaves the parser in pass-through mode: start afresh.
            transport.close()
            return
        body = request.body
        if body is not None and not body.is_complete:
            # The handler answered without reading the whole body: the connection cannot be reused.
            transport.close()
            return
        if self._pending:
            self._start_next()
            return
        if self._rejected is not None:
            self._send_rejection(self._rejected)
            return
        if self._registry.closing or self._draining:
            transport.close()
            return
        self._resume(_PAUSE_PIPELINE)
        self._arm_read_timer()

    def _reject(self, failure: ClientProtocolError) -> None:
        self._rejected = failure
        self._cancel_read_timer()
        self._pause(_PAUSE_PIPELINE)
        building = self._building
        if building is not None and building.body is not None and self._is_queued(building):
            self._rejected_request = building
            building.body.feed_error(failure)
            if self._writer is not None and self._writer.request is building:
                self._writer.closes_connection = True
        elif self._writer is None and not self._pending:
            self._send_rejection(failure)

    def _is_queued(self, request: InboundRequest) -> bool:
        return request in self._pending or (self._writer is not None and self._writer.request is request)

    def _send_rejection(self, failure: ClientProtocolError) -> None:
        status, body = error_response(failure.status, failure.message)
        request = InboundRequest()
        writer = Http1ResponseWriter(self, request)
        writer.send_simple(status, body, close=True)
        if self._transport is not None:
            self._transport.close()

    # -- flow control ------------------------------------------------------------------------------
    def _pause(self, reason: int) -> None:
        if not self._paused and self._transport is not None:
            self._transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        was = self._paused
        self._paused &= ~reason
        if was and not self._paused and self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _pause_for_body(self) -> None:
        self._pause(_PAUSE_BODY)

    def _resume_for_body(self) -> None:
        self._resume(_PAUSE_BODY)

    async def drain(self) -> None:
        if not self.write_paused:
            return
        if self._lost:
            raise ConnectionResetError("client closed the connection")
        waiter = self._loop.create_future()
        self._drain_waiter = waiter
        await waiter

    def _wake_drain(self, error: Exception | None) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            self._drain_waiter = None
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    # -- timers and closing ------------------------------------------------------------------------
    def _arm_read_timer(self) -> None:
        self._read_deadline.set_in(self._limits.read_timeout)

    def _cancel_read_timer(self) -> None:
        self._read_deadline.clear()

    def _on_read_timeout(self) -> None:
        if self._writer is None and not self._pending and self._transport is not None:
            if self._building is not None:
                log.debug("client %s too slow to send its request; closing", self._client_ip.decode())
            self._transport.close()
        elif self._building is not None and self._building.body is not None:
            self._building.body.feed_error(ClientProtocolError(408, "Request Timeout"))
        else:
            # The request arrived in time and is being answered: the clock restarts after the response.
            self._arm_read_timer()

    def _on_write_timeout(self) -> None:
        self._write_timer = None
        log.debug("client %s too slow to read its response; closing", self._client_ip.decode())
        self.abort()

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self._lost:
            self._transport.write(data)

    def close_when_idle(self) -> None:
        self._draining = True
        if self._writer is None and not self._pending and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def take_over(self) -> None:
        """After a protocol switch: the connection is a byte pipe; stop the HTTP timers."""
        self._cancel_read_timer()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
