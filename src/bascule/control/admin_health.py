"""The health report behind `GET /<health_check_endpoint_name>` (default `/hello`): pure.

Tyk's shape, `{"status", "version", "description", "details": {component: {...}}}`, always served with
200 (tyk-behaviour §3.13). Components (DECISIONS §20):

* `storage`: its kind (`memory` or `redis`) and status: `pass`, or `fail` when Redis does not answer
  (`bascule.storage.redis.RedisKeyValueStore.health`), then with a fixed `output` text: the cause names
  the server, and the endpoint needs no key (the gateway log has the cause).
* `apis`: `pass` when every definition loaded, `warn` when some did not. It lists each problem with
  the file's name (not its directory: the endpoint needs no key) and the reason.

The overall status is the worst component's (`fail` over `warn` over `pass`), each first capped by
`OVERALL_CAP`: a storage `fail` makes the gateway `warn`, not `fail`. bascule's choice (Tyk answers `fail`
when every check fails): without storage the gateway still serves keyless APIs, and every node sharing a
Redis would fail together, so a load balancer that drops `fail` nodes would turn a Redis outage into a
total one. Each rule has a test in `tests/unit/control/test_admin_health.py` (storage rows:
`tests/integration/test_redis_storage.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from bascule.errors import ConfigProblem
from bascule.runtime.host_board import HostBoard
from bascule.runtime.snapshot import Snapshot

DESCRIPTION = "bascule"
SEVERITY: Mapping[str, int] = {"pass": 0, "warn": 1, "fail": 2}
OVERALL_CAP: Mapping[str, str] = {"storage": "warn"}
"""Component -> the worst overall status it can cause on its own."""
STORAGE_FAILED_OUTPUT = "storage is not answering (the gateway log has the cause)"


def _problem_entry(problem: ConfigProblem) -> dict[str, object]:
    return {
        "file": problem.file.name if problem.file is not None else None,
        "path": problem.json_path,
        "reason": problem.message,
    }


def overall_status(statuses: Iterable[str]) -> str:
    """The worst of the components' statuses; `pass` when there are none."""
    return max(statuses, key=SEVERITY.__getitem__, default="pass")


def _capped(component: str, status: str) -> str:
    cap = OVERALL_CAP.get(component)
    return status if cap is None else min(status, cap, key=SEVERITY.__getitem__)


def _storage_entry(kind: str, status: str) -> dict[str, object]:
    entry: dict[str, object] = {"status": status, "componentType": "datastore", "kind": kind}
    if status != "pass":
        entry["output"] = STORAGE_FAILED_OUTPUT
    return entry


def health_report(
    snapshot: Snapshot, version: str, storage_kind: str = "memory", storage_status: str = "pass"
) -> dict[str, object]:
    """The health document for `snapshot` (see the module rules)."""
    problems = [_problem_entry(problem) for problem in snapshot.problems]
    details: dict[str, dict[str, object]] = {
        "storage": _storage_entry(storage_kind, storage_status),
        "apis": {
            "status": "warn" if problems else "pass",
            "componentType": "system",
            "loaded": len(snapshot.apis),
            "problems": problems,
        },
    }
    status = overall_status(_capped(name, str(component["status"])) for name, component in details.items())
    return {"status": status, "version": version, "description": DESCRIPTION, "details": details}


def hosts_report(board: HostBoard, enabled: bool) -> dict[str, object]:
    """`GET /tyk/health/hosts`: each checked host with its state, last result, latency (ms) and since when
    (RFC 3339, UTC), and the node whose checks these are."""
    hosts = [
        {
            "host": report.host,
            "state": "up" if report.up else "down",
            "since": _rfc3339(report.since),
            "last_check": {
                "ok": report.last_ok,
                "detail": report.last_detail,
                "latency_ms": None if report.last_latency is None else round(report.last_latency * 1000, 1),
                "at": _rfc3339(report.checked_at),
            },
            "check_urls": list(report.check_urls),
        }
        for report in board.reports
    ]
    return {
        "uptime_tests": "enabled" if enabled else "disabled",
        "node": board.node,
        "checked_by": board.checked_by,
        "hosts": hosts,
    }


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
