"""A raw HTTP/1.1 client for integration tests: exact bytes out, parsed responses in."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any


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


class RawClient:
    """One client connection. `read_response` parses exactly one response off the stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

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
        """Read exactly one response off the stream (what follows it stays unread)."""
        async with asyncio.timeout(timeout):
            raw_head = await self.reader.readuntil(b"\r\n\r\n")
            lines = raw_head.decode("latin-1").split("\r\n")
            version, status, *_ = lines[0].split(" ", 2)
            headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]
            response = Response(status=int(status), headers=headers, body=b"")  # type: ignore[arg-type]
            connection = (response.header("Connection") or "").lower()
            response.keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
            if head or response.status in (204, 304) or 100 <= response.status < 200:
                return response
            length = response.header("Content-Length")
            if length is not None:
                response.body = await self.reader.readexactly(int(length))
            elif (response.header("Transfer-Encoding") or "").lower() == "chunked":
                response.body = await self._read_chunked()
            else:
                response.body = await self.reader.read()
        return response

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

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
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def fetch(port: int, method: str, target: str, **kwargs: Any) -> Response:
    client = await RawClient.connect(port)
    try:
        return await client.request(method, target, **kwargs)
    finally:
        await client.close()
