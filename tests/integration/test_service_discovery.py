"""Service discovery end to end: the in-process gateway, real upstreams, a real etcd and scripted Consul and
Eureka servers (issue 4 point 4; DECISIONS §16; tyk-behaviour §3.5).

Every API here has a static `target_url` naming the `static` upstream, so a response says where the request
went: `static` (no good list yet) or the discovered host's name. Most APIs leave the cache timeout unset, so
the gateway's `discovery_cache_timeout` (short here) paces the queries.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import pytest
from checked_upstream import eventually
from conftest import SECRET, GatewayFactory, classic_api
from discovery_peers import ConsulCatalog, EtcdPeer, EurekaServer
from http_client import fetch
from listening_peers import HttpAnswer, HttpRequest
from upstream_peer import UpstreamPeer

from bascule.app import Gateway
from bascule.config.gateway import UptimeSettings
from bascule.config.outbound import ServiceType
from bascule.config.outbound_defaults import default_profiles

Format = Literal["classic", "oas"]
TTL = 0.3
"""The gateway's default cache timeout in these tests: seconds between two queries of one API."""

CONSUL_LIST = {"data_path": "Address", "port_data_path": "ServicePort", "endpoint_returns_list": True}
EUREKA = {"parent_data_path": "application.instance", "data_path": "hostName", "port_data_path": "port.$"}


@dataclass(kw_only=True)
class ScriptedConsul(ConsulCatalog):
    """A catalog that can also answer one fixed body (`body`), whatever the mode."""

    body: bytes | None = None

    def answer(self, request: HttpRequest) -> HttpAnswer:
        return super().answer(request) if self.body is None else HttpAnswer(200, self.body)


@dataclass
class Upstreams:
    static: UpstreamPeer
    a: UpstreamPeer
    b: UpstreamPeer

    def endpoint(self, peer: UpstreamPeer) -> tuple[str, int]:
        return ("127.0.0.1", peer.port)


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    peers = Upstreams(UpstreamPeer(name="static"), UpstreamPeer(name="a"), UpstreamPeer(name="b"))
    for peer in (peers.static, peers.a, peers.b):
        await peer.start()
    yield peers
    for peer in (peers.static, peers.a, peers.b):
        await peer.stop()


@pytest.fixture
async def consul() -> AsyncIterator[ScriptedConsul]:
    async with ScriptedConsul() as peer:
        yield peer


def discovering_api(
    fmt: Format,
    api_id: str,
    static: UpstreamPeer,
    discovery: dict[str, Any],
    *,
    balanced: bool = True,
    cache_timeout: int = 0,
) -> dict[str, Any]:
    """A Classic or OAS definition of `/<api_id>/` -> `static`, discovering with `discovery` (Classic names).
    `balanced` turns load balancing on with the static target as its one listed target (Tyk requires one)."""
    if fmt == "classic":
        sd = {"use_discovery_service": True, "cache_timeout": cache_timeout, **discovery}
        balancing = {"enable_load_balancing": True, "target_list": [static.url]} if balanced else {}
        return classic_api(api_id, f"/{api_id}/", static.url, service_discovery=sd, **balancing)
    oas_sd: dict[str, Any] = {"enabled": True, **{_camel(key): value for key, value in discovery.items()}}
    if cache_timeout:
        oas_sd["cache"] = {"enabled": True, "timeout": cache_timeout}
    upstream: dict[str, Any] = {"url": static.url, "serviceDiscovery": oas_sd}
    if balanced:
        upstream["loadBalancing"] = {"enabled": True, "targets": [{"url": static.url, "weight": 1}]}
    return {
        "openapi": "3.0.3",
        "info": {"title": api_id, "version": "1.0.0"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": api_id, "name": api_id, "state": {"active": True}},
            "server": {"listenPath": {"value": f"/{api_id}/", "strip": True}},
            "upstream": upstream,
        },
    }


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def consul_api(fmt: Format, api_id: str, static: UpstreamPeer, consul: ConsulCatalog, **extra: Any) -> dict[str, Any]:
    discovery = {"query_endpoint": f"{consul.url}/v1/catalog/service/users", "use_target_list": True, **CONSUL_LIST}
    return discovering_api(fmt, api_id, static, discovery, **extra)


async def served_by(gateway: Gateway, path: str) -> str:
    answer = await fetch(gateway.ports["main"], "GET", path)
    assert answer.status == 200, answer.body
    name: str = answer.json()["upstream"]
    return name


