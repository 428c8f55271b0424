"""Peers for uptime checks and event handlers, on 127.0.0.1 (port 0, the same port again after `stop()`).

- `WebhookReceiver`: an HTTP/1.1 server recording every request (method, target, headers in order, body,
  client certificate CN); `await receiver.wait_for(n)` returns the first n. `tls=CA` serves a certificate
  from that trustme CA for `127.0.0.1` and `localhost`; `require_client_cert=CA` also demands a client
  certificate from that CA (a client without one fails the handshake and is never recorded). It answers
  `status` (200 unless set, e.g. 500 to provoke the gateway's failure log) after `delay` seconds.
- `TcpCheckPeer`: a TCP server for `tcp://` and `tls://` checks. It reads what the client sends and, whenever
  the bytes received so far contain a key of `replies`, writes that key's reply (default `ping` -> `pong`,
  the send/expect pair of Tyk's docs); `replies={}` makes it silent. With `expect_proxy_protocol` the
  connection must start with a PROXY protocol v1 line (haproxy proxy-protocol.txt §2.1), parsed here and
  kept on the session; a missing or invalid line ends the connection with `session.error` set. With `tls`
  the TLS handshake follows the PROXY line, as the spec orders it, so TLS is done here over memory BIOs
  (`TlsStream`, also usable as a client) rather than by the listener. Every connection is a `TcpSession` in
  `sessions`; `wait_for(n)` waits until n sessions ended.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import trustme
from listening_peers import HttpAnswer, HttpPeer, HttpRequest, ListeningPeer

T = TypeVar("T")
PROXY_V1_MAX = 107
"""Bytes of the longest v1 line, CRLF included (proxy-protocol.txt §2.1)."""


@dataclass(frozen=True)
class CertificateFiles:
    """A leaf certificate and its key written to PEM files (what tyk.conf and API definitions point at)."""

    cert: Path
    key: Path


def write_leaf(ca: trustme.CA, name: str, directory: Path, *, common_name: bool = True) -> CertificateFiles:
    """Issue a certificate for `name` (with it as CN too, unless told not) and write it and its key as
    `<name>.pem` and `<name>-key.pem` in `directory`."""
    leaf = ca.issue_cert(name, common_name=name) if common_name else ca.issue_cert(name)
    files = CertificateFiles(directory / f"{name}.pem", directory / f"{name}-key.pem")
    leaf.cert_chain_pems[0].write_to_path(str(files.cert))
    leaf.private_key_pem.write_to_path(str(files.key))
    return files


def server_context(ca: trustme.CA, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    """A server context with a certificate from `ca` for 127.0.0.1 and localhost; with `client_ca`, a client
    certificate from it is required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(kw_only=True)
