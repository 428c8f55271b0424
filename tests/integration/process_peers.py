"""Starting real daemons for integration tests (squid, tinyproxy, redis-server, etcd), all on 127.0.0.1.

- Ports: most daemons cannot report a port 0 back, so `free_port` binds port 0, reads the port and releases
  it just before the start; a restart reuses the port, as a restarted daemon would.
- Ready means the daemon's own log holds its ready line once more than before this start *and* the port
  accepts (an open port alone could be a stranger's, and a log line alone could precede the listen).
- `dying_with_us` prefixes `setpriv --pdeathsig KILL` (util-linux, where present): the daemon gets SIGKILL
  when the test process dies. It execs the daemon, so the pid we hold is the daemon's (no preexec_fn, which is
  unsafe once the test process has threads).
- Waiting exists twice, blocking for synchronous fixtures and `async` for tests whose event loop also runs
  an in-process gateway that must keep serving meanwhile; both share `_is_ready`.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SETPRIV = shutil.which("setpriv")
POLL_SECONDS = 0.02


class DaemonNotReady(RuntimeError):
    """The daemon exited or did not log its ready line in time; the message ends with its output."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def dying_with_us(command: list[str]) -> list[str]:
    return [SETPRIV, "--pdeathsig", "KILL", *command] if SETPRIV else command


def count_in(path: Path, text: str) -> int:
    try:
        return path.read_text(errors="replace").count(text)
    except FileNotFoundError:
        return 0


@dataclass(frozen=True, slots=True)
class ReadyLine:
    """`text` in the log at `path`: present more than `before` times means this start is ready."""

    path: Path
    text: str
    before: int

    @classmethod
    def counted_now(cls, path: Path, text: str) -> ReadyLine:
        return cls(path, text, count_in(path, text))

    def is_logged(self) -> bool:
        return count_in(self.path, self.text) > self.before


def _is_ready(process: subprocess.Popen[bytes], line: ReadyLine, port: int, deadline: float, output: Path) -> bool:
    if line.is_logged() and accepts(port):
        return True
    if process.poll() is not None or time.monotonic() > deadline:
        text = output.read_text(errors="replace") if output.exists() else ""
        raise DaemonNotReady(f"{process.args!r} did not start on {port}:\n{text[-2000:]}")
    return False


def wait_ready(process: subprocess.Popen[bytes], line: ReadyLine, port: int, output: Path, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not _is_ready(process, line, port, deadline, output):
        time.sleep(POLL_SECONDS)


async def wait_ready_async(
    process: subprocess.Popen[bytes], line: ReadyLine, port: int, output: Path, seconds: float = 10
) -> None:
    deadline = time.monotonic() + seconds
    while not _is_ready(process, line, port, deadline, output):
        await asyncio.sleep(POLL_SECONDS)


def end(process: subprocess.Popen[bytes] | None, signum: int = signal.SIGTERM, seconds: float = 5) -> None:
    """Send `signum`, wait up to `seconds`, then SIGKILL; reaps the process either way."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(seconds)


async def end_async(process: subprocess.Popen[bytes] | None, signum: int = signal.SIGTERM, seconds: float = 5) -> None:
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signum)
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
    if process.poll() is None:
        process.kill()
    process.wait(seconds)  # SIGKILL is prompt; this reaps
