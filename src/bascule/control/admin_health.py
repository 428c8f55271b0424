"""The health report behind `GET /<health_check_endpoint_name>` (default `/hello`): pure.

Tyk's shape, `{"status", "version", "description", "details": {component: {...}}}`, always served with
200 (tyk-behaviour §3.13). Components (DECISIONS §20):

* `storage`: `pass`, with its kind (`memory`: the only storage bascule has yet).
* `apis`: `pass` when every definition loaded, `warn` when some did not. It lists each problem with
  the file's name (not its directory: the endpoint needs no key) and the reason.

The overall status is the worst component's: `fail` over `warn` over `pass`. Each rule has a test in
`tests/unit/control/test_admin_health.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bascule.errors import ConfigProblem
from bascule.runtime.snapshot import Snapshot

DESCRIPTION = "bascule"
SEVERITY: Mapping[str, int] = {"pass": 0, "warn": 1, "fail": 2}


def _problem_entry(problem: ConfigProblem) -> dict[str, object]:
    return {
        "file": problem.file.name if problem.file is not None else None,
        "path": problem.json_path,
        "reason": problem.message,
    }


def overall_status(statuses: Iterable[str]) -> str:
    """The worst of the components' statuses; `pass` when there are none."""
    return max(statuses, key=SEVERITY.__getitem__, default="pass")


def health_report(snapshot: Snapshot, version: str, storage_kind: str = "memory") -> dict[str, object]:
    """The health document for `snapshot` (see the module rules)."""
    problems = [_problem_entry(problem) for problem in snapshot.problems]
    details: dict[str, dict[str, object]] = {
        "storage": {"status": "pass", "componentType": "datastore", "kind": storage_kind},
        "apis": {
            "status": "warn" if problems else "pass",
            "componentType": "system",
            "loaded": len(snapshot.apis),
            "problems": problems,
        },
    }
    status = overall_status(str(component["status"]) for component in details.values())
    return {"status": status, "version": version, "description": DESCRIPTION, "details": details}
