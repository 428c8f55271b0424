"""One request/response exchange with an upstream over a pooled HTTP/1.1 connection.

The request body is relayed by its own task while the response head is awaited, so an upstream that
answers before it has read the whole body (or streams while reading) never deadlocks the relay. A reused
keep-alive connection that the upstream had already closed is retried once on a fresh connection, when
nothing was received on it and the request had no body to replay.
"""

from __future__ import annotations

import asyncio
import contextlib

from bascule.bodies import BodyStream
from bascule.core.headers import Header, forwarded_response_headers
from bascule.core.upstream_url import Origin
from bascule.errors import UpstreamProtocolError
from bascule.messages import InboundRequest, ResponseWriter
from bascule.outbound.http1 import ResponseHead, UpstreamConnection
from bascule.outbound.pool import ConnectionPool


async def exchange(
    pool: ConnectionPool,
    *,
    origin: Origin,
    head: bytes,
    request: InboundRequest,
    writer: ResponseWriter,
    timeout: float,
) -> None:
    """Send `head` (and the request body) to `origin` and relay the answer to `writer`."""
    held: UpstreamConnection | None = None
    upload: asyncio.Task[None] | None = None
    try:
        for attempt in range(2):
            connection = held = await pool.acquire(origin, timeout, fresh=attempt > 0)
            connection.begin(head, request.method == "HEAD")
            if request.body is None or request.upgrade:
                connection.arm_response_timeout(timeout)
            else:
                upload = asyncio.get_running_loop().create_task(
                    _upload(request.body, request, writer, connection, timeout)
                )
            try:
                response = await connection.response_head()
                break
            except (UpstreamProtocolError, ConnectionError):
                connection.abort()
                if upload is not None and upload.done() and not upload.cancelled() and upload.exception():
                    raise upload.exception() from None  # type: ignore[misc]
                stale = connection.is_reused and not connection.received_any and request.body is None
                if attempt == 0 and stale:
                    continue
                raise
        if response.switched and request.upgrade:
            await _pipe(request, writer, connection, response)
            return
        headers = forwarded_response_headers(response.headers, response.connection_tokens)
        writer.send_head(response.status, response.reason, headers, response.content_length)
        await _relay_body(connection, writer)
        writer.end()
        if upload is not None and not upload.done():
            connection.abort()  # answered before the body was consumed: not reusable
        else:
            pool.release(connection)
        held = None
    finally:
        if upload is not None and not upload.done():
            upload.cancel()
        if held is not None:
            held.abort()


async def _relay_body(connection: UpstreamConnection, writer: ResponseWriter) -> None:
    body = connection.body
    assert body is not None
    while True:
        chunk = body.read_nowait()
        if chunk is None:
            chunk = await body.read()
        if not chunk:
            return
        writer.write(chunk)
        if writer.must_drain:
            await writer.drain()


async def _upload(
    body: BodyStream,
    request: InboundRequest,
    writer: ResponseWriter,
    connection: UpstreamConnection,
    timeout: float,
) -> None:
    try:
        if request.expects_continue:
            writer.send_continue()
        chunked = request.chunked
        while True:
            chunk = await body.read()
            if not chunk:
                break
            connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            await connection.drain()
        if chunked:
            connection.write(b"0\r\n\r\n")
        connection.arm_response_timeout(timeout)
    except Exception:
        connection.abort()
        raise


async def _pipe(
    request: InboundRequest, writer: ResponseWriter, connection: UpstreamConnection, response: ResponseHead
) -> None:
    """After a 101: copy bytes both ways until either side closes."""
    headers: list[Header] = forwarded_response_headers(response.headers, response.connection_tokens)
    upgrade = next((v for n, v in response.headers if n.lower() == b"upgrade"), b"websocket")
    headers += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade)]
    channel = writer.switch_protocols(response.status, response.reason, headers)
    upstream_body = connection.body
    assert upstream_body is not None

    async def client_to_upstream() -> None:
        while chunk := await channel.incoming.read():
            connection.write(chunk)
            await connection.drain()

    async def upstream_to_client() -> None:
        while chunk := await upstream_body.read():
            channel.write(chunk)
            await channel.drain()

    tasks = [asyncio.ensure_future(client_to_upstream()), asyncio.ensure_future(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, UpstreamProtocolError):
                await task
        connection.close()
        channel.close()