async def served_by_each(gateway: Gateway, path: str, count: int) -> list[str]:
    return [await served_by(gateway, path) for _ in range(count)]


async def until_served_by(gateway: Gateway, path: str, names: set[str], timeout: float = 5.0) -> None:
    async def reached() -> bool:
        return await served_by(gateway, path) in names

    await eventually(reached, timeout)


def alternates(served: list[str]) -> bool:
    return all(first != second for first, second in itertools.pairwise(served))


# --- Consul, etcd, Eureka ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["classic", "oas"])
async def test_consul_hosts_are_balanced_and_a_host_removed_from_the_catalog_stops_getting_traffic(
    fmt: Format, gateway_factory: GatewayFactory, upstreams: Upstreams, consul: ScriptedConsul
) -> None:
    consul.services["users"] = [upstreams.endpoint(upstreams.a), upstreams.endpoint(upstreams.b)]
    gateway = await gateway_factory([consul_api(fmt, "sd", upstreams.static, consul)], discovery_cache_timeout=TTL)
    await until_served_by(gateway, "/sd/x", {"a", "b"})
    static_seen = len(upstreams.static.requests)
    served = await served_by_each(gateway, "/sd/x", 6)
    assert set(served) == {"a", "b"} and alternates(served)

    consul.services["users"] = [upstreams.endpoint(upstreams.a)]
    queried = consul.queries["users"]
    await consul.wait_for_queries("users", queried + 1)
    await until_served_by(gateway, "/sd/x", {"a"}, timeout=TTL)  # within a cache period of the next query
    b_before = len(upstreams.b.requests)
    assert await served_by_each(gateway, "/sd/x", 6) == ["a"] * 6
    assert len(upstreams.b.requests) == b_before
    assert len(upstreams.static.requests) == static_seen  # never again after the first good list


async def test_etcd_plain_and_nested_values_survive_etcd_stopping_and_follow_it_when_it_comes_back(
    gateway_factory: GatewayFactory, upstreams: Upstreams
) -> None:
    """Classic reads `node.value` = "127.0.0.1:<port>"; OAS reads a JSON string in `node.value` (nested query)
    with its port as a string (Tyk's §5 case 24) and appends a `targetPath`."""
    a, b = upstreams.a, upstreams.b
    async with EtcdPeer() as etcd:
        await etcd.put("services/plain", f"127.0.0.1:{a.port}")
        await etcd.put("services/nested", json.dumps({"hostname": "127.0.0.1", "port": str(a.port)}))
        plain = {"query_endpoint": etcd.url_for("services/plain"), "data_path": "node.value"}
        nested = {
            "query_endpoint": etcd.url_for("services/nested"),
            "use_nested_query": True,
            "parent_data_path": "node.value",
            "data_path": "hostname",
            "port_data_path": "port",
            "target_path": "/base",
        }
        apis = [
            discovering_api("classic", "plain", upstreams.static, plain, balanced=False),
            discovering_api("oas", "nested", upstreams.static, nested, balanced=False),
        ]
        gateway = await gateway_factory(apis, discovery_cache_timeout=TTL)
        poller = gateway.discovery
        assert poller is not None
        await until_served_by(gateway, "/plain/x", {"a"})
        await until_served_by(gateway, "/nested/x", {"a"})
        static_seen = len(upstreams.static.requests)
        assert a.requests[-1].target == "/base/x"

        await etcd.stop()
        failing = {api: poller.queries(api) + 2 for api in ("plain", "nested")}

        async def both_failed_twice() -> bool:
            return all(poller.queries(api) >= count for api, count in failing.items())

        await eventually(both_failed_twice, 5.0)
        assert await served_by_each(gateway, "/plain/x", 3) == ["a"] * 3  # the last good list
        assert await served_by_each(gateway, "/nested/x", 3) == ["a"] * 3

        await etcd.start()
        await etcd.put("services/plain", f"127.0.0.1:{b.port}")
        await etcd.put("services/nested", json.dumps({"hostname": "127.0.0.1", "port": str(b.port)}))
        await until_served_by(gateway, "/plain/x", {"b"}, timeout=5)
        await until_served_by(gateway, "/nested/x", {"b"}, timeout=5)
        assert b.requests[-1].target == "/base/x"
    assert len(upstreams.static.requests) == static_seen  # never again after the first good list


