"""A small HTTP/1.1 upstream for integration tests, on 127.0.0.1 with port 0 (a real socket peer).

It answers by path:
- `/echo...` (default): 200 JSON of what it received: method, target, headers, body size and sha256.
- `/status/<code>`: that status, empty body.
- `/slow/<ms>`: waits, then echoes.
- `/bytes/<n>`: n bytes of body (Content-Length), streamed in 64 KiB writes.
- `/chunked/<n>`: n bytes in chunked encoding.
- `/close-delimited/<n>`: n bytes, no length, then close.
- `/hang`: never answers.
- `/ws`: WebSocket-like upgrade: 101 then echoes raw bytes.
Every request is also recorded in `requests` (method, target, headers) and counted per path.
`stop()` closes the listener and every open connection; `start()` after it listens again on the same port
(a host going down and coming back), and `restart()` does both.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass, field

import httptools


@dataclass
class SeenRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body_size: int = 0
    sha256: str = ""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class UpstreamPeer:
    name: str = "upstream"
    requests: list[SeenRequest] = field(default_factory=list)
    connections: int = 0
    closed_connections: int = 0
    server: asyncio.Server | None = None
    port: int = 0
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> UpstreamPeer:
        """Listen on port 0 the first time, on the same port after `stop`."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def restart(self) -> UpstreamPeer:
        await self.stop()
        return await self.start()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.server is None:  # accepted while stopping: a stopped upstream answers nothing
            writer.transport.abort()
            return
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, httptools.HttpParserError):
            pass
        except asyncio.CancelledError:
            writer.transport.abort()
            self.closed_connections += 1
            self._handlers.discard(task)
            return
        self.closed_connections += 1
        self._handlers.discard(task)
        writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        collector = _Collector()
        parser = httptools.HttpRequestParser(collector)
        digest = hashlib.sha256()
        size = 0
        while not collector.complete:
            data = await reader.read(65536)
            if not data:
                return False
            try:
                parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                collector.complete = True
            for chunk in collector.take_body():
                digest.update(chunk)
                size += len(chunk)
        seen = SeenRequest(
            method=parser.get_method().decode(),
            target=collector.url.decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in collector.headers],
            body_size=size,
            sha256=digest.hexdigest(),
        )
        self.requests.append(seen)
        return await self._answer(seen, reader, writer, parser.should_keep_alive())

    async def _answer(
        self, seen: SeenRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> bool:
        parts = seen.target.split("?")[0].strip("/").split("/")
        kind = parts[0] if parts else ""
        arg = parts[1] if len(parts) > 1 else ""
        if kind == "status":
            writer.write(f"HTTP/1.1 {arg} X\r\nContent-Length: 0\r\n\r\n".encode())
        elif kind == "hang":
            await reader.read()  # never answers; returns when the gateway closes the connection
            return False
        elif kind == "bytes":
            await _send_bytes(writer, int(arg), chunked=False)
        elif kind == "chunked":
            await _send_bytes(writer, int(arg), chunked=True)
        elif kind == "close-delimited":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            await _write_n(writer, int(arg), chunked=False)
            await writer.drain()
            return False
        elif kind == "ws":
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            return False
        else:
            if kind == "slow":
                await asyncio.sleep(int(arg) / 1000)
            body = json.dumps(
                {
                    "upstream": self.name,
                    "method": seen.method,
                    "target": seen.target,
                    "headers": seen.headers,
                    "body_size": seen.body_size,
                    "sha256": seen.sha256,
                }
            ).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
            )
        await writer.drain()
        return keep_alive


async def _send_bytes(writer: asyncio.StreamWriter, n: int, chunked: bool) -> None:
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % n
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n%b\r\n\r\n" % framing)
    await _write_n(writer, n, chunked)
    if chunked:
        writer.write(b"0\r\n\r\n")


async def _write_n(writer: asyncio.StreamWriter, n: int, chunked: bool) -> None:
    block = b"x" * 65536
    left = n
    while left > 0:
        piece = block[: min(left, len(block))]
        writer.write(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
        left -= len(piece)
        await writer.drain()


class _Collector:
    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    def take_body(self) -> list[bytes]:
        body, self.body = self.body, []
        return body
