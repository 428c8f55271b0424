"""A real redis-server for the storage tests, on 127.0.0.1 in its own temporary directory.

- `RedisPeer()`: plain TCP. `RedisPeer(tls=RedisTls(...))`: TLS only (`port 0`, `tls-port P`) with
  `tls-auth-clients yes`, so a client without a certificate from `ca` is refused (reliability §2.4 D2).
  `requirepass` and `users` (ACL lines such as `alice on >pw ~* +@all`) add authentication.
- Nothing is persisted (`save ""`, no AOF). redis-server has no port 0 for us to read back, so a free
  port is picked (`process_peers.free_port`); `start` after `kill` reuses the same port, as a restarted
  Redis would.
- The server gets SIGKILL when the test process dies (`process_peers.dying_with_us`), and a start that fails
  removes its directory, so an interrupted run leaves nothing behind.
- Ready means the log says `Ready to accept connections` once more than before this start, and the port
  accepts (`process_peers.wait_ready`).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from process_peers import DaemonNotReady, ReadyLine, dying_with_us, end, free_port, wait_ready

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
READY = "Ready to accept connections"


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
        return dying_with_us([REDIS_SERVER, str(d / "redis.conf")])

    def start(self) -> RedisPeer:
        """Start (again on the same port after `kill`) and wait until it accepts connections."""
        for attempt in range(3):
            first = self.port == 0
            self.port = self.port or free_port()
            ready = ReadyLine.counted_now(self.log_path, READY)
            self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_ready(self.process, ready, self.port, self.log_path)
                return self
            except DaemonNotReady:
                self.kill()
                if not first or attempt == 2:
                    self.stop()
                    raise
                self.port = 0  # the free port was taken meanwhile: try another
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        end(self.process, signal.SIGKILL)
        self.process = None

    def stop(self) -> None:
        end(self.process, signal.SIGTERM)
        self.process = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
