from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace

import pytest

from bascule.observability.analytics import ANALYTICS_KEY, AnalyticsRecorder, RequestFacts, analytics_record

FACTS = RequestFacts(
    method="GET",
    host="gw.example:8080",
    path="/users/1",
    query="a=1",
    status=200,
    api_id="users",
    api_name="Users",
    org_id="org1",
    client_ip="10.0.0.9",
    user_agent="curl/8",
    started=1_700_000_000.0,
    total_ms=12.4,
    upstream_ms=11.0,
)


def test_record_has_tyk_fields() -> None:
    record = analytics_record(FACTS)
    assert record["method"] == "GET"
    assert record["raw_path"] == "/users/1?a=1"
    assert record["response_code"] == 200
    assert (record["api_id"], record["api_name"], record["org_id"]) == ("users", "Users", "org1")
    assert record["ip_address"] == "10.0.0.9"
    assert record["timestamp"] == "2023-11-14T22:13:20Z"
    assert (record["year"], record["month"], record["day"], record["hour"]) == (2023, 11, 14, 22)
    assert record["request_time"] == 12
    assert record["latency"] == {"total": 12, "upstream": 11}


async def test_batches_reach_storage_in_order() -> None:
    written: list[tuple[str, list[bytes]]] = []

    async def write(key: str, items: Sequence[bytes]) -> None:
        written.append((key, list(items)))

    recorder = AnalyticsRecorder(write, batch_size=2)
    for status in (200, 201, 202):
        recorder.record(replace(FACTS, status=status))
    await recorder.flush()
    assert [key for key, _ in written] == [ANALYTICS_KEY, ANALYTICS_KEY]
    statuses = [json.loads(item)["response_code"] for _, items in written for item in items]
    assert statuses == [200, 201, 202]
    assert recorder.written == 3 and recorder.dropped == 0


async def test_full_buffer_drops_and_counts() -> None:
    async def write(key: str, items: Sequence[bytes]) -> None:
        pass

    recorder = AnalyticsRecorder(write, capacity=2)
    for _ in range(5):
        recorder.record(FACTS)
    assert recorder.dropped == 3


async def test_storage_failure_drops_batch_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    async def write(key: str, items: Sequence[bytes]) -> None:
        raise ConnectionError("redis down")

    recorder = AnalyticsRecorder(write, interval=0.01)
    recorder.start()
    for _ in range(10):
        recorder.record(FACTS)
    await asyncio.sleep(0.05)
    await recorder.stop()
    assert recorder.dropped == 10
    assert sum("records dropped" in r.message for r in caplog.records) == 1
