"""Writing HTTP/1.1 responses to a client, with the framing the client's request allows."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bascule.bodies import BodyStream
from bascule.core.headers import Header, encode_head
from bascule.messages import InboundRequest, RawChannel, reason_phrase

if TYPE_CHECKING:
    from bascule.inbound.http1 import Http1ServerProtocol

_NO_BODY_STATUSES = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_JSON = b"application/json"


class Http1ResponseWriter:
    """The response to one request, framed by Content-Length, chunked encoding or connection close."""

    __slots__ = (
        "_chunked",
        "_connection",
        "_continue_sent",
        "_head_only",
        "_pending_head",
        "_until_close",
        "cancel_callback",
        "closes_connection",
        "finished",
        "request",
        "started",
        "switched",
        "writable_callback",
    )

    def __init__(self, connection: Http1ServerProtocol, request: InboundRequest) -> None:
        self._connection = connection
        self.request = request
        self._head_only = request.method == "HEAD"
        self._chunked = False
        self._until_close = False
        self._continue_sent = False
        self._pending_head = b""
        self.cancel_callback: Callable[[], None] | None = None
        self.writable_callback: Callable[[bool], None] | None = None
        self.started = False
        self.finished = False
        self.switched = False
        self.closes_connection = not request.keep_alive

    def send_continue(self) -> None:
        if not self._continue_sent and not self.started:
            self._continue_sent = True
            self._connection.write(_CONTINUE)

    def send_head(self, status: int, reason: bytes, headers: list[Header], content_length: int | None) -> None:
        assert not self.started, "response head sent twice"
        self.started = True
        request = self.request
        no_body = status in _NO_BODY_STATUSES or 100 <= status < 200
        if content_length is not None:
            headers.append((b"Content-Length", b"%d" % content_length))
        elif no_body or self._head_only:
            pass
        elif request.version == "1.1":
            self._chunked = True
            headers.append((b"Transfer-Encoding", b"chunked"))
        else:
            # An HTTP/1.0 client learns where the body ends when the connection closes.
            self._until_close = True
            self.closes_connection = True
        if self.closes_connection:
            headers.append((b"Connection", b"close"))
        elif request.version == "1.0":
            headers.append((b"Connection", b"keep-alive"))
        # Held back until the first body bytes or the end, so a small response leaves in one write.
        self._pending_head = encode_head(b"HTTP/1.1 %d %s" % (status, reason), headers)
        if no_body:
            self._head_only = True

    def write(self, data: bytes) -> None:
        if not data or self._head_only:
            return
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        if self._pending_head:
            data = self._pending_head + data
            self._pending_head = b""
        self._connection.write(data)

    @property
    def must_drain(self) -> bool:
        return self._connection.write_paused

    async def drain(self) -> None:
        if self._pending_head:
            self._connection.write(self._pending_head)
            self._pending_head = b""
        if self._connection.write_paused:
            await self._connection.drain()

    def end(self) -> None:
        if self.finished:
            return
        self.finished = True
        tail = b"0\r\n\r\n" if self._chunked and not self._head_only else b""
        if self._pending_head or tail:
            self._connection.write(self._pending_head + tail)
            self._pending_head = b""
        self._connection.response_finished(self)

    def on_writable(self, callback: Callable[[bool], None]) -> None:
        self.writable_callback = callback

    def on_cancel(self, callback: Callable[[], None]) -> None:
        self.cancel_callback = callback

    def send_simple(self, status: int, body: bytes, *, close: bool = False, content_type: bytes = _JSON) -> None:
        """A complete small response made by the gateway itself."""
        if close:
            self.closes_connection = True
        self.send_head(status, reason_phrase(status), [(b"Content-Type", content_type)], len(body))
        self.write(body)
        self.end()

    def abandon(self) -> None:
        """The response cannot be completed: the connection must close (the client sees a cut message)."""
        if self.finished or self.switched:
            return
        self.closes_connection = True
        self._connection.response_finished(self)

    def switch_protocols(self, status: int, reason: bytes, headers: list[Header]) -> RawChannel:
        assert not self.started
        self.started = True
        self.switched = True
        self.finished = True
        self.closes_connection = True
        self._connection.take_over()
        self._connection.write(encode_head(b"HTTP/1.1 %d %s" % (status, reason), headers))
        body = self.request.body
        assert body is not None, "only an upgrade request can switch protocols"
        return _SwitchedConnection(self._connection, body)


class _SwitchedConnection:
    def __init__(self, connection: Http1ServerProtocol, incoming: BodyStream) -> None:
        self._connection = connection
        self.incoming = incoming

    def write(self, data: bytes) -> None:
        self._connection.write(data)

    async def drain(self) -> None:
        await self._connection.drain()

    def close(self) -> None:
        self._connection.close()
