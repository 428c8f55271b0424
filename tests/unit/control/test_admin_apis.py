from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bascule.compat.tyk.load_apis import load_api_definitions
from bascule.config.gateway import GatewaySettings
from bascule.control.admin_apis import ApiDefinitions, parse_document
from bascule.control.admin_replies import (
    API_ALREADY_EXISTS,
    API_NOT_FOUND,
    CLASSIC_EXPECTED,
    ID_MISMATCH,
    INVALID_API_ID,
    OAS_BODY_ON_CLASSIC,
    OAS_EXTENSION_MISSING,
    OAS_GET_FOR_CLASSIC,
    REQUEST_MALFORMED,
    WRITE_FAILED,
    AdminCall,
    Reply,
)
from bascule.runtime.build import build_snapshot
from bascule.runtime.snapshot import SnapshotHolder


def classic(api_id: str | None, listen_path: str = "/x/", target: str = "http://up:8080") -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": f"API {api_id}",
        "active": True,
        "use_keyless": True,
        "proxy": {"listen_path": listen_path, "target_url": target},
    }
    if api_id is not None:
        document["api_id"] = api_id
    return document


def oas(api_id: str, name: str = "OAS API", listen_path: str = "/o/") -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": name, "version": "1"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": api_id, "name": name, "state": {"active": True}},
            "server": {"listenPath": {"value": listen_path}},
            "upstream": {"url": "http://up:8080"},
        },
    }


def write(app_path: Path, name: str, document: dict[str, Any]) -> Path:
    path = app_path / name
    path.write_text(json.dumps(document))
    return path


def reload(holder: SnapshotHolder) -> None:
    gateway = holder.current.gateway
    loaded = load_api_definitions(gateway.app_path, gateway)
    holder.swap(build_snapshot(gateway, loaded.apis, loaded.problems))


@pytest.fixture
def holder(tmp_path: Path) -> SnapshotHolder:
    app_path = tmp_path / "apps"
    app_path.mkdir()
    write(app_path, "users-file.json", classic("users", "/users/"))
    write(app_path, "pets-oas.json", oas("pets", listen_path="/pets/"))
    holder = SnapshotHolder(build_snapshot(GatewaySettings(app_path=app_path), []))
    reload(holder)
    return holder


def body(document: object) -> AdminCall:
    return AdminCall(body=json.dumps(document).encode())


def with_id(api_id: str, document: object) -> AdminCall:
    return AdminCall(params={"id": api_id}, body=json.dumps(document).encode())


def error(reply: Reply, status: int) -> str:
    assert reply.status == status, reply
    assert isinstance(reply.body, dict)
    assert reply.body["status"] == "error"
    return str(reply.body["message"])


def files(app_path: Path) -> list[str]:
    return sorted(path.name for path in app_path.iterdir())


async def test_lists_are_the_loaded_definitions_as_loaded(holder: SnapshotHolder) -> None:
    apis = ApiDefinitions(holder)
    every = await apis.index("classic", AdminCall())
    assert every.status == 200
    assert every.body == [oas("pets", listen_path="/pets/"), classic("users", "/users/")]
    only_oas = await apis.index("oas", AdminCall())
    assert only_oas.body == [oas("pets", listen_path="/pets/")]


async def test_show_by_id(holder: SnapshotHolder) -> None:
    apis = ApiDefinitions(holder)
    assert (await apis.show("classic", AdminCall({"id": "users"}))).body == classic("users", "/users/")
    assert (await apis.show("classic", AdminCall({"id": "pets"}))).body == oas("pets", listen_path="/pets/")
    assert (await apis.show("oas", AdminCall({"id": "pets"}))).body == oas("pets", listen_path="/pets/")
    assert error(await apis.show("oas", AdminCall({"id": "users"})), 400) == OAS_GET_FOR_CLASSIC
    assert error(await apis.show("classic", AdminCall({"id": "nope"})), 404) == API_NOT_FOUND


