"""Real forward proxies and small HTTP(S) targets for the outbound-proxy tests, all on 127.0.0.1.

- `SquidPeer`: squid 5 (`-N`, foreground) on a free port: plain `http_port`, with basic auth
  (`basic_ncsa_auth` and an `$apr1$` htpasswd file from `openssl passwd -apr1`), or TLS to the proxy
  (`https_port tls-cert= tls-key=`; Debian's squid is built with GnuTLS, which serves it). Its access log
  (squid format: `... CODE SIZE METHOD URL USER HIERARCHY ...`) proves which proxy a call used, and as whom.
  Squid refuses port 0, so a free port is picked (`process_peers.free_port`).
- `TinyproxyPeer`: tinyproxy 1.11. Without any `ConnectPort` line CONNECT is allowed to every port
  (`ConnectPort 0` would *disable* CONNECT, tinyproxy.conf(5)); the Debian default file lists 443 and 563.
- Run as root, both drop privileges (squid to `proxy`, tinyproxy to `tinyproxy`): each gets its own
  directory straight under the system temp directory (pytest's are 0700 and not traversable by that user),
  handed to that user and removed by `stop_all`. Run as anyone else, they keep the caller's user.
- `TargetServer`: an HTTP/1.1 server (TLS when given a context) answering JSON about each request:
  method, request target, Host, and the client certificate's common name. `/redirect` answers 302,
  `/bytes/<n>` n bytes, `/hang` never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import process_peers
from process_peers import ReadyLine, free_port

from bascule.config.outbound import ProxyEndpoint

SQUID = shutil.which("squid") or "/usr/sbin/squid"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
NCSA_AUTH = "/usr/lib/squid/basic_ncsa_auth"


def _give_to(path: Path, user: str) -> None:
    """As root, let `user` (the daemon's unprivileged account) own `path` and what it holds."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)


@dataclass
class ProxyProcess:
    """One proxy daemon in the foreground, its directory, port and log."""

    name: str
    workdir: Path = field(init=False)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    scheme: str = "http"
    _ready: ReadyLine | None = None

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bascule-{self.name}-"))

    def command(self) -> list[str]:
        raise NotImplementedError

    def remove_files(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def write_config(self) -> None:
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def ready_marker(self) -> tuple[Path, str]:
        """The file and the text the daemon writes once it listens (an open port alone could be a stranger's)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start (again, on the same port when it ran before); `wait_ready` waits until it listens."""
        self.port = self.port or free_port()
        self.write_config()
        self._ready = ReadyLine.counted_now(*self.ready_marker())
        output = (self.workdir / "output.txt").open("ab")
        self.process = subprocess.Popen(self.command(), stdout=output, stderr=output, cwd=self.workdir)
        output.close()

    def wait_ready(self, seconds: float = 10.0) -> None:
        assert self.process is not None and self._ready is not None
        process_peers.wait_ready(self.process, self._ready, self.port, self.workdir / "output.txt", seconds)

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crashed proxy would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def endpoint(self, username: str = "", password: str = "") -> ProxyEndpoint:
        return ProxyEndpoint("https" if self.scheme == "https" else "http", "127.0.0.1", self.port, username, password)

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    async def wait_for_log(self, needle: str, seconds: float = 3.0) -> list[str]:
        """Log lines containing `needle`, waiting for the first one (squid logs a tunnel when it closes)."""
        deadline = time.monotonic() + seconds
        while True:
            found = [line for line in self.log_lines() if needle in line]
            if found or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.02)


@dataclass
class SquidPeer(ProxyProcess):
    users: dict[str, str] = field(default_factory=dict)
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tls_cert is not None:
            self.scheme = "https"

    @property
    def log_path(self) -> Path:
        return self.workdir / "access.log"

    def ready_marker(self) -> tuple[Path, str]:
        return (
            self.workdir / "cache.log",
            f"local=127.0.0.1:{self.port} remote=",
        )  # "Accepting HTTP Socket connections at"

    def command(self) -> list[str]:
        return [SQUID, "-N", "-f", str(self.workdir / "squid.conf")]

    def write_config(self) -> None:
        d = self.workdir
        if self.tls_cert is not None and self.tls_key is not None:
            shutil.copy(self.tls_cert, d / "proxy-cert.pem")
            shutil.copy(self.tls_key, d / "proxy-key.pem")
            listen = f"https_port 127.0.0.1:{self.port} tls-cert={d}/proxy-cert.pem tls-key={d}/proxy-key.pem"
        else:
            listen = f"http_port 127.0.0.1:{self.port}"
        lines = [
            listen,
            f"pid_filename {d}/squid.pid",
            f"access_log stdio:{d}/access.log squid",
            f"cache_log {d}/cache.log",
            f"coredump_dir {d}",
            "cache deny all",
            "cache_mem 8 MB",
            "shutdown_lifetime 1 seconds",
            "pinger_enable off",
            "visible_hostname bascule-test-proxy",
        ]
        if self.users:
            passwd = d / "passwd"
            passwd.write_text("".join(f"{user}:{_apr1(password)}\n" for user, password in self.users.items()))
            lines += [
                f"auth_param basic program {NCSA_AUTH} {passwd}",
                "auth_param basic children 2",
                "auth_param basic realm bascule-test",
                "acl authenticated proxy_auth REQUIRED",
                "http_access allow authenticated",
                "http_access deny all",
            ]
        else:
            lines.append("http_access allow all")
        (d / "squid.conf").write_text("\n".join(lines) + "\n")
        _give_to(d, "proxy")


@dataclass
class TinyproxyPeer(ProxyProcess):
    @property
    def log_path(self) -> Path:
        return self.workdir / "tinyproxy.log"

    def ready_marker(self) -> tuple[Path, str]:
        return self.log_path, "Starting main loop"

    def command(self) -> list[str]:
        return [TINYPROXY, "-d", "-c", str(self.workdir / "tinyproxy.conf")]

    def write_config(self) -> None:
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{self.workdir}/tinyproxy.log"',
            "LogLevel Info",  # "Starting main loop" (the ready marker) is an Info line
            "MaxClients 50",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
        ]
        if os.geteuid() == 0:
            lines[:0] = ["User tinyproxy", "Group tinyproxy"]
        (self.workdir / "tinyproxy.conf").write_text("\n".join(lines) + "\n")
        _give_to(self.workdir, "tinyproxy")