class WebhookReceiver(HttpPeer):
    tls: trustme.CA | None = None
    require_client_cert: trustme.CA | None = None
    status: int = 200
    _context: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.require_client_cert is not None and self.tls is None:
            raise ValueError("require_client_cert needs tls (a server certificate)")
        if self.tls is not None:
            self._context = server_context(self.tls, self.require_client_cert)

    def server_tls(self) -> ssl.SSLContext | None:
        return self._context

    def answer(self, request: HttpRequest) -> HttpAnswer:
        return HttpAnswer(self.status, b'{"received": true}')


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A PROXY protocol v1 line. `UNKNOWN` carries no addresses (empty strings, ports 0)."""

    protocol: Literal["TCP4", "TCP6", "UNKNOWN"]
    source: str = ""
    destination: str = ""
    source_port: int = 0
    destination_port: int = 0


def parse_proxy_v1(line: bytes) -> ProxyHeader:
    """`PROXY TCP4 <src> <dst> <sport> <dport>\\r\\n` (or TCP6, or `PROXY UNKNOWN...`), at most 107 bytes;
    single spaces, canonical addresses of the named family, decimal ports 0-65535 without leading zeroes.
    ValueError says what is wrong."""
    if len(line) > PROXY_V1_MAX or not line.startswith(b"PROXY ") or not line.endswith(b"\r\n"):
        raise ValueError(f"not a PROXY v1 line: {line[:PROXY_V1_MAX]!r}")
    fields = line[6:-2].decode("ascii").split(" ")
    if fields[0] == "UNKNOWN":
        return ProxyHeader("UNKNOWN")
    if fields[0] not in ("TCP4", "TCP6") or len(fields) != 5:
        raise ValueError(f"bad PROXY v1 fields: {fields}")
    family = ipaddress.IPv4Address if fields[0] == "TCP4" else ipaddress.IPv6Address
    source, destination = (str(family(text)) for text in fields[1:3])
    if [source, destination] != fields[1:3]:
        raise ValueError(f"PROXY v1 addresses not canonical: {fields[1:3]}")
    ports = [_port(text) for text in fields[3:5]]
    protocol: Literal["TCP4", "TCP6"] = "TCP4" if fields[0] == "TCP4" else "TCP6"
    return ProxyHeader(protocol, source, destination, ports[0], ports[1])


def _port(text: str) -> int:
    if not text.isdigit() or (text.startswith("0") and text != "0") or int(text) > 65535:
        raise ValueError(f"bad PROXY v1 port: {text!r}")
    return int(text)


def next_reply(received: bytes, replies: dict[bytes, bytes]) -> tuple[bytes | None, bytes]:
    """The reply to the earliest complete message in `received`, and what follows that message."""
    found = [(at, key) for key in replies if (at := received.find(key)) >= 0]
    if not found:
        return None, received
    at, key = min(found, key=lambda item: (item[0], -len(item[1])))
    return replies[key], received[at + len(key) :]


@dataclass
class TcpSession:
    proxy_header: ProxyHeader | None = None
    received: bytes = b""
    sent: bytes = b""
    tls: bool = False
    error: str = ""
    """Why the peer ended the connection ("" when the client did)."""
    ended: bool = False


@dataclass(kw_only=True)
class TcpCheckPeer(ListeningPeer):
    replies: dict[bytes, bytes] = field(default_factory=lambda: {b"ping": b"pong"})
    tls: trustme.CA | None = None
    expect_proxy_protocol: bool = False
    sessions: list[TcpSession] = field(default_factory=list)
    _context: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.tls is not None:
            self._context = server_context(self.tls)

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls is not None else 'tcp'}://127.0.0.1:{self.port}"

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[TcpSession]:
        """The first `count` sessions, once each has ended."""
        await self.wait_until(
            lambda: sum(session.ended for session in self.sessions) >= count, timeout, f"{count} ended sessions"
        )
        ended = [session for session in self.sessions if session.ended]
        return ended[:count]

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = TcpSession(tls=self._context is not None)
        self.sessions.append(session)
        try:
            await self._converse(session, reader, writer)
        except ValueError as error:
            session.error = f"proxy protocol: {error}"
        except (ssl.SSLError, TimeoutError) as error:
            session.error = f"{type(error).__name__}: {error}"
        except asyncio.IncompleteReadError as error:
            session.error = f"closed after {error.partial!r}" if self.expect_proxy_protocol else ""
        finally:
            session.ended = True
            self.changed()

    async def _converse(self, session: TcpSession, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.expect_proxy_protocol:
            async with asyncio.timeout(5):
                start = await reader.readexactly(6)
                if start != b"PROXY ":
                    raise ValueError(f"no PROXY v1 line: starts {start!r}")
                session.proxy_header = parse_proxy_v1(start + await reader.readuntil(b"\r\n"))
        channel: PlainStream = PlainStream(reader, writer)
        if self._context is not None:
            tls = TlsStream(reader, writer, self._context)
            async with asyncio.timeout(5):
                await tls.handshake()
            channel = tls
        pending = b""
        while data := await channel.receive():
            session.received += data
            pending += data
            reply, pending = next_reply(pending, self.replies)
            while reply is not None:
                await channel.send(reply)
                session.sent += reply
                reply, pending = next_reply(pending, self.replies)


class PlainStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def receive(self) -> bytes:
        return await self._reader.read(65536)

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()


class TlsStream(PlainStream):
    """TLS over an open stream, through memory BIOs: bytes the StreamReader already buffered (read together
    with a PROXY line) reach the handshake, which `StreamWriter.start_tls` would lose. Server side unless
    `server_hostname` is given (a client, e.g. one sending a PROXY line before its ClientHello)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        context: ssl.SSLContext,
        server_hostname: str | None = None,
    ) -> None:
        super().__init__(reader, writer)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_hostname is None, server_hostname=server_hostname
        )

    async def handshake(self) -> None:
        await self._run(self._tls.do_handshake)

    async def receive(self) -> bytes:
        try:
            return await self._run(lambda: self._tls.read(65536))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""

    async def send(self, data: bytes) -> None:
        await self._run(lambda: self._tls.write(data))

    async def _run(self, operation: Callable[[], T]) -> T:
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self._reader.read(65536)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            await self._flush()
            return result

    async def _flush(self) -> None:
        if pending := self._outgoing.read():
            self._writer.write(pending)
            await self._writer.drain()