async def test_create_writes_the_file_and_applies_only_after_a_reload(holder: SnapshotHolder) -> None:
    app_path = holder.current.gateway.app_path
    apis = ApiDefinitions(holder)
    reply = await apis.create("classic", body(classic("orders", "/orders/")))
    assert reply == Reply(200, {"key": "orders", "status": "ok", "action": "added"})
    assert json.loads((app_path / "orders.json").read_text()) == classic("orders", "/orders/")
    assert error(await apis.show("classic", AdminCall({"id": "orders"})), 404) == API_NOT_FOUND
    reload(holder)
    assert (await apis.show("classic", AdminCall({"id": "orders"}))).status == 200


async def test_create_without_api_id_generates_one(holder: SnapshotHolder) -> None:
    reply = await ApiDefinitions(holder).create("classic", body(classic(None)))
    assert isinstance(reply.body, dict)
    api_id = reply.body["key"]
    assert len(api_id) == 32
    assert int(api_id, 16) >= 0
    written = json.loads((holder.current.gateway.app_path / f"{api_id}.json").read_text())
    assert written["api_id"] == api_id


async def test_create_oas_uses_tyk_file_name_and_derives_a_missing_id(holder: SnapshotHolder) -> None:
    app_path = holder.current.gateway.app_path
    apis = ApiDefinitions(holder)
    assert (await apis.create("oas", body(oas("shop", listen_path="/shop/")))).status == 200
    assert (app_path / "shop-oas.json").is_file()
    reply = await apis.create("oas", body(oas("", name="Users API v2", listen_path="/u2/")))
    assert reply == Reply(200, {"key": "users-api-v2", "status": "ok", "action": "added"})
    assert (app_path / "users-api-v2-oas.json").is_file()


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"', b"", b"\xff\xfe{", b'{"a": NaN}', b"[" * 100_000])
async def test_a_body_that_is_not_a_json_object_is_malformed(holder: SnapshotHolder, raw: bytes) -> None:
    apis = ApiDefinitions(holder)
    assert error(await apis.create("classic", AdminCall(body=raw)), 400) == REQUEST_MALFORMED
    assert error(await apis.update("oas", AdminCall({"id": "pets"}, body=raw)), 400) == REQUEST_MALFORMED
    assert parse_document(raw) is None


async def test_each_endpoint_family_takes_its_own_format(holder: SnapshotHolder) -> None:
    apis = ApiDefinitions(holder)
    assert error(await apis.create("classic", body(oas("a"))), 400) == OAS_BODY_ON_CLASSIC
    assert error(await apis.create("oas", body(classic("a"))), 400) == OAS_EXTENSION_MISSING
    assert error(await apis.update("oas", with_id("users", oas("users"))), 400) == OAS_BODY_ON_CLASSIC
    assert error(await apis.update("classic", with_id("pets", classic("pets"))), 400) == CLASSIC_EXPECTED


async def test_an_invalid_definition_lists_every_problem(holder: SnapshotHolder) -> None:
    document = classic("bad", target="ftp://nowhere")
    document["proxy"]["listen_path"] = "env://LISTEN"
    message = error(await ApiDefinitions(holder).create("classic", body(document)), 400)
    assert message.startswith("Validation of API Definition failed. Reason: ")
    assert "$.proxy.target_url" in message
    assert "$.proxy.listen_path" in message
    assert not (holder.current.gateway.app_path / "bad.json").exists()


async def test_create_refuses_an_existing_id(holder: SnapshotHolder) -> None:
    apis = ApiDefinitions(holder)
    assert error(await apis.create("classic", body(classic("users"))), 400) == API_ALREADY_EXISTS
    assert error(await apis.create("classic", body(classic("pets"))), 400) == API_ALREADY_EXISTS
    assert (await apis.create("classic", body(classic("fresh")))).status == 200
    # written, not reloaded yet: its file is there
    assert error(await apis.create("oas", body(oas("fresh"))), 400) == API_ALREADY_EXISTS


async def test_concurrent_creates_of_one_id_add_it_once(holder: SnapshotHolder) -> None:
    apis = ApiDefinitions(holder)
    replies = await asyncio.gather(*(apis.create("classic", body(classic("twin"))) for _ in range(5)))
    assert sorted(reply.status for reply in replies) == [200, 400, 400, 400, 400]


@pytest.mark.parametrize("api_id", ["../escape", "a/b", ".."])
async def test_an_unsafe_id_is_refused(holder: SnapshotHolder, api_id: str) -> None:
    app_path = holder.current.gateway.app_path
    before = files(app_path)
    assert error(await ApiDefinitions(holder).create("classic", body(classic(api_id))), 400) == INVALID_API_ID
    assert files(app_path) == before
    assert files(app_path.parent) == [app_path.name]


async def test_update_replaces_the_file_the_api_was_loaded_from(holder: SnapshotHolder) -> None:
    app_path = holder.current.gateway.app_path
    reply = await ApiDefinitions(holder).update("classic", with_id("users", classic("users", "/people/")))
    assert reply == Reply(200, {"key": "users", "status": "ok", "action": "modified"})
    assert files(app_path) == ["pets-oas.json", "users-file.json"]
    assert json.loads((app_path / "users-file.json").read_text())["proxy"]["listen_path"] == "/people/"


async def test_update_sets_a_missing_id_and_refuses_another(holder: SnapshotHolder) -> None:
    app_path = holder.current.gateway.app_path
    apis = ApiDefinitions(holder)
    assert (await apis.update("classic", with_id("users", classic(None)))).status == 200
    assert json.loads((app_path / "users-file.json").read_text())["api_id"] == "users"
    assert error(await apis.update("classic", with_id("users", classic("other"))), 400) == ID_MISMATCH
    assert (await apis.update("oas", with_id("pets", oas("")))).status == 200
    written = json.loads((app_path / "pets-oas.json").read_text())
    assert written["x-tyk-api-gateway"]["info"]["id"] == "pets"
    assert error(await apis.update("oas", with_id("pets", oas("cats"))), 400) == ID_MISMATCH


async def test_update_of_an_unknown_api_is_404(holder: SnapshotHolder) -> None:
    apis = ApiDefinitions(holder)
    assert error(await apis.update("classic", with_id("ghost", classic("ghost"))), 404) == API_NOT_FOUND
    assert not (holder.current.gateway.app_path / "ghost.json").exists()


async def test_update_finds_an_api_written_but_not_yet_loaded(holder: SnapshotHolder) -> None:
    apis = ApiDefinitions(holder)
    await apis.create("classic", body(classic("fresh", "/a/")))
    reply = await apis.update("classic", with_id("fresh", classic("fresh", "/b/")))
    assert reply.status == 200
    written = json.loads((holder.current.gateway.app_path / "fresh.json").read_text())
    assert written["proxy"]["listen_path"] == "/b/"


async def test_delete_removes_the_file_whatever_the_format(holder: SnapshotHolder) -> None:
    app_path = holder.current.gateway.app_path
    apis = ApiDefinitions(holder)
    reply = await apis.delete(AdminCall({"id": "users"}))
    assert reply == Reply(200, {"key": "users", "status": "ok", "action": "deleted"})
    assert (await apis.delete(AdminCall({"id": "pets"}))).status == 200
    assert files(app_path) == []
    assert error(await apis.delete(AdminCall({"id": "users"})), 404) == API_NOT_FOUND
    assert error(await apis.delete(AdminCall({"id": "../users-file"})), 404) == API_NOT_FOUND


async def test_a_write_failure_is_500_with_tyk_text(tmp_path: Path) -> None:
    holder = SnapshotHolder(build_snapshot(GatewaySettings(app_path=tmp_path / "missing"), []))
    reply = await ApiDefinitions(holder).create("classic", body(classic("x")))
    assert error(reply, 500) == WRITE_FAILED