def _apr1(password: str) -> str:
    """An Apache MD5 (`$apr1$`) hash, which basic_ncsa_auth accepts (Python has no crypt module to rely on)."""
    done = subprocess.run(["openssl", "passwd", "-apr1", password], capture_output=True, check=True, text=True)
    return done.stdout.strip()


def start_all(*peers: ProxyProcess) -> None:
    """Start every peer, then wait for each. A first start that dies (its free port was taken by someone
    else meanwhile) is tried again on another port, twice at most; a restart keeps its port."""
    first_start = {id(peer): peer.port == 0 for peer in peers}
    for peer in peers:
        peer.start()
    for peer in peers:
        for attempt in range(3):
            try:
                peer.wait_ready()
                break
            except RuntimeError:
                if not first_start[id(peer)] or attempt == 2 or peer.process is None or peer.process.poll() is None:
                    raise
                peer.port = 0
                peer.start()


def stop_all(*peers: ProxyProcess) -> None:
    for peer in peers:
        peer.terminate()
    for peer in peers:
        peer.wait_stopped()
        peer.remove_files()


@dataclass
class SeenRequest:
    method: str
    target: str
    headers: dict[str, str]
    client_cn: str | None


@dataclass
class TargetServer:
    """HTTP/1.1 (or HTTPS with `tls`) on 127.0.0.1, port 0."""

    tls: ssl.SSLContext | None = None
    requests: list[SeenRequest] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> TargetServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while await self._answer_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): end quietly (3.11's stream callback reports a cancelled handler as an error)
        finally:
            self._tasks.discard(task)
            writer.transport.abort()  # a TLS close would wait for the peer's close_notify past the test's loop

    async def _answer_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, _ = request_line.split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(SeenRequest(method, target, headers, _client_cn(writer)))
        path = target.split("://", 1)[-1].split("/", 1)[-1] if "://" in target else target.lstrip("/")
        if path == "hang":
            await asyncio.sleep(3600)
        if path == "redirect":
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n")
        elif path.startswith("bytes/"):
            size = int(path.removeprefix("bytes/"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size)
        else:
            body = json.dumps(
                {"method": method, "target": target, "host": headers.get("host"), "client_cn": _client_cn(writer)}
            ).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
            writer.write(body)
        await writer.drain()
        return True


def _client_cn(writer: asyncio.StreamWriter) -> str | None:
    cert = writer.get_extra_info("peercert")
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
