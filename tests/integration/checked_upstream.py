"""An upstream whose health a test can flip, an API balancing over such upstreams, and `eventually`:
shared by the uptime-check, discovery, webhook and election tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from conftest import classic_api
from upstream_peer import SeenRequest, UpstreamPeer


@dataclass
class CheckedPeer(UpstreamPeer):
    """An upstream whose `/health` answers `health_status`, so a test can fail its checks while it serves."""

    health_status: int = 200
    flapping: bool = False
    """Answer each health check the opposite of the last (200, 503, 200, ...), whatever the timing."""

    async def _answer(
        self, seen: SeenRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> bool:
        if seen.target.startswith("/health"):
            writer.write(f"HTTP/1.1 {self.health_status} X\r\nContent-Length: 0\r\n\r\n".encode())
            if self.flapping:
                self.health_status = 503 if self.health_status == 200 else 200
            await writer.drain()
            return keep_alive
        return await super()._answer(seen, reader, writer, keep_alive)

    def proxied(self) -> int:
        return sum(1 for seen in self.requests if not seen.target.startswith("/health"))


def balanced_api(*peers: UpstreamPeer, skip: bool = True, **extra: Any) -> dict[str, Any]:
    api = classic_api(
        "lb",
        "/lb/",
        peers[0].url,
        enable_load_balancing=True,
        target_list=[peer.url for peer in peers],
        check_host_against_uptime_tests=skip,
    )
    api["uptime_tests"] = {"check_list": [{"url": f"{peer.url}/health"} for peer in peers]}
    return {**api, **extra}


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
