"""Forwarding through the real gateway to a real upstream socket (tyk-behaviour §3.2-3.3)."""

from __future__ import annotations

import json

import pytest
from conftest import GatewayFactory, classic_api
from http_client import RawClient, fetch
from upstream_peer import UpstreamPeer

from bascule.config.gateway import HttpServerSettings


async def test_strip_listen_path_users_example(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory(
        [
            classic_api("users", "/users/", f"{upstream.url}/user-service"),
            classic_api("users-nostrip", "/users-raw/", f"{upstream.url}/user-service", strip_listen_path=False),
        ]
    )
    port = gw.ports["main"]
    stripped = await fetch(port, "GET", "/users/1234/profile")
    assert stripped.status == 200
    assert stripped.json()["target"] == "/user-service/1234/profile"
    kept = await fetch(port, "GET", "/users-raw/1234/profile")
    assert kept.json()["target"] == "/user-service/users-raw/1234/profile"


async def test_query_merge_host_and_forwarded_headers(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("q", "/q/", f"{upstream.url}/base?fixed=1")])
    response = await fetch(
        gw.ports["main"],
        "GET",
        "/q/x?arg=2",
        headers={"X-Forwarded-For": "abc", "Connection": "X-Drop", "X-Drop": "1"},
    )
    seen = upstream.requests[-1]
    assert seen.target == "/base/x?fixed=1&arg=2"
    assert seen.header("Host") == f"127.0.0.1:{upstream.port}"
    assert seen.header("X-Forwarded-For") == "abc, 127.0.0.1"
    assert seen.header("X-Forwarded-Proto") == "http"
    assert seen.header("X-Forwarded-Host") == "gateway.test"
    assert seen.header("X-Drop") is None
    assert response.status == 200


async def test_preserve_host_header(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("h", "/h/", upstream.url, preserve_host_header=True)])
    await fetch(gw.ports["main"], "GET", "/h/", host="client.example")
    assert upstream.requests[-1].header("Host") == "client.example"


async def test_no_route_is_404_json(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)])
    response = await fetch(gw.ports["main"], "GET", "/nothing")
    assert response.status == 404
    assert response.json() == {"error": "Not Found"}


