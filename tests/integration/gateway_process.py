"""Running `python -m bascule` as a real process, for signals, exit codes and reloads."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path, apis: list[dict[str, Any]], **conf: Any) -> Path:
    apps = directory / "apps"
    apps.mkdir(exist_ok=True)
    for api in apis:
        (apps / f"{api['api_id']}.json").write_text(json.dumps(api))
    settings = {
        "listen_address": "127.0.0.1",
        "listen_port": free_port(),
        "secret": "process-secret-0123456789abcdef",
        "app_path": str(apps),
        "log_level": "info",
        **conf,
    }
    path = directory / "tyk.conf"
    path.write_text(json.dumps(settings))
    return path


@dataclass
class GatewayProcess:
    process: asyncio.subprocess.Process
    port: int
    secret: str

    @classmethod
    async def start(cls, conf: Path, env: dict[str, str] | None = None, port: int | None = None) -> GatewayProcess:
        """Run the gateway on `conf`; `port` when the environment moves it off the file's `listen_port`."""
        settings = json.loads(conf.read_text())
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bascule",
            "--conf",
            str(conf),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        gateway = cls(process, port or settings["listen_port"], settings["secret"])
        await gateway.wait_listening()
        return gateway

    async def wait_listening(self, timeout: float = 15) -> None:
        async with asyncio.timeout(timeout):
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(f"gateway exited with {self.process.returncode}: {await self.output()}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.close()
                    await writer.wait_closed()
                    return
                except OSError:
                    await asyncio.sleep(0.05)

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 15) -> int:
        async with asyncio.timeout(timeout):
            return await self.process.wait()

    async def output(self) -> str:
        assert self.process.stdout is not None
        return (await self.process.stdout.read()).decode(errors="replace")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
