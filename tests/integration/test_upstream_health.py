"""Uptime checks and skipping unavailable hosts, on the real gateway against real upstream servers
(issue 4 points 1, 2 and 6; DECISIONS §15)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from check_peers import TcpCheckPeer
from checked_upstream import CheckedPeer, balanced_api, eventually
from conftest import SECRET, GatewayFactory
from discovery_peers import EtcdPeer
from http_client import fetch
from upstream_peer import UpstreamPeer

from bascule.app import Gateway
from bascule.compat.tyk.gateway_conf import TykGatewayConf
from bascule.compat.tyk.translate_external_services import translate_external_services
from bascule.config.gateway import UptimeSettings

FAST = UptimeSettings(interval=0.2, sample_size=2)


@pytest.fixture
async def peers() -> AsyncIterator[tuple[CheckedPeer, CheckedPeer]]:
    a, b = CheckedPeer(name="a"), CheckedPeer(name="b")
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def hosts(gateway: Gateway) -> dict[str, Any]:
    answer = await fetch(gateway.ports["main"], "GET", "/tyk/health/hosts", headers={"X-Tyk-Authorization": SECRET})
    assert answer.status == 200
    report: dict[str, Any] = answer.json()
    return report


def state_of(report: dict[str, Any], peer: UpstreamPeer) -> str | None:
    wanted = f"127.0.0.1:{peer.port}"
    return next((host["state"] for host in report["hosts"] if host["host"] == wanted), None)


async def until_state(gateway: Gateway, peer: UpstreamPeer, state: str) -> None:
    async def reached() -> bool:
        return state_of(await hosts(gateway), peer) == state

    await eventually(reached)


async def test_a_down_host_gets_no_request_from_64_concurrent_clients(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=FAST)
    port = gateway.ports["main"]
    await until_state(gateway, b, "up")
    b.health_status = 503
    await until_state(gateway, b, "down")
    before = b.proxied()

    async def client() -> list[int]:
        return [(await fetch(port, "GET", "/lb/x")).status for _ in range(5)]

    statuses = [status for batch in await asyncio.gather(*(client() for _ in range(64))) for status in batch]
    assert statuses == [200] * 320
    assert b.proxied() == before == 0
    assert a.proxied() == 320


async def test_all_hosts_down_is_a_503_naming_no_upstream_and_a_host_back_gets_traffic(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=FAST)
    port = gateway.ports["main"]
    a.health_status = b.health_status = 500
    await until_state(gateway, a, "down")
    await until_state(gateway, b, "down")
    answer = await fetch(port, "GET", "/lb/x")
    assert answer.status == 503
    assert answer.json() == {"error": "all hosts are down"}
    assert str(a.port) not in answer.body.decode() and str(b.port) not in answer.body.decode()
    b.health_status = 200
    await until_state(gateway, b, "up")
    assert (await fetch(port, "GET", "/lb/x")).json()["upstream"] == "b"


async def test_a_stopped_upstream_goes_down_and_comes_back_up_on_the_same_port(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=FAST)
    await until_state(gateway, b, "up")
    await b.stop()
    await until_state(gateway, b, "down")
    report = await hosts(gateway)
    entry = next(host for host in report["hosts"] if host["host"] == f"127.0.0.1:{b.port}")
    assert entry["last_check"]["ok"] is False
    assert report["checked_by"] == gateway.node_id
    await b.start()
    await until_state(gateway, b, "up")
    statuses = {(await fetch(gateway.ports["main"], "GET", "/lb/x")).json()["upstream"] for _ in range(4)}
    assert statuses == {"a", "b"}


async def test_without_skipping_a_down_host_still_gets_requests(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b, skip=False)], uptime=FAST)
    b.health_status = 503
    await until_state(gateway, b, "down")
    served = {(await fetch(gateway.ports["main"], "GET", "/lb/x")).json()["upstream"] for _ in range(4)}
    assert served == {"a", "b"}


async def test_uptime_tests_disabled_gateway_wide_check_nothing_and_skip_nothing(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    b.health_status = 503
    gateway = await gateway_factory([balanced_api(a, b)], uptime=UptimeSettings(enabled=False, interval=0.1))
    await asyncio.sleep(0.5)
    assert not any(seen.target.startswith("/health") for seen in a.requests + b.requests)
    served = {(await fetch(gateway.ports["main"], "GET", "/lb/x")).json()["upstream"] for _ in range(4)}
    assert served == {"a", "b"}
    assert (await hosts(gateway))["uptime_tests"] == "disabled"


async def test_a_flapping_host_changes_state_at_most_once_per_sample(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    gateway = await gateway_factory([balanced_api(a, b)], uptime=UptimeSettings(interval=0.1, sample_size=3))
    flips: list[str] = []
    gateway.events.subscribe(lambda event: flips.append(event.name))
    b.flapping = True  # good, bad, good, ...: never three in a row
    await asyncio.sleep(1.5)
    b.flapping = False
    assert flips == []
    assert state_of(await hosts(gateway), b) == "up"
    b.health_status = 503
    await until_state(gateway, b, "down")
    assert flips == ["HostDown"]


async def test_tcp_checks_send_and_expect(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, _ = peers
    api = balanced_api(a)
    # An HTTP upstream speaks HTTP: sending a request line and expecting the status line is a TCP check.
    api["uptime_tests"] = {
        "check_list": [
            {
                "url": f"tcp://127.0.0.1:{a.port}",
                "commands": [
                    {"name": "send", "message": "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"},
                    {"name": "expect", "message": "HTTP/1.1 200"},
                ],
            }
        ]
    }
    gateway = await gateway_factory([api], uptime=FAST)
    await until_state(gateway, a, "up")
    a.health_status = 500
    await until_state(gateway, a, "down")
    assert json.loads((await fetch(gateway.ports["main"], "GET", "/lb/x")).body) == {"error": "all hosts are down"}


def _socket_check_api(upstream: UpstreamPeer, check: dict[str, Any]) -> dict[str, Any]:
    api = balanced_api(upstream)
    api["uptime_tests"] = {"check_list": [check]}
    return api


PING_PONG = [{"name": "send", "message": "ping"}, {"name": "expect", "message": "pong"}]


async def test_tcp_checks_with_the_proxy_protocol_send_its_line_first(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, _ = peers
    peer = TcpCheckPeer(expect_proxy_protocol=True)
    await peer.start()
    try:
        check = {"url": peer.url, "commands": PING_PONG, "enable_proxy_protocol": True}
        gateway = await gateway_factory([_socket_check_api(a, check)], uptime=FAST)
        await until_state(gateway, peer, "up")
        [session, *_] = await peer.wait_for(1)
        assert session.error == ""
        assert session.proxy_header is not None and session.proxy_header.protocol == "TCP4"
        assert session.received == b"ping"
        peer.replies = {b"ping": b"nope"}
        await until_state(gateway, peer, "down")
    finally:
        await peer.stop()


async def test_tls_checks_verify_the_host_with_the_health_services_trust(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer], tmp_path: Path
) -> None:
    a, _ = peers
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    trusted = TcpCheckPeer(tls=ca)
    untrusted = TcpCheckPeer(tls=trustme.CA())
    await trusted.start()
    await untrusted.start()
    try:
        conf = TykGatewayConf.model_validate(
            {"external_services": {"health": {"mtls": {"enabled": True, "ca_file": str(ca_file)}}}}
        )
        profiles = translate_external_services(conf, {}).profiles
        api = _socket_check_api(a, {"url": trusted.url, "commands": PING_PONG})
        api["uptime_tests"]["check_list"].append({"url": untrusted.url, "commands": PING_PONG})
        gateway = await gateway_factory([api], uptime=FAST, external_services=profiles)
        await until_state(gateway, trusted, "up")
        await until_state(gateway, untrusted, "down")
        report = await hosts(gateway)
        detail = next(h for h in report["hosts"] if h["host"].endswith(f":{untrusted.port}"))["last_check"]["detail"]
        assert "certificate" in detail.lower()
    finally:
        await trusted.stop()
        await untrusted.stop()


async def test_the_check_list_can_come_from_the_uptime_tests_own_discovery(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    async with EtcdPeer() as etcd:
        checks = [{"url": f"{peer.url}/health"} for peer in (a, b)]
        await etcd.put("checks/lb", json.dumps(checks))  # Tyk's shape: a string holding an array of checks
        api = balanced_api(a, b)
        discovery = {
            "use_discovery_service": True,
            "query_endpoint": etcd.url_for("checks/lb"),
            "data_path": "node.value",
        }
        api["uptime_tests"] = {"check_list": [], "config": {"service_discovery": discovery}}
        gateway = await gateway_factory([api], uptime=FAST)
        await until_state(gateway, b, "up")
        b.health_status = 503
        await until_state(gateway, b, "down")
        served = {(await fetch(gateway.ports["main"], "GET", "/lb/x")).json()["upstream"] for _ in range(6)}
        assert served == {"a"}


async def test_uptime_analytics_records_each_check_in_storage(
    gateway_factory: GatewayFactory, peers: tuple[CheckedPeer, CheckedPeer]
) -> None:
    a, b = peers
    b.health_status = 503
    gateway = await gateway_factory([balanced_api(a, b)], uptime=UptimeSettings(interval=0.1, analytics=True))

    async def recorded() -> bool:
        return len(await gateway.storage.list_items("host-checker:tyk-uptime-analytics")) >= 4

    await eventually(recorded)
    records = [json.loads(item) for item in await gateway.storage.list_items("host-checker:tyk-uptime-analytics")]
    by_url = {record["URL"]: record for record in records}
    assert by_url[f"{a.url}/health"]["ResponseCode"] == 200
    assert by_url[f"{b.url}/health"]["ResponseCode"] == 503 and by_url[f"{b.url}/health"]["ServerError"]
