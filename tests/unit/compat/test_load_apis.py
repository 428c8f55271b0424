from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bascule.compat.tyk.load_apis import LoadedApis, load_api_definitions
from bascule.config.gateway import GatewaySettings
from bascule.errors import ConfigProblem

GATEWAY = GatewaySettings()


def classic(api_id: str, listen_path: str = "/", **extra: Any) -> dict[str, Any]:
    return {
        "api_id": api_id,
        "name": api_id,
        "active": True,
        "proxy": {"listen_path": listen_path, "target_url": f"http://{api_id}:8080"},
        **extra,
    }


def oas(api_id: str, listen_path: str = "/") -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": api_id, "version": "1"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": api_id, "name": api_id, "state": {"active": True}},
            "server": {"listenPath": {"value": listen_path}},
            "upstream": {"url": f"http://{api_id}:8080"},
        },
    }


def write(directory: Path, name: str, content: object) -> Path:
    path = directory / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def ids(loaded: LoadedApis) -> list[str]:
    return [api.api_id for api in loaded.apis]


def where(loaded: LoadedApis) -> list[tuple[str, str]]:
    return [(problem.file.name if problem.file else "", problem.json_path) for problem in loaded.problems]


def test_good_broken_and_duplicate_files(tmp_path: Path) -> None:
    write(tmp_path, "a-users.json", classic("users", "/users/"))
    write(tmp_path, "b-orders.json", oas("orders", "/orders/"))
    write(tmp_path, "c-bad-json.json", '{"api_id": "x",')
    write(tmp_path, "d-bad-target.json", classic("bad") | {"proxy": {"target_url": "ftp://x"}})
    write(tmp_path, "e-users-again.json", classic("users", "/other/"))
    write(tmp_path, "f-pets.json", classic("pets", "/pets/"))

    loaded = load_api_definitions(tmp_path, GATEWAY)

    assert ids(loaded) == ["users", "orders", "pets"]
    assert [api.source for api in loaded.apis] == [
        tmp_path / "a-users.json",
        tmp_path / "b-orders.json",
        tmp_path / "f-pets.json",
    ]
    assert where(loaded) == [
        ("c-bad-json.json", "$"),
        ("d-bad-target.json", "$.proxy.target_url"),
        ("e-users-again.json", "$.api_id"),
    ]
    assert (
        loaded.problems[0].message
        == "invalid JSON: Expecting property name enclosed in double quotes at line 1 column 16"
    )
    assert loaded.problems[2].message == f'duplicate api_id "users", also in {tmp_path / "a-users.json"}'


def test_files_load_in_name_order_and_the_first_id_wins(tmp_path: Path) -> None:
    write(tmp_path, "b.json", classic("same", "/from-b/"))
    write(tmp_path, "a.json", classic("same", "/from-a/"))
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert [api.listen_path for api in loaded.apis] == ["/from-a/"]
    assert where(loaded) == [("b.json", "$.api_id")]


def test_duplicate_between_classic_and_oas_points_at_the_oas_id(tmp_path: Path) -> None:
    write(tmp_path, "a.json", classic("same"))
    write(tmp_path, "b.json", oas("same"))
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert ids(loaded) == ["same"]
    assert where(loaded) == [("b.json", "$.x-tyk-api-gateway.info.id")]


def test_a_broken_duplicate_does_not_claim_the_id(tmp_path: Path) -> None:
    write(tmp_path, "a.json", classic("users") | {"active": "yes"})
    write(tmp_path, "b.json", classic("users"))
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert [api.source for api in loaded.apis] == [tmp_path / "b.json"]
    assert where(loaded) == [("a.json", "$.active")]


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "bad.json", {"api_id": "", "proxy": {"target_url": "nope", "listen_path": "/x"}})
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert loaded.apis == ()
    assert where(loaded) == [("bad.json", "$.api_id"), ("bad.json", "$.proxy.target_url")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "an API definition must be a JSON object"),
        ('"users"', "an API definition must be a JSON object"),
        ("", "invalid JSON: Expecting value at line 1 column 1"),
    ],
)
def test_not_an_object(tmp_path: Path, content: str, message: str) -> None:
    write(tmp_path, "x.json", content)
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert loaded.apis == ()
    assert loaded.problems == (ConfigProblem(tmp_path / "x.json", "$", message),)


def test_undecodable_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_bytes(b'{"api_id": "\xff"}')
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert where(loaded) == [("x.json", "$")]
    assert loaded.problems[0].message.startswith("cannot read the file: ")


def test_inactive_apis_are_loaded_inactive(tmp_path: Path) -> None:
    write(tmp_path, "a.json", classic("off") | {"active": False})
    write(tmp_path, "b.json", classic("on"))
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert [(api.api_id, api.active) for api in loaded.apis] == [("off", False), ("on", True)]
    assert loaded.problems == ()


def test_only_json_files_directly_inside_are_read(tmp_path: Path) -> None:
    write(tmp_path, "api.json", classic("top"))
    write(tmp_path, "notes.txt", "not an API")
    write(tmp_path, "api.json.bak", "{broken")
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested", "deep.json", classic("deep"))
    (tmp_path / "dir.json").mkdir()
    loaded = load_api_definitions(tmp_path, GATEWAY)
    assert ids(loaded) == ["top"]
    assert loaded.problems == ()


def test_empty_directory(tmp_path: Path) -> None:
    assert load_api_definitions(tmp_path, GATEWAY) == LoadedApis((), ())


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "apps"
    assert load_api_definitions(missing, GATEWAY) == LoadedApis(
        (), (ConfigProblem(missing, "$", "app_path does not exist"),)
    )


def test_app_path_is_a_file(tmp_path: Path) -> None:
    file = write(tmp_path, "apps", "x")
    assert load_api_definitions(file, GATEWAY) == LoadedApis(
        (), (ConfigProblem(file, "$", "app_path is not a directory"),)
    )


def test_gateway_settings_reach_the_translation(tmp_path: Path) -> None:
    write(tmp_path, "a.json", classic("users") | {"domain": "api.example.com"})
    on = load_api_definitions(tmp_path, GatewaySettings(enable_custom_domains=True))
    off = load_api_definitions(tmp_path, GATEWAY)
    assert (on.apis[0].domain, off.apis[0].domain) == ("api.example.com", "")


def test_definition_is_the_parsed_document(tmp_path: Path) -> None:
    document = classic("users", uptime_tests={"check_list": [{"url": "http://users:8080/health"}]})
    write(tmp_path, "a.json", document)
    assert load_api_definitions(tmp_path, GATEWAY).apis[0].definition == document
