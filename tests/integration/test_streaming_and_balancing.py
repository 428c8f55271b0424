"""Streams (WebSocket upgrade, large bodies with flat memory) and weighted balancing end to end."""

from __future__ import annotations

import collections
import hashlib
import resource

import pytest
import websockets
from conftest import GatewayFactory, classic_api
from http_client import RawClient, fetch
from upstream_peer import UpstreamPeer

from bascule.config.gateway import HttpServerSettings


async def test_websocket_upgrade_passes_through(gateway_factory: GatewayFactory) -> None:
    async def echo(connection: websockets.ServerConnection) -> None:
        async for message in connection:
            await connection.send(f"echo:{message}")

    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        gw = await gateway_factory(
            [classic_api("ws", "/ws/", f"http://127.0.0.1:{port}")],
            http=HttpServerSettings(enable_websockets=True),
        )
        async with websockets.connect(f"ws://127.0.0.1:{gw.ports['main']}/ws/") as client:
            for text in ("one", "two", "x" * 100_000):
                await client.send(text)
                assert await client.recv() == f"echo:{text}"


async def test_upgrade_refused_when_websockets_disabled(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    gw = await gateway_factory(
        [classic_api("ws", "/ws/", upstream.url)], http=HttpServerSettings(enable_websockets=False)
    )
    response = await fetch(
        gw.ports["main"], "GET", "/ws/echo", headers={"Connection": "Upgrade", "Upgrade": "websocket"}
    )
    assert response.status == 200
    assert upstream.requests[-1].header("Upgrade") is None


async def test_weighted_round_robin_is_smooth(gateway_factory: GatewayFactory) -> None:
    peers = [await UpstreamPeer(name=n).start() for n in ("a", "b", "c")]
    try:
        api = classic_api("lb", "/lb/", peers[0].url, enable_load_balancing=True)
        api["proxy"]["target_list"] = [peers[0].url] * 6 + [peers[1].url] * 3 + [peers[2].url]
        gw = await gateway_factory([api])
        client = await RawClient.connect(gw.ports["main"])
        order = [(await client.request("GET", "/lb/echo")).json()["upstream"] for _ in range(100)]
        await client.close()
        assert collections.Counter(order) == {"a": 60, "b": 30, "c": 10}
        longest = max(len(run) for run in "".join(order).replace("b", " ").replace("c", " ").split())
        assert longest <= 6
        for window in range(0, 100, 10):
            assert collections.Counter(order[window : window + 10]) == {"a": 6, "b": 3, "c": 1}
    finally:
        for peer in peers:
            await peer.stop()


async def test_oas_weight_zero_gets_nothing(gateway_factory: GatewayFactory) -> None:
    peers = [await UpstreamPeer(name=n).start() for n in ("a", "b")]
    try:
        oas = {
            "openapi": "3.0.3",
            "info": {"title": "lb", "version": "1"},
            "paths": {},
            "x-tyk-api-gateway": {
                "info": {"id": "lboas", "name": "lboas", "state": {"active": True}},
                "server": {"listenPath": {"value": "/lboas/", "strip": True}},
                "upstream": {
                    "url": peers[0].url,
                    "loadBalancing": {
                        "enabled": True,
                        "targets": [{"url": peers[0].url, "weight": 0}, {"url": peers[1].url, "weight": 3}],
                    },
                },
            },
        }
        gw = await gateway_factory([oas])
        seen = [(await fetch(gw.ports["main"], "GET", "/lboas/x")).json()["upstream"] for _ in range(9)]
        assert set(seen) == {"b"}
    finally:
        for peer in peers:
            await peer.stop()


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_one_gib_download_and_upload_with_flat_memory(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    gib = 1 << 30
    gw = await gateway_factory([classic_api("big", "/big/", upstream.url)], proxy_default_timeout=60)
    port = gw.ports["main"]
    before = rss_kib()
    client = await RawClient.connect(port)
    await client.send(f"GET /big/bytes/{gib} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    head = await client.reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    received = 0
    peak = before
    while received < gib:
        chunk = await client.reader.read(1 << 20)
        assert chunk
        received += len(chunk)
        if received % (64 << 20) < len(chunk):
            peak = max(peak, rss_kib())
    assert received == gib

    digest = hashlib.sha256()
    block = b"u" * (1 << 20)
    await client.send(f"POST /big/echo HTTP/1.1\r\nHost: a\r\nContent-Length: {gib}\r\n\r\n".encode())
    for _ in range(1024):
        client.writer.write(block)
        digest.update(block)
        await client.writer.drain()
        peak = max(peak, rss_kib()) if _ % 64 == 0 else peak
    response = await client.read_response(timeout=60)
    await client.close()
    assert response.json()["body_size"] == gib
    assert response.json()["sha256"] == digest.hexdigest()
    # Test client, upstream and gateway share this process: growth stays far below the 1 GiB that passed.
    assert peak - before < 64 * 1024, f"RSS grew by {peak - before} KiB"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < before + 256 * 1024
