"""Many nodes, one checker (issue 4 point 3): two gateway processes sharing one real redis-server elect
one node per poller group to run the uptime checks; the other copies its host states; when the checker
dies, the other takes over within seconds."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from checked_upstream import CheckedPeer, balanced_api, eventually
from gateway_process import GatewayProcess, write_config
from http_client import fetch
from redis_peers import RedisPeer


@pytest.fixture
async def checked() -> AsyncIterator[CheckedPeer]:
    peer = CheckedPeer(name="a")
    await peer.start()
    yield peer
    await peer.stop()


async def hosts(node: GatewayProcess) -> dict[str, Any]:
    answer = await fetch(node.port, "GET", "/tyk/health/hosts", headers={"X-Tyk-Authorization": node.secret})
    assert answer.status == 200, answer.body
    report: dict[str, Any] = answer.json()
    return report


async def test_two_nodes_sharing_redis_run_one_checker_and_the_survivor_takes_over(
    tmp_path: Path, checked: CheckedPeer
) -> None:
    redis = RedisPeer().start()
    nodes: list[GatewayProcess] = []
    try:
        conf = {
            "storage": {"type": "redis", "host": "127.0.0.1", "port": redis.port},
            "uptime_tests": {"config": {"time_wait": 1, "failure_trigger_sample_size": 1}},
        }
        for name in ("one", "two"):
            directory = tmp_path / name
            directory.mkdir()
            nodes.append(await GatewayProcess.start(write_config(directory, [balanced_api(checked)], **conf)))

        async def agreed() -> bool:
            reports = [await hosts(node) for node in nodes]
            return bool(reports[0]["checked_by"]) and reports[0]["checked_by"] == reports[1]["checked_by"]

        await eventually(agreed)
        reports = [await hosts(node) for node in nodes]
        leader_index = next(i for i, report in enumerate(reports) if report["node"] == report["checked_by"])
        follower = nodes[1 - leader_index]

        checks_before = len(checked.requests)
        await asyncio.sleep(3.2)
        checks = len(checked.requests) - checks_before
        assert 2 <= checks <= 4, f"{checks} checks in 3.2 s with time_wait 1 s: one checker, not two"

        checked.health_status = 503  # the follower learns the host is down from the checker's states
        await eventually(lambda: _state(follower, "down"))
        assert (await fetch(follower.port, "GET", "/lb/x")).status == 503

        nodes[leader_index].signal(signal.SIGKILL)
        await nodes[leader_index].wait()
        follower_id = (await hosts(follower))["node"]

        async def took_over() -> bool:
            return (await hosts(follower))["checked_by"] == follower_id

        await eventually(took_over, timeout=8)
        checked.health_status = 200
        await eventually(lambda: _state(follower, "up"))
        assert (await fetch(follower.port, "GET", "/lb/x")).status == 200
    finally:
        for node in nodes:
            await node.stop()
        redis.stop()


async def _state(node: GatewayProcess, state: str) -> bool:
    report = await hosts(node)
    return bool(report["hosts"]) and report["hosts"][0]["state"] == state
