from __future__ import annotations

from pathlib import Path

import pytest

from bascule.config.gateway import GatewaySettings
from bascule.control.admin_health import health_report, overall_status
from bascule.errors import ConfigProblem
from bascule.runtime.build import build_snapshot


def test_pass_when_every_definition_loaded() -> None:
    report = health_report(build_snapshot(GatewaySettings(), []), "1.2.3")
    assert report == {
        "status": "pass",
        "version": "1.2.3",
        "description": "bascule",
        "details": {
            "storage": {"status": "pass", "componentType": "datastore", "kind": "memory"},
            "apis": {"status": "pass", "componentType": "system", "loaded": 0, "problems": []},
        },
    }


def test_warn_lists_each_problem_with_the_file_name_only() -> None:
    problems = [
        ConfigProblem(Path("/etc/secret/place/apps/bad.json"), "$.proxy.target_url", "the upstream URL is required"),
        ConfigProblem(None, "$", "something without a file"),
    ]
    report = health_report(build_snapshot(GatewaySettings(), [], problems), "1.2.3")
    assert report["status"] == "warn"
    details = report["details"]
    assert isinstance(details, dict)
    assert details["storage"]["status"] == "pass"
    assert details["apis"]["status"] == "warn"
    assert details["apis"]["problems"] == [
        {"file": "bad.json", "path": "$.proxy.target_url", "reason": "the upstream URL is required"},
        {"file": None, "path": "$", "reason": "something without a file"},
    ]
    assert "/srv/private" not in repr(report)


def test_storage_kind_is_reported() -> None:
    report = health_report(build_snapshot(GatewaySettings(), []), "1", storage_kind="redis")
    details = report["details"]
    assert isinstance(details, dict)
    assert details["storage"]["kind"] == "redis"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "pass"),
        (["pass", "pass"], "pass"),
        (["pass", "warn"], "warn"),
        (["warn", "fail", "pass"], "fail"),
        (["fail"], "fail"),
    ],
)
def test_overall_status_is_the_worst(statuses: list[str], expected: str) -> None:
    assert overall_status(statuses) == expected
