"""A real redis-server for the storage tests, on 127.0.0.1 in its own temporary directory.

- `RedisPeer()`: plain TCP. `RedisPeer(tls=RedisTls(...))`: TLS only (`port 0`, `tls-port P`) with
  `tls-auth-clients yes`, so a client without a certificate from `ca` is refused (reliability §2.4 D2).
  `requirepass` and `users` (ACL lines such as `alice on >pw ~* +@all`) add authentication.
- Nothing is persisted (`save ""`, no AOF). redis-server has no port 0 for us to read back, so a free
  port is picked by binding and released just before the start (`proxy_peers.free_port`); `start` after
  `kill` reuses the same port, as a restarted Redis would.
- The server gets SIGKILL when the test process dies (`setpriv --pdeathsig`, where util-linux has it), and a
  start that fails removes its directory, so an interrupted run leaves nothing behind.
- Ready means the log says `Ready to accept connections` once more than before this start, and the port
  accepts (an open port alone could be a stranger's).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from proxy_peers import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
READY = "Ready to accept connections"
SETPRIV = shutil.which("setpriv")
"""util-linux: `setpriv --pdeathsig KILL` execs redis-server with the parent-death signal set (no preexec_fn,
which is unsafe once the test process has threads)."""


@dataclass
class RedisTls:
    """Server certificate and the CA that client certificates must chain to."""

    ca: trustme.CA
    server: trustme.LeafCert


@dataclass
class RedisPeer:
    tls: RedisTls | None = None
    requirepass: str = ""
    users: tuple[str, ...] = ()
    port: int = 0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bascule-redis-")))
    process: subprocess.Popen[bytes] | None = None
    _marks_before: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    def command(self) -> list[str]:
        """redis-server with a config file written now (ACL lines have spaces, so not as arguments)."""
        d = self.workdir
        lines = ["bind 127.0.0.1", f"dir {d}", f"logfile {self.log_path}", 'save ""', "appendonly no"]
        lines += ["daemonize no", "protected-mode no"]
        if self.tls is not None:
            self.tls.server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
            self.tls.server.private_key_pem.write_to_path(str(d / "server-key.pem"))
            self.tls.ca.cert_pem.write_to_path(str(d / "ca.pem"))
            lines += ["port 0", f"tls-port {self.port}", f"tls-cert-file {d}/server.pem"]
            lines += [f"tls-key-file {d}/server-key.pem", f"tls-ca-cert-file {d}/ca.pem", "tls-auth-clients yes"]
        else:
            lines.append(f"port {self.port}")
        if self.requirepass:
            lines.append(f"requirepass {self.requirepass}")
        lines += [f"user {user}" for user in self.users]
        (d / "redis.conf").write_text("\n".join(lines) + "\n")
        die_with_us = [SETPRIV, "--pdeathsig", "KILL"] if SETPRIV else []
        return [*die_with_us, REDIS_SERVER, str(d / "redis.conf")]

    def _marks(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(READY)
        except FileNotFoundError:
            return 0

    def start(self) -> RedisPeer:
        """Start (again on the same port after `kill`) and wait until it accepts connections."""
        for attempt in range(3):
            first = self.port == 0
            self.port = self.port or free_port()
            self._marks_before = self._marks()
            self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                self._wait_ready()
                return self
            except RuntimeError:
                self.kill()
                if not first or attempt == 2:
                    self.stop()
                    raise
                self.port = 0  # the free port was taken meanwhile: try another
        return self

    def _wait_ready(self, seconds: float = 10.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + seconds
        while self._marks() <= self._marks_before or not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                raise RuntimeError(f"redis-server did not start on {self.port}:\n{text[-2000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