async def test_eureka_is_asked_for_json_and_its_instances_are_balanced(
    gateway_factory: GatewayFactory, upstreams: Upstreams
) -> None:
    instances = [upstreams.endpoint(upstreams.a), upstreams.endpoint(upstreams.b)]
    async with EurekaServer(services={"users": instances}) as eureka:
        discovery = {"query_endpoint": f"{eureka.url}/eureka/apps/USERS", "use_target_list": True, **EUREKA}
        gateway = await gateway_factory(
            [discovering_api("oas", "sd", upstreams.static, discovery)], discovery_cache_timeout=TTL
        )
        await until_served_by(gateway, "/sd/x", {"a", "b"})
        static_seen = len(upstreams.static.requests)
        served = await served_by_each(gateway, "/sd/x", 4)
        assert set(served) == {"a", "b"} and alternates(served)
        assert eureka.requests
        assert all("application/json" in (query.header("Accept") or "") for query in eureka.requests)
    assert len(upstreams.static.requests) == static_seen  # never again after the first good list


# --- failures: down, malformed, empty, slow ------------------------------------------------------------------


async def test_an_endpoint_down_at_startup_leaves_the_static_target_serving_until_it_answers(
    gateway_factory: GatewayFactory, upstreams: Upstreams, consul: ScriptedConsul
) -> None:
    """The retry after a failed query comes within seconds, not after the 30 s cache period."""
    consul.services["users"] = [upstreams.endpoint(upstreams.a)]
    await consul.stop()  # its port is kept: it comes back there
    api = consul_api("classic", "sd", upstreams.static, consul, cache_timeout=30)
    gateway = await gateway_factory([api])
    assert await served_by_each(gateway, "/sd/x", 3) == ["static"] * 3
    await asyncio.sleep(0.5)
    assert await served_by(gateway, "/sd/x") == "static"
    await consul.start()
    await until_served_by(gateway, "/sd/x", {"a"}, timeout=4)
    assert consul.queries["users"] == 1


BadAnswer = Literal["malformed", "empty", "slow", "too deep"]


@pytest.mark.parametrize("bad", ["malformed", "empty", "slow", "too deep"])
async def test_a_bad_answer_keeps_the_last_good_list_and_a_good_one_is_taken_again(
    bad: BadAnswer, gateway_factory: GatewayFactory, upstreams: Upstreams, consul: ScriptedConsul
) -> None:
    """`slow` outlasts the discovery service's timeout (0.2 s), and requests meanwhile do not wait for it;
    `too deep` is JSON nested past what Python's parser takes (it raises RecursionError)."""
    consul.services["users"] = [upstreams.endpoint(upstreams.a)]
    profiles = dict(default_profiles())
    profiles[ServiceType.DISCOVERY] = replace(profiles[ServiceType.DISCOVERY], timeout=0.2)
    gateway = await gateway_factory(
        [consul_api("classic", "sd", upstreams.static, consul)],
        discovery_cache_timeout=TTL,
        external_services=profiles,
    )
    await until_served_by(gateway, "/sd/x", {"a"})
    static_seen = len(upstreams.static.requests)

    if bad == "slow":
        consul.delay = 1.0
    elif bad == "too deep":
        consul.body = b"[" * 100_000
    else:
        consul.mode = bad
    queried = consul.queries["users"]
    await consul.wait_for_queries("users", queried + 2)  # one bad answer handled, the next query sent
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await served_by_each(gateway, "/sd/x", 4) == ["a"] * 4
    assert loop.time() - started < 0.5  # no request waited for the query in flight

    consul.mode, consul.delay, consul.body = "normal", 0.0, None
    consul.services["users"] = [upstreams.endpoint(upstreams.b)]
    await until_served_by(gateway, "/sd/x", {"b"}, timeout=3)  # the watch is still alive
    assert len(upstreams.static.requests) == static_seen  # never again after the first good list


# --- single flight, skipping down hosts, reload --------------------------------------------------------------


