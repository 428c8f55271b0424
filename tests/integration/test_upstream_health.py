"""Uptime checks and skipping unavailable hosts, on the real gateway against real upstream servers
(issue 4 points 1, 2 and 6; DECISIONS §15)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import SECRET, GatewayFactory, classic_api
from http_client import fetch
from upstream_peer import SeenRequest, UpstreamPeer

from bascule.app import Gateway
from bascule.config.gateway import UptimeSettings

FAST = UptimeSettings(interval=0.2, sample_size=2)


@dataclass
class CheckedPeer(UpstreamPeer):
    """An upstream whose `/health` answers `health_status`, so a test can fail its checks while it serves."""

    health_status: int = 200

    async def _answer(
        self, seen: SeenRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> bool:
        if seen.target.startswith("/health"):
            writer.write(f"HTTP/1.1 {self.health_status} X\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            return keep_alive
        return await super()._answer(seen, reader, writer, keep_alive)

    def proxied(self) -> int:
        return sum(1 for seen in self.requests if not seen.target.startswith("/health"))


@pytest.fixture
async def peers() -> AsyncIterator[tuple[CheckedPeer, CheckedPeer]]:
    a, b = CheckedPeer(name="a"), CheckedPeer(name="b")
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


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


async def hosts(gateway: Gateway) -> dict[str, Any]:
    answer = await fetch(gateway.ports["main"], "GET", "/tyk/health/hosts", headers={"X-Tyk-Authorization": SECRET})
    assert answer.status == 200
    report: dict[str, Any] = answer.json()
    return report


def state_of(report: dict[str, Any], peer: UpstreamPeer) -> str | None:
    wanted = f"127.0.0.1:{peer.port}"
    return next((host["state"] for host in report["hosts"] if host["host"] == wanted), None)


async def until_state(gateway: Gateway, peer: UpstreamPeer, state: str) -> None:
    async def reached() -> bool:
        return state_of(await hosts(gateway), peer) == state

    await eventually(reached)


async def test_a_down_host_gets_no_request_from_64_concurrent_clients(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=FAST)
    port = gateway.ports["main"]
    await until_state(gateway, b, "up")
    b.health_status = 503
    await until_state(gateway, b, "down")
    before = b.proxied()

    async def client() -> list[int]:
        return [(await fetch(port, "GET", "/lb/x")).status for _ in range(5)]

    statuses = [status for batch in await asyncio.gather(*(client() for _ in range(64))) for status in batch]
    assert statuses == [200] * 320
    assert b.proxied() == before == 0
    assert a.proxied() == 320


async def test_all_hosts_down_is_a_503_naming_no_upstream_and_a_host_back_gets_traffic(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=FAST)
    port = gateway.ports["main"]
    a.health_status = b.health_status = 500
    await until_state(gateway, a, "down")
    await until_state(gateway, b, "down")
    answer = await fetch(port, "GET", "/lb/x")
    assert answer.status == 503
    assert answer.json() == {"error": "all hosts are down"}
    assert str(a.port) not in answer.body.decode() and str(b.port) not in answer.body.decode()
    b.health_status = 200
    await until_state(gateway, b, "up")
    assert (await fetch(port, "GET", "/lb/x")).json()["upstream"] == "b"


async def test_a_stopped_upstream_goes_down_and_comes_back_up_on_the_same_port(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=FAST)
    await until_state(gateway, b, "up")
    await b.stop()
    await until_state(gateway, b, "down")
    report = await hosts(gateway)
    entry = next(host for host in report["hosts"] if host["host"] == f"127.0.0.1:{b.port}")
    assert entry["last_check"]["ok"] is False
    assert report["checked_by"] == gateway.node_id
    await b.start()
    await until_state(gateway, b, "up")
    statuses = {(await fetch(gateway.ports["main"], "GET", "/lb/x")).json()["upstream"] for _ in range(4)}
    assert statuses == {"a", "b"}


async def test_without_skipping_a_down_host_still_gets_requests(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b, skip=False)], uptime=FAST)
    b.health_status = 503
    await until_state(gateway, b, "down")
    served = {(await fetch(gateway.ports["main"], "GET", "/lb/x")).json()["upstream"] for _ in range(4)}
    assert served == {"a", "b"}


async def test_uptime_tests_disabled_gateway_wide_check_nothing_and_skip_nothing(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    b.health_status = 503
    gateway = await gateway_factory([balanced_api(a, b)], uptime=UptimeSettings(enabled=False, interval=0.1))
    await asyncio.sleep(0.5)
    assert not any(seen.target.startswith("/health") for seen in a.requests + b.requests)
    served = {(await fetch(gateway.ports["main"], "GET", "/lb/x")).json()["upstream"] for _ in range(4)}
    assert served == {"a", "b"}
    assert (await hosts(gateway))["uptime_tests"] == "disabled"


async def test_a_flapping_host_changes_state_at_most_once_per_sample(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=UptimeSettings(interval=0.1, sample_size=3))
    flips: list[str] = []
    gateway.events.subscribe(lambda event: flips.append(event.name))
    for _ in range(15):  # the health answer alternates faster than three checks in a row can agree
        b.health_status = 503 if b.health_status == 200 else 200
        await asyncio.sleep(0.1)
    assert flips == []
    assert state_of(await hosts(gateway), b) == "up"
    b.health_status = 503
    await until_state(gateway, b, "down")
    assert flips == ["HostDown"]


async def test_tcp_checks_send_and_expect(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, _ = peers
    api = balanced_api(a)
    # An HTTP upstream speaks HTTP: sending a request line and expecting the status line is a TCP check.
    api["uptime_tests"] = {
        "check_list": [
            {
                "url": f"tcp://127.0.0.1:{a.port}",
                "commands": [
                    {"name": "send", "message": "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"},
                    {"name": "expect", "message": "HTTP/1.1 200"},
                ],
            }
        ]
    }
    gateway = await gateway_factory([api], uptime=FAST)
    await until_state(gateway, a, "up")
    a.health_status = 500
    await until_state(gateway, a, "down")
    assert json.loads((await fetch(gateway.ports["main"], "GET", "/lb/x")).body) == {"error": "all hosts are down"}
