"""One request/response exchange with an upstream over a pooled HTTP/1.1 connection.

An `Exchange` is driven by callbacks, like the protocols on both sides of it: the response head, body
chunks and end arrive from the upstream connection's `data_received` and go straight to the client's
transport, with no task or future on the way. Only what must wait gets a task: dialling a new connection,
and relaying a request body (read from the client while the response is awaited, so an upstream that answers
early or streams while reading never deadlocks the relay).

Backpressure: when the client reads slower than the upstream sends, the upstream connection stops reading
until the client catches up (`ResponseWriter.on_writable`). A reused keep-alive connection that the upstream
had already closed is retried once on a fresh connection, when nothing was received on it and the request
had no body to replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bascule.config.apis import ApiSettings
from bascule.core.headers import forwarded_response_headers
from bascule.core.upstream_url import Origin
from bascule.errors import ClientProtocolError, UpstreamProtocolError
from bascule.messages import InboundRequest, RawChannel, ResponseWriter, error_response
from bascule.observability.analytics import AnalyticsRecorder, RequestFacts, now_wall
from bascule.outbound.dial_plan import DialPlan
from bascule.outbound.http1 import ResponseHead, UpstreamConnection
from bascule.outbound.pool import ConnectionPool
from bascule.proxy.errors import status_for

log = logging.getLogger("bascule.proxy")


class Exchange:
    __slots__ = (
        "_api",
        "_cancelled",
        "_channel",
        "_connection",
        "_head",
        "_head_status",
        "_origin",
        "_plan",
        "_pool",
        "_recorder",
        "_request",
        "_retried",
        "_started",
        "_task",
        "_timeout",
        "_upload",
        "_upload_error",
        "_writer",
    )

    def __init__(
        self,
        pool: ConnectionPool,
        origin: Origin,
        head: bytes,
        request: InboundRequest,
        writer: ResponseWriter,
        timeout: float,
        api: ApiSettings,
        recorder: AnalyticsRecorder | None = None,
        plan: DialPlan | None = None,
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._plan = plan
        self._head = head
        self._request = request
        self._writer = writer
        self._timeout = timeout
        self._api = api
        self._recorder = recorder
        self._started = 0.0
        self._connection: UpstreamConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._upload: asyncio.Task[None] | None = None
        self._upload_error: BaseException | None = None
        self._channel: RawChannel | None = None
        self._retried = False
        self._cancelled = False
        self._head_status: int | None = None

    def start(self) -> None:
        if self._recorder is not None:
            self._started = asyncio.get_running_loop().time()
        self._writer.on_cancel(self._cancel)
        connection = self._pool.take_idle(self._origin, self._plan)
        if connection is not None:
            self._send(connection)
        else:
            self._task = asyncio.get_running_loop().create_task(self._connect_and_send())

    # -- sending -----------------------------------------------------------------------------------
    async def _connect_and_send(self) -> None:
        try:
            connection = await self._pool.connect(self._origin, self._timeout, self._plan)
        except Exception as exc:  # named by phase in bascule.outbound.proxy_connect; anything else is a 502 too
            self._fail(exc)
            return
        if self._cancelled:
            connection.close()
            return
        self._send(connection)

    def _send(self, connection: UpstreamConnection) -> None:
        self._connection = connection
        request = self._request
        connection.begin(self._head, request.method == "HEAD", self)
        if request.body is None or request.upgrade:
            connection.arm_response_timeout(self._timeout)
        else:
            self._upload = asyncio.get_running_loop().create_task(self._relay_request_body(connection))

    async def _relay_request_body(self, connection: UpstreamConnection) -> None:
        request = self._request
        body = request.body
        assert body is not None
        try:
            if request.expects_continue:
                self._writer.send_continue()
            chunked = request.chunked
            while chunk := await body.read():
                connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                await connection.drain()
            if chunked:
                connection.write(b"0\r\n\r\n")
            connection.arm_response_timeout(self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The client's fault (too slow, too large, gone): it decides what the client is told.
            self._upload_error = exc
            connection.abort()
            self.response_failed(exc)

    # -- the response (ResponseSink) -----------------------------------------------------------------
    def response_head(self, head: ResponseHead) -> None:
        writer = self._writer
        if head.switched and self._request.upgrade:
            self._switch(head)
            return
        headers = forwarded_response_headers(head.headers, head.connection_tokens)
        self._head_status = head.status
        writer.send_head(head.status, head.reason, headers, head.content_length)
        writer.on_writable(self._client_writable)

    def response_body(self, chunk: bytes) -> None:
        channel = self._channel
        if channel is not None:
            channel.write(chunk)
            return
        writer = self._writer
        writer.write(chunk)
        if writer.must_drain and self._connection is not None:
            self._connection.pause_reading()

    def response_end(self) -> None:
        connection = self._connection
        if self._channel is not None:
            self._channel.close()
            return
        upload = self._upload
        if upload is not None and not upload.done():
            upload.cancel()  # answered before the body was consumed: the connection is not reusable
            if connection is not None:
                connection.abort()
        elif connection is not None:
            self._pool.release(connection)
        self._connection = None
        self._writer.end()
        if self._recorder is not None:
            self._record(200 if self._head_status is None else self._head_status)

    def response_failed(self, error: Exception) -> None:
        connection = self._connection
        if connection is not None:
            connection.abort()
        self._connection = None
        if self._upload_error is None and self._should_retry(connection):
            self._retried = True
            self._task = asyncio.get_running_loop().create_task(self._connect_and_send())
            return
        upload = self._upload
        if upload is not None and not upload.done() and upload is not asyncio.current_task():
            upload.cancel()
        if isinstance(self._upload_error, Exception):
            error = self._upload_error
        self._fail(error)

    def _should_retry(self, connection: UpstreamConnection | None) -> bool:
        """A reused connection the upstream had closed while idle: nothing was sent back, nothing lost."""
        return (
            not self._retried
            and connection is not None
            and connection.is_reused
            and not connection.received_any
            and self._request.body is None
            and not self._writer.started
        )

    # -- endings -----------------------------------------------------------------------------------
    def _client_writable(self, writable: bool) -> None:
        connection = self._connection
        if connection is not None:
            if writable:
                connection.resume_reading()
            else:
                connection.pause_reading()

    def _fail(self, error: BaseException) -> None:
        if self._cancelled:
            return
        writer = self._writer
        if isinstance(error, Exception):
            status, message = status_for(error)
        else:
            status, message = 500, "There was a problem proxying the request"
        if not isinstance(error, ClientProtocolError):
            log.warning("[PROXY] api=%s upstream=%s: %s", self._api.api_id, self._origin, error)
        if writer.started:
            writer.abandon()
        else:
            writer.send_simple(*error_response(status, message))
        if self._recorder is not None:
            self._record(status)

    def _record(self, status: int) -> None:
        assert self._recorder is not None
        request = self._request
        elapsed_ms = (asyncio.get_running_loop().time() - self._started) * 1000
        user_agent = next((v for n, v in request.headers if n.lower() == b"user-agent"), b"")
        api = self._api
        self._recorder.record(
            RequestFacts(
                method=request.method,
                host=request.host.decode("latin-1"),
                path=request.path,
                query=request.query,
                status=status,
                api_id=api.api_id,
                api_name=api.name,
                org_id=api.org_id,
                client_ip=request.client_ip.decode(),
                user_agent=user_agent.decode("latin-1"),
                started=now_wall() - elapsed_ms / 1000,
                total_ms=elapsed_ms,
                upstream_ms=elapsed_ms,
            )
        )

    def _cancel(self) -> None:
        """The client went away: stop everything, keep nothing."""
        self._cancelled = True
        for task in (self._task, self._upload):
            if task is not None and not task.done():
                task.cancel()
        if self._connection is not None:
            self._connection.abort()
            self._connection = None
        if self._channel is not None:
            self._channel.close()

    # -- protocol switch (WebSocket) ---------------------------------------------------------------
    def _switch(self, head: ResponseHead) -> None:
        """After a 101: copy bytes both ways until either side closes."""
        headers = forwarded_response_headers(head.headers, head.connection_tokens)
        upgrade = next((v for n, v in head.headers if n.lower() == b"upgrade"), b"websocket")
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade)]
        channel = self._writer.switch_protocols(head.status, head.reason, headers)
        self._channel = channel
        self._writer.on_writable(self._client_writable)
        connection = self._connection
        assert connection is not None
        self._upload = asyncio.get_running_loop().create_task(self._relay_client_bytes(channel, connection))

    async def _relay_client_bytes(self, channel: RawChannel, connection: UpstreamConnection) -> None:
        with contextlib.suppress(ConnectionError, UpstreamProtocolError):
            while chunk := await channel.incoming.read():
                connection.write(chunk)
                await connection.drain()
        connection.close()
        channel.close()