async def test_200_concurrent_requests_cause_at_most_one_query_per_cache_period(
    gateway_factory: GatewayFactory, upstreams: Upstreams, consul: ScriptedConsul
) -> None:
    """Before the first answer (slow) the burst is served by the static target without waiting for it; after
    it, by the discovered hosts; neither burst asks the catalog again within the 2 s cache period."""
    consul.services["users"] = [upstreams.endpoint(upstreams.a), upstreams.endpoint(upstreams.b)]
    consul.delay = 0.5
    gateway = await gateway_factory([consul_api("oas", "sd", upstreams.static, consul, cache_timeout=2)])
    port = gateway.ports["main"]

    async def burst() -> list[str]:
        answers = await asyncio.gather(*(fetch(port, "GET", "/sd/x") for _ in range(200)))
        assert [answer.status for answer in answers] == [200] * 200
        return [answer.json()["upstream"] for answer in answers]

    loop = asyncio.get_running_loop()
    started = loop.time()
    first = await burst()
    assert consul.queries["users"] == 1
    assert first.count("static") > 0  # at least the start of the burst came before the (slow) answer
    await until_served_by(gateway, "/sd/x", {"a", "b"})
    second = await burst()
    assert sorted(set(second)) == ["a", "b"] and abs(second.count("a") - second.count("b")) <= 1
    assert loop.time() - started < 2
    assert consul.queries["users"] == 1


async def host_state(gateway: Gateway, peer: UpstreamPeer) -> str | None:
    answer = await fetch(gateway.ports["main"], "GET", "/tyk/health/hosts", headers={"X-Tyk-Authorization": SECRET})
    report: dict[str, Any] = answer.json()
    wanted = f"127.0.0.1:{peer.port}"
    return next((host["state"] for host in report["hosts"] if host["host"] == wanted), None)


async def test_a_discovered_host_that_fails_its_uptime_check_is_skipped(
    gateway_factory: GatewayFactory, upstreams: Upstreams, consul: ScriptedConsul
) -> None:
    a, b = upstreams.a, upstreams.b
    consul.services["users"] = [upstreams.endpoint(a), upstreams.endpoint(b)]
    api = consul_api("oas", "sd", upstreams.static, consul)
    upstream = api["x-tyk-api-gateway"]["upstream"]
    upstream["loadBalancing"]["skipUnavailableHosts"] = True
    upstream["uptimeTests"] = {"enabled": True, "tests": [{"url": f"{a.url}/health"}, {"url": f"{b.url}/health"}]}
    gateway = await gateway_factory(
        [api], discovery_cache_timeout=TTL, uptime=UptimeSettings(interval=0.2, sample_size=2)
    )
    await until_served_by(gateway, "/sd/x", {"a", "b"})
    static_seen = len(upstreams.static.requests)
    await b.stop()

    async def b_is_down() -> bool:
        return await host_state(gateway, b) == "down"

    await eventually(b_is_down, 5.0)
    proxied_by_a = len(a.requests)
    port = gateway.ports["main"]
    answers = await asyncio.gather(*(fetch(port, "GET", "/sd/x") for _ in range(20)))
    assert [(answer.status, answer.json()["upstream"]) for answer in answers] == [(200, "a")] * 20
    assert len(a.requests) >= proxied_by_a + 20
    assert len(upstreams.static.requests) == static_seen  # never again after the first good list


async def test_a_reload_keeps_the_last_good_list_without_a_gap(
    gateway_factory: GatewayFactory, upstreams: Upstreams, consul: ScriptedConsul
) -> None:
    """The watch survives reloads that leave its discovery settings alone (the API's name changes here): no
    new query (the cache period is 30 s) and the new snapshot serves the discovered hosts from its first
    request. A new watch would leave the static target serving for the catalog's (slow) answer."""
    consul.services["users"] = [upstreams.endpoint(upstreams.a), upstreams.endpoint(upstreams.b)]
    api = consul_api("classic", "sd", upstreams.static, consul, cache_timeout=30)
    gateway = await gateway_factory([api])
    await until_served_by(gateway, "/sd/x", {"a", "b"})
    static_seen = len(upstreams.static.requests)
    consul.delay = 0.5
    served: list[str] = []
    done = asyncio.Event()

    async def keep_asking() -> None:
        while not done.is_set():
            served.append(await served_by(gateway, "/sd/x"))

    asker = asyncio.create_task(keep_asking())
    try:
        for generation in range(3):
            api["name"] = f"renamed {generation}"
            (gateway.settings.app_path / "sd.json").write_text(json.dumps(api))
            snapshot = await gateway.reloader.reload()
            assert snapshot.apis["sd"].settings.name == f"renamed {generation}"
            await asyncio.sleep(0.1)
    finally:
        done.set()
        await asker
    assert len(served) > 10 and set(served) == {"a", "b"}
    assert len(upstreams.static.requests) == static_seen  # never again after the first good list
    assert consul.queries["users"] == 1
