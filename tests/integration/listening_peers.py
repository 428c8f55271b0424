"""Scripted asyncio servers for integration tests, on 127.0.0.1: the lifecycle they share, and HTTP/1.1.

- `ListeningPeer`: listens on port 0 the first time and on the same port after `stop()`, so a test can make a
  host go down and come back. `stop()` closes the listener *and* every open connection (a keep-alive client
  sees the host go away too) and waits for the handlers, at most 5 s. `async with` starts and stops it.
  Subclasses implement `converse(reader, writer)`; what they record, tests await with `wait_until`.
- `HttpPeer(ListeningPeer)`: an HTTP/1.1 keep-alive server (Content-Length or chunked request bodies). It
  records every request in `requests` as it arrives, waits `delay` seconds, then sends what `answer(request)`
  returns (decided after the delay, so a mode switched meanwhile applies).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self


@dataclass(kw_only=True)
class ListeningPeer:
    port: int = 0
    connections: int = 0
    _server: asyncio.Server | None = field(default=None, repr=False)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _change: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def server_tls(self) -> ssl.SSLContext | None:
        """The context `start_server` terminates TLS with; None: plain TCP (or TLS done in `converse`)."""
        return None

    @property
    def is_listening(self) -> bool:
        return self._server is not None

    async def start(self) -> Self:
        """Listen on port 0 the first time, on the same port after `stop`."""
        tls = self.server_tls()
        handshake = 5.0 if tls is not None else None
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=tls, ssl_handshake_timeout=handshake
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=5)

    async def restart(self) -> Self:
        await self.stop()
        return await self.start()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def changed(self) -> None:
        """Wake every `wait_until`: something a test may wait for was recorded."""
        self._change.set()
        self._change = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Return once `predicate()` holds; TimeoutError naming `what` after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._change.wait()
        except TimeoutError:
            raise TimeoutError(f"{type(self).__name__} on {self.port}: no {what} within {timeout} s") from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        self.changed()
        try:
            await self.converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): end quietly (3.11's stream callback reports a cancelled handler as an error)
        finally:
            self._handlers.discard(task)
            writer.transport.abort()  # a TLS close would wait for the peer's close_notify


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    """In arrival order, names as sent; `header` and `header_values` compare names case-insensitively."""
    body: bytes = b""
    client_cn: str | None = None
    """The common name of the TLS client certificate, when one was presented."""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self, closing: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}", f"Content-Type: {self.content_type}"]
        lines += [f"Content-Length: {len(self.body)}", *(f"{name}: {value}" for name, value in self.headers)]
        if closing:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 404: "Not Found", 500: "Internal Server Error"}


@dataclass(kw_only=True)
class HttpPeer(ListeningPeer):
    delay: float = 0.0
    """Seconds to wait before each answer (a slow server)."""
    requests: list[HttpRequest] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{'https' if self.server_tls() is not None else 'http'}://127.0.0.1:{self.port}"

    def answer(self, request: HttpRequest) -> HttpAnswer:
        raise NotImplementedError

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[HttpRequest]:
        """The first `count` requests, once they have arrived."""
        await self.wait_until(lambda: len(self.requests) >= count, timeout, f"{count} requests")
        return self.requests[:count]

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader, _client_cn(writer))) is not None:
            self.requests.append(request)
            self.changed()
            if self.delay:
                await asyncio.sleep(self.delay)
            closing = (request.header("Connection") or "").lower() == "close"
            writer.write(self.answer(request).encode(closing))
            await writer.drain()
            if closing:
                return


async def read_request(reader: asyncio.StreamReader, client_cn: str | None = None) -> HttpRequest | None:
    """One request off the stream; None when the client closed between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise
        return None
    request_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    method, target, _version = request_line.split(" ", 2)
    headers = tuple((name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines))
    request = HttpRequest(method, target, headers, client_cn=client_cn)
    if (request.header("Transfer-Encoding") or "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(request.header("Content-Length") or 0))
    return HttpRequest(method, target, headers, body, client_cn)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailers
    return b"".join(parts)


def _client_cn(writer: asyncio.StreamWriter) -> str | None:
    cert = writer.get_extra_info("peercert")
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
