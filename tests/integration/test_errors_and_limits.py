"""Errors and limits (DECISIONS §18, reliability S3/S4, R2/R4): JSON errors, the right status, no hangs."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from conftest import GatewayFactory, classic_api
from http_client import RawClient, fetch
from upstream_peer import UpstreamPeer

from bascule.config.gateway import HttpServerSettings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connect_refused_is_502_json_within_milliseconds(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory([classic_api("down", "/down/", f"http://127.0.0.1:{closed_port()}")])
    started = time.monotonic()
    response = await fetch(gw.ports["main"], "GET", "/down/x")
    assert time.monotonic() - started < 0.5
    assert response.status == 502
    assert response.header("Content-Type") == "application/json"
    assert response.json() == {"error": "There was a problem proxying the request"}


async def test_unknown_host_is_502_lookup_failed(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory([classic_api("dns", "/dns/", "http://no-such-host.invalid")])
    response = await fetch(gw.ports["main"], "GET", "/dns/")
    assert response.status == 502
    assert response.json() == {"error": "Upstream host lookup failed"}


async def test_upstream_timeout_is_504(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("slow", "/slow/", upstream.url)], proxy_default_timeout=0.5)
    started = time.monotonic()
    response = await fetch(gw.ports["main"], "GET", "/slow/hang")
    elapsed = time.monotonic() - started
    assert response.status == 504
    assert response.json() == {"error": "Upstream service reached hard timeout."}
    assert 0.45 < elapsed < 1.5


async def test_healthy_api_unaffected_by_a_hanging_one(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)], proxy_default_timeout=2)
    port = gw.ports["main"]
    hanging = [asyncio.ensure_future(fetch(port, "GET", "/a/hang")) for _ in range(20)]
    started = time.monotonic()
    assert (await fetch(port, "GET", "/a/echo")).status == 200
    assert time.monotonic() - started < 0.5
    assert all(r.status == 504 for r in await asyncio.gather(*hanging))


async def test_long_request_target_is_414(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)])
    response = await fetch(gw.ports["main"], "GET", "/a/" + "x" * 9000)
    assert response.status == 414
    assert upstream.requests == []


async def test_too_many_header_bytes_is_431(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)])
    response = await fetch(gw.ports["main"], "GET", "/a/", headers={f"X-H{i}": "v" * 1000 for i in range(70)})
    assert response.status == 431
    too_many = await fetch(gw.ports["main"], "GET", "/a/", headers={f"X-N{i}": "v" for i in range(120)})
    assert too_many.status == 431
    assert upstream.requests == []


async def test_body_over_limit_is_413(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory(
        [classic_api("a", "/a/", upstream.url)], http=HttpServerSettings(max_request_body_size=1000)
    )
    response = await fetch(gw.ports["main"], "POST", "/a/", body=b"z" * 1001)
    assert response.status == 413
    assert upstream.requests == []
    client = await RawClient.connect(gw.ports["main"])
    await client.send(
        b"POST /a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n" + b"z" * 1001 + b"\r\n0\r\n\r\n"
    )
    assert (await client.read_response()).status == 413
    assert await client.is_closed()
    await client.close()


SMUGGLING = {
    "cl-and-te": b"POST /a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "duplicate-cl": b"POST /a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "space-before-colon": b"POST /a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te-vertical-tab": b"POST /a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n",
    "te-chunked-identity": b"POST /a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "bad-chunk-terminator": b"POST /a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
    "bare-lf-in-header": b"GET /a/ HTTP/1.1\r\nHost: a\r\nX-A: 1\nX-B: 2\r\n\r\n",
    "no-host": b"GET /a/ HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET /a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "garbage": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
}


@pytest.mark.parametrize("raw", SMUGGLING.values(), ids=SMUGGLING.keys())
async def test_ambiguous_requests_are_400_and_close(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, raw: bytes
) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    await client.send(raw + b"GET /a/smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
    response = await client.read_response()
    assert response.status == 400
    assert response.header("Connection") == "close"
    assert await client.is_closed()
    await client.close()
    assert all("smuggled" not in r.target for r in upstream.requests)


async def test_valid_request_before_a_rejected_one_is_answered(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    await client.send(
        b"GET /a/slow/100 HTTP/1.1\r\nHost: a\r\n\r\n"
        + SMUGGLING["cl-and-te"]
        + b"GET /a/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert (await client.read_response()).status == 200
    assert (await client.read_response()).status == 400
    assert await client.is_closed()
    await client.close()
    assert [r.target for r in upstream.requests] == ["/slow/100"]


async def test_slow_client_is_cut_off_by_read_timeout(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)], http=HttpServerSettings(read_timeout=0.3))
    client = await RawClient.connect(gw.ports["main"])
    await client.send(b"GET /a/ HTTP/1.1\r\nHost: a\r\n")  # never finishes its head
    assert await client.is_closed(timeout=2)
    await client.close()


async def test_expect_100_continue(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    await client.send(b"POST /a/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    interim = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 2)
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    await client.send(b"hello")
    response = await client.read_response()
    assert response.json()["body_size"] == 5
    assert upstream.requests[-1].header("Expect") is None
    await client.close()


async def test_client_disconnect_cancels_upstream_request(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)])
    client = await RawClient.connect(gw.ports["main"])
    await client.send(b"GET /a/hang HTTP/1.1\r\nHost: a\r\n\r\n")
    for _ in range(100):
        if upstream.requests:
            break
        await asyncio.sleep(0.01)
    await client.close()
    for _ in range(100):
        if upstream.closed_connections:
            break
        await asyncio.sleep(0.01)
    assert upstream.closed_connections == 1


async def test_slow_request_body_is_408(gateway_factory: GatewayFactory, upstream: UpstreamPeer) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)], http=HttpServerSettings(read_timeout=0.3))
    client = await RawClient.connect(gw.ports["main"])
    await client.send(b"POST /a/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")  # 7 bytes never come
    response = await client.read_response(timeout=3)
    assert response.status == 408
    assert response.json() == {"error": "Request Timeout"}
    assert await client.is_closed()
    await client.close()


async def test_read_timeout_does_not_cut_a_slow_upstream(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)], http=HttpServerSettings(read_timeout=0.3))
    client = await RawClient.connect(gw.ports["main"])
    assert (await client.request("GET", "/a/slow/800")).status == 200
    assert (await client.request("GET", "/a/echo")).status == 200  # keep-alive survives too
    await client.close()
