"""The control API on the real gateway, over real sockets (tyk-behaviour §3.13, §5 cases 51-52;
DECISIONS §20)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import trustme
from conftest import SECRET, GatewayFactory, classic_api
from gateway_process import free_port
from http_client import RawClient, Response, fetch
from upstream_peer import UpstreamPeer

KEY = {"X-Tyk-Authorization": SECRET}
INVALID_KEY = {"status": "error", "message": "Attempted administrative access with invalid or missing key!"}


def oas_api(api_id: str, listen_path: str, target: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": api_id, "version": "1.0.0"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": api_id, "name": api_id, "state": {"active": True}},
            "server": {"listenPath": {"value": listen_path, "strip": True}},
            "upstream": {"url": target},
        },
    }


async def admin(port: int, method: str, target: str, document: object = None) -> Response:
    body = None if document is None else json.dumps(document).encode()
    return await fetch(port, method, target, headers=KEY, body=body)


async def test_every_tyk_path_needs_the_key(gateway_factory: GatewayFactory) -> None:
    port = (await gateway_factory([])).ports["main"]
    for headers in ({}, {"X-Tyk-Authorization": "wrong"}, {"X-Tyk-Authorization": SECRET.upper()}):
        for target in ("/tyk/apis", "/tyk/reload?block=true", "/tyk/nothing-here"):
            response = await fetch(port, "GET", target, headers=headers)
            assert response.status == 403, (headers, target)
            assert response.json() == INVALID_KEY
            assert response.header("Content-Type") == "application/json"
    allowed = await fetch(port, "GET", "/tyk/apis/", headers=KEY)
    assert allowed.status == 200
    assert allowed.json() == []


async def test_an_empty_secret_disables_the_control_api(gateway_factory: GatewayFactory) -> None:
    port = (await gateway_factory([], secret="")).ports["main"]
    for headers in ({}, {"X-Tyk-Authorization": ""}, {"X-Tyk-Authorization": "anything"}):
        response = await fetch(port, "GET", "/tyk/apis", headers=headers)
        assert response.status == 403
        assert response.json() == INVALID_KEY
    assert (await fetch(port, "GET", "/hello")).status == 200


async def test_hello_on_the_main_port(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gateway = await gateway_factory([classic_api("ok", "/ok/", upstream.url)])
    (gateway.settings.app_path / "broken.json").write_text('{"api_id": ')
    port = gateway.ports["main"]
    hello = await fetch(port, "GET", "/hello")
    assert hello.status == 200
    report = hello.json()
    assert report["status"] == "pass"
    assert report["description"] == "bascule"
    assert report["details"]["storage"] == {"status": "pass", "componentType": "datastore", "kind": "memory"}
    assert (await fetch(port, "DELETE", "/hello")).status == 405
    assert (await admin(port, "GET", "/tyk/reload?block=true")).status == 200
    warned = (await fetch(port, "GET", "/hello")).json()
    assert warned["status"] == "warn"
    assert [p["file"] for p in warned["details"]["apis"]["problems"]] == ["broken.json"]


async def test_create_reload_proxy_update_delete(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gateway = await gateway_factory([])
    port = gateway.ports["main"]
    # Tyk also mounts every API under `/<api_id>/`: the id differs from the listen paths on purpose.
    definition = classic_api("orders-api", "/orders/", upstream.url)

    created = await admin(port, "POST", "/tyk/apis", definition)
    assert created.status == 200
    assert created.json() == {"key": "orders-api", "status": "ok", "action": "added"}
    assert (gateway.settings.app_path / "orders-api.json").is_file()
    assert (await fetch(port, "GET", "/orders/echo")).status == 404  # applies after a reload, as in Tyk
    assert (await admin(port, "POST", "/tyk/apis", definition)).status == 400

    reloaded = await admin(port, "GET", "/tyk/reload?block=true")
    assert reloaded.json() == {"status": "ok", "message": ""}
    assert (await admin(port, "GET", "/tyk/apis")).json() == [definition]
    assert (await admin(port, "GET", "/tyk/apis/orders-api")).json() == definition
    proxied = await fetch(port, "GET", "/orders/echo")
    assert proxied.status == 200
    assert proxied.json()["target"] == "/echo"

    moved = classic_api("orders-api", "/sales/", upstream.url)
    updated = await admin(port, "PUT", "/tyk/apis/orders-api/", moved)
    assert updated.json() == {"key": "orders-api", "status": "ok", "action": "modified"}
    await admin(port, "GET", "/tyk/reload/group?block=true")
    assert (await fetch(port, "GET", "/sales/echo")).status == 200
    assert (await fetch(port, "GET", "/orders/echo")).status == 404

    deleted = await admin(port, "DELETE", "/tyk/apis/orders-api")
    assert deleted.json() == {"key": "orders-api", "status": "ok", "action": "deleted"}
    assert not (gateway.settings.app_path / "orders-api.json").exists()
    await admin(port, "GET", "/tyk/reload?block=true")
    assert (await fetch(port, "GET", "/sales/echo")).status == 404
    missing = await admin(port, "GET", "/tyk/apis/orders-api")
    assert missing.status == 404
    assert missing.json() == {"status": "error", "message": "API not found"}
    assert (await admin(port, "DELETE", "/tyk/apis/orders-api")).status == 404


async def test_create_an_oas_api(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gateway = await gateway_factory([])
    port = gateway.ports["main"]
    document = oas_api("catalog", "/catalog/", upstream.url)
    created = await admin(port, "POST", "/tyk/apis/oas", document)
    assert created.json() == {"key": "catalog", "status": "ok", "action": "added"}
    assert (gateway.settings.app_path / "catalog-oas.json").is_file()
    await admin(port, "GET", "/tyk/reload?block=true")
    assert (await admin(port, "GET", "/tyk/apis/oas")).json() == [document]
    assert (await admin(port, "GET", "/tyk/apis/oas/catalog")).json() == document
    assert (await fetch(port, "GET", "/catalog/echo")).status == 200
    wrong_family = await admin(port, "POST", "/tyk/apis", oas_api("other", "/other/", upstream.url))
    assert wrong_family.status == 400


async def test_malformed_and_invalid_definitions(gateway_factory: GatewayFactory) -> None:
    port = (await gateway_factory([])).ports["main"]
    malformed = await fetch(port, "POST", "/tyk/apis", headers=KEY, body=b'{"api_id": ')
    assert malformed.status == 400
    assert malformed.json() == {"status": "error", "message": "Request malformed"}
    invalid = await admin(port, "POST", "/tyk/apis", classic_api("bad", "/bad/", "ftp://nowhere"))
    assert invalid.status == 400
    assert "$.proxy.target_url" in invalid.json()["message"]
    assert (await admin(port, "PATCH", "/tyk/apis/bad", {})).status == 405


async def test_reload_without_block_answers_before_the_api_serves(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    port = (await gateway_factory([])).ports["main"]
    await admin(port, "POST", "/tyk/apis", classic_api("later", "/later/", upstream.url))
    assert (await admin(port, "GET", "/tyk/reload")).json() == {"status": "ok", "message": ""}
    async with asyncio.timeout(10):
        while (await fetch(port, "GET", "/later/echo")).status != 200:
            await asyncio.sleep(0.02)


async def test_bodies_over_the_limit_and_100_continue(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    port = (await gateway_factory([])).ports["main"]
    client = await RawClient.connect(port)
    try:
        await client.send(
            f"POST /tyk/apis HTTP/1.1\r\nHost: gw\r\nX-Tyk-Authorization: {SECRET}\r\n"
            f"Content-Length: {11 * 1024 * 1024}\r\n\r\n".encode()
        )
        too_large = await client.read_response()
        assert too_large.status == 413
        assert too_large.json() == {"status": "error", "message": "Request body too large"}
    finally:
        await client.close()

    body = json.dumps(classic_api("cont", "/cont/", upstream.url)).encode()
    client = await RawClient.connect(port)
    try:
        await client.send(
            f"POST /tyk/apis HTTP/1.1\r\nHost: gw\r\nX-Tyk-Authorization: {SECRET}\r\n"
            f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        interim = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 ")
        await client.send(body)
        created = await client.read_response()
        assert created.json() == {"key": "cont", "status": "ok", "action": "added"}
    finally:
        await client.close()


async def test_an_api_path_starting_with_tyk_is_not_the_control_api(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    port = (await gateway_factory([classic_api("foo", "/tyk-foo/", upstream.url)])).ports["main"]
    assert (await fetch(port, "GET", "/tyk-foo/echo")).status == 200


async def test_separate_control_port(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    """§5 case 51: with `control_api_port`, /hello and /tyk/ live there only; the main port serves APIs."""
    gw = await gateway_factory(
        [classic_api("a", "/a/", upstream.url)], control_api_port=free_port(), control_api_hostname="127.0.0.1"
    )
    main, control = gw.ports["main"], gw.ports["control"]
    assert (await fetch(main, "GET", "/hello")).status == 404
    assert (await fetch(main, "GET", "/tyk/apis", headers=KEY)).status == 404
    assert (await fetch(main, "GET", "/a/x")).status == 200
    assert (await fetch(control, "GET", "/hello")).json()["status"] == "pass"
    assert (await admin(control, "GET", "/tyk/apis")).status == 200
    assert (await fetch(control, "GET", "/a/x")).status == 404


async def test_certificate_store_through_the_gateway(gateway_factory: GatewayFactory) -> None:
    port = (await gateway_factory([])).ports["main"]
    leaf = trustme.CA().issue_cert("svc.example")
    pem = leaf.cert_chain_pems[0].bytes() + leaf.private_key_pem.bytes()
    added = await fetch(port, "POST", "/tyk/certs?org_id=org1", headers=KEY, body=pem)
    assert added.status == 200, added.body
    cert_id = added.json()["id"]
    assert cert_id.startswith("org1")
    listed = await fetch(port, "GET", "/tyk/certs?org_id=org1", headers=KEY)
    assert listed.json() == {"certs": [cert_id]}
    shown = await fetch(port, "GET", f"/tyk/certs/{cert_id}", headers=KEY)
    assert shown.json()["has_private"] is True
    assert b"PRIVATE KEY" not in shown.body
    assert (await fetch(port, "DELETE", f"/tyk/certs/{cert_id}", headers=KEY)).json()["message"] == "removed"


async def test_one_service_client_per_service(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory([])
    assert sorted(gw.service_clients) == sorted(gw.settings.external_services)