async def test_keep_alive_reuses_upstream_connection(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("k", "/k/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    for _ in range(20):
        assert (await client.request("GET", "/k/x")).status == 200
    await client.close()
    assert upstream.connections == 1


async def test_pipelined_requests_answered_in_order(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("p", "/p/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    await client.send(
        b"GET /p/slow/200 HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET /p/one HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET /p/two HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    targets = [(await client.read_response()).json()["target"] for _ in range(3)]
    assert targets == ["/slow/200", "/one", "/two"]
    await client.close()


@pytest.mark.parametrize("path", ["/bytes/300000", "/chunked/300000", "/close-delimited/300000"])
async def test_response_framings(gateway_factory: GatewayFactory, upstream: UpstreamPeer, path: str) -> None:
    gw = await gateway_factory([classic_api("f", "/f/", upstream.url)])
    response = await fetch(gw.ports["main"], "GET", "/f" + path)
    assert response.status == 200
    assert response.body == b"x" * 300000


async def test_http10_client_gets_close_delimited_body(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("v", "/v/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    await client.send(b"GET /v/chunked/1000 HTTP/1.0\r\n\r\n")
    response = await client.read_response()
    assert response.body == b"x" * 1000
    assert await client.is_closed()
    await client.close()


async def test_post_body_content_length_and_chunked(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("b", "/b/", upstream.url)])
    body = b"y" * 200_000
    response = await fetch(gw.ports["main"], "POST", "/b/echo", body=body)
    assert response.json()["body_size"] == len(body)
    client = await RawClient.connect(gw.ports["main"])
    await client.send(b"POST /b/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    chunked = await client.read_response()
    assert chunked.json()["body_size"] == 5
    await client.close()


async def test_head_request(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("hd", "/hd/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    head = await client.request("HEAD", "/hd/bytes/1000")
    assert head.status == 200
    assert head.header("Content-Length") == "1000"
    after = await client.request("GET", "/hd/echo")
    assert after.status == 200
    await client.close()


async def test_path_escaping_cases_45_46(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory(
        [
            classic_api("root", "/", upstream.url, strip_listen_path=False),
            classic_api("lm", "/listen_me", f"{upstream.url}/sent_to_me", strip_listen_path=False),
            classic_api("lms", "/listen_strip", f"{upstream.url}/sent_to_me"),
        ]
    )
    port = gw.ports["main"]
    await fetch(port, "GET", "/(abc,xyz)?arg=val")
    assert upstream.requests[-1].target == "/%28abc,xyz%29?arg=val"
    await fetch(port, "GET", "/listen_me/(abc,xyz)?arg=val")
    assert upstream.requests[-1].target == "/sent_to_me/listen_me/%28abc,xyz%29?arg=val"
    await fetch(port, "GET", "/listen_strip/a%3A%2F%2Fb")
    assert upstream.requests[-1].target == "/sent_to_me/a%3A%2F%2Fb"


async def test_skip_target_path_escaping_sends_the_raw_path(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    gw = await gateway_factory(
        [classic_api("root", "/", upstream.url, strip_listen_path=False)],
        http=HttpServerSettings(skip_target_path_escaping=True),
    )
    await fetch(gw.ports["main"], "GET", "/(abc,xyz)?arg=val")
    assert upstream.requests[-1].target == "/(abc,xyz)?arg=val"


async def test_unclean_paths_redirect_unless_skip_url_cleaning(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    gw = await gateway_factory([classic_api("root", "/", upstream.url, strip_listen_path=False)])
    for path, clean in [("/a//b", "/a/b"), ("/public/%2e%2e/admin?x=1", "/admin?x=1"), ("/a/./b/", "/a/b/")]:
        response = await fetch(gw.ports["main"], "GET", path)
        assert response.status == 301
        assert response.header("Location") == clean
    assert upstream.requests == []
    raw = await gateway_factory(
        [classic_api("root", "/", upstream.url, strip_listen_path=False)],
        http=HttpServerSettings(skip_url_cleaning=True),
    )
    await fetch(raw.ports["main"], "GET", "/http://example.com")
    assert upstream.requests[-1].target == "/http://example.com"


async def test_custom_domains_route_by_host(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    with_domain = classic_api("a", "/with_domain", upstream.url)
    with_domain["domain"] = "host1.example"
    apis = [with_domain, classic_api("b", "/without_domain", upstream.url)]
    gw = await gateway_factory(apis, enable_custom_domains=True)
    port = gw.ports["main"]
    assert (await fetch(port, "GET", "/with_domain", host="host1.example:8080")).status == 200
    assert (await fetch(port, "GET", "/with_domain", host="other.example")).status == 404
    assert (await fetch(port, "GET", "/without_domain", host="host1.example")).status == 200
    off = await gateway_factory(apis, enable_custom_domains=False)
    assert (await fetch(off.ports["main"], "GET", "/with_domain", host="other.example")).status == 200


async def test_api_id_prefix_and_strict_routes(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("u1", "/users", upstream.url)])
    port = gw.ports["main"]
    assert (await fetch(port, "GET", "/u1/x")).json()["target"] == "/u1/x"
    assert (await fetch(port, "GET", "/usersXYZ")).status == 200
    strict = await gateway_factory(
        [classic_api("u1", "/users", upstream.url)], http=HttpServerSettings(enable_strict_routes=True)
    )
    assert (await fetch(strict.ports["main"], "GET", "/usersXYZ")).status == 404
    assert (await fetch(strict.ports["main"], "GET", "/users/1")).json()["target"] == "/1"


async def test_protected_api_fails_closed(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    protected = classic_api("p", "/p/", upstream.url)
    protected["use_keyless"] = False
    gw = await gateway_factory([protected])
    missing = await fetch(gw.ports["main"], "GET", "/p/x")
    assert (missing.status, missing.json()) == (401, {"error": "Authorization field missing"})
    wrong = await fetch(gw.ports["main"], "GET", "/p/x", headers={"Authorization": "some-key"})
    assert (wrong.status, wrong.json()) == (403, {"error": "Access to this API has been disallowed"})
    assert upstream.requests == []


async def test_analytics_records_reach_storage(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("an", "/an/", upstream.url)], enable_analytics=True)
    for _ in range(3):
        await fetch(gw.ports["main"], "GET", "/an/x?y=1", headers={"User-Agent": "probe/1"})
    assert gw.analytics is not None
    await gw.analytics.flush()
    records = [json.loads(item) for item in await gw.storage.list_items("analytics-tyk-system-analytics")]
    assert len(records) == 3
    assert {(r["api_id"], r["response_code"], r["raw_path"], r["user_agent"]) for r in records} == {
        ("an", 200, "/an/x?y=1", "probe/1")
    }
