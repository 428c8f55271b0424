"""Per-request analytics records (tyk.conf `enable_analytics`), written to storage in the background.

The request path only appends a small tuple to a bounded deque: no encoding, no I/O, no await. A flusher
task turns what accumulated into Tyk-shaped records (`analytics-tyk-system-analytics`, one JSON document
per request; Tyk writes msgpack there, see docs/tyk-compat.md) and hands them to storage in batches. When
the buffer is full or storage fails, records are dropped and counted, with at most one warning per flush
interval: analytics never slow down or fail a request, and never grow memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger("bascule.analytics")

ANALYTICS_KEY = "analytics-tyk-system-analytics"
"""The Redis list Tyk's gateway writes and Tyk Pump reads."""

BatchWriter = Callable[[str, Sequence[bytes]], Awaitable[None]]
"""Appends encoded records to a storage list (the app passes the storage's list append)."""


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the proxy knows when a response ends; turned into a record off the request path."""

    method: str
    host: str
    path: str
    query: str
    status: int
    api_id: str
    api_name: str
    org_id: str
    client_ip: str
    user_agent: str
    started: float
    """Wall-clock seconds (time.time()) when the request arrived."""
    total_ms: float
    upstream_ms: float


def analytics_record(facts: RequestFacts) -> dict[str, object]:
    """A record with the fields of Tyk's `AnalyticsRecord` that bascule knows (pure)."""
    moment = datetime.fromtimestamp(facts.started, tz=UTC)
    raw_path = facts.path + (f"?{facts.query}" if facts.query else "")
    return {
        "method": facts.method,
        "host": facts.host,
        "path": facts.path,
        "raw_path": raw_path,
        "content_length": 0,
        "user_agent": facts.user_agent,
        "day": moment.day,
        "month": moment.month,
        "year": moment.year,
        "hour": moment.hour,
        "response_code": facts.status,
        "api_key": "",
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "api_version": "",
        "api_name": facts.api_name,
        "api_id": facts.api_id,
        "org_id": facts.org_id,
        "oauth_id": "",
        "request_time": round(facts.total_ms),
        "ip_address": facts.client_ip,
        "latency": {"total": round(facts.total_ms), "upstream": round(facts.upstream_ms)},
        "tags": [],
        "track_path": False,
    }


class AnalyticsRecorder:
    """A bounded buffer of `RequestFacts` and the task that writes them out."""

    def __init__(
        self,
        write: BatchWriter,
        capacity: int = 100_000,
        batch_size: int = 1_000,
        interval: float = 1.0,
    ) -> None:
        self._write = write
        self._buffer: deque[RequestFacts] = deque()
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        """Records lost to a full buffer or a failed write (a counter, for /hello and the log)."""
        self.written = 0
        self._dropped_reported = 0

    def record(self, facts: RequestFacts) -> None:
        """O(1), never raises: the request path's whole cost of analytics."""
        if len(self._buffer) >= self._capacity:
            self.dropped += 1
            return
        self._buffer.append(facts)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Write what is buffered (best effort), then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        while self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
            encoded = [json.dumps(analytics_record(facts), separators=(",", ":")).encode() for facts in batch]
            try:
                await self._write(ANALYTICS_KEY, encoded)
            except Exception as exc:
                self.dropped += len(batch)
                self._warn(exc)
                return
            self.written += len(batch)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()
            if self.dropped > self._dropped_reported:
                self._warn(None)

    def _warn(self, error: Exception | None) -> None:
        lost = self.dropped - self._dropped_reported
        self._dropped_reported = self.dropped
        cause = f": {type(error).__name__}: {error}" if error is not None else " (buffer full)"
        log.warning("[ANALYTICS] %d records dropped%s; %d dropped since start", lost, cause, self.dropped)


def now_wall() -> float:
    return time.time()
