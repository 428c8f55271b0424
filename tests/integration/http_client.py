"""A raw HTTP/1.1 client for integration tests: exact bytes out, parsed responses in."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httptools


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    keep_alive: bool = True

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _ResponseCollector:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    complete: bool = False
    headers_done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


class RawClient:
    """One client connection. `read_response` parses exactly one response off the stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._leftover = b""

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        host: str = "gateway.test",
    ) -> Response:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        return await self.read_response(head=method == "HEAD")

    async def read_response(self, head: bool = False, timeout: float = 10) -> Response:
        collector = _ResponseCollector()
        parser = httptools.HttpResponseParser(collector)
        data = self._leftover
        self._leftover = b""
        async with asyncio.timeout(timeout):
            while True:
                if data:
                    parser.feed_data(data)
                    if collector.complete or (head and collector.headers_done):
                        break
                data = await self.reader.read(65536)
                if not data:
                    if collector.headers_done:
                        break  # close-delimited body
                    raise ConnectionResetError("connection closed before a response")
        return Response(
            status=parser.get_status_code(),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in collector.headers],
            body=b"".join(collector.body),
            keep_alive=parser.should_keep_alive(),
        )

    async def is_closed(self, timeout: float = 2) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(1) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


async def fetch(port: int, method: str, target: str, **kwargs: Any) -> Response:
    client = await RawClient.connect(port)
    try:
        return await client.request(method, target, **kwargs)
    finally:
        await client.close()
