"""`UpstreamPlan.pick` with a host board (skipping down hosts) and discovered targets."""

from __future__ import annotations

from collections import Counter

import pytest

from bascule.core.balancing import SmoothWeightedRoundRobin
from bascule.core.upstream_url import parse_target
from bascule.errors import AllHostsDown
from bascule.runtime.discovered_targets import DiscoveredTargets
from bascule.runtime.events import Event, EventBus
from bascule.runtime.host_board import HostBoard, HostReport
from bascule.runtime.snapshot import UpstreamPlan

A, B, C = (parse_target(url) for url in ("http://a:8080/x", "http://b", "https://[::1]:8443"))


def _board(*down: str) -> HostBoard:
    board = HostBoard()
    board.replace(
        [HostReport(host, host not in down, 0.0, True, "", None, 0.0) for host in ("a:8080", "b:80", *down)], "me"
    )
    return board


def _balanced(board: HostBoard | None, weights: tuple[int, ...] = (1, 1)) -> UpstreamPlan:
    return UpstreamPlan(static=A, targets=(A, B), balancer=SmoothWeightedRoundRobin(weights), board=board)


def test_host_port_names_hosts_as_checks_do() -> None:
    assert (A.host_port, B.host_port, C.host_port) == ("a:8080", "b:80", "[::1]:8443")


def test_without_a_board_down_hosts_are_still_picked() -> None:
    plan = _balanced(None)
    assert Counter(plan.pick().host for _ in range(10)) == {"a": 5, "b": 5}


def test_a_down_host_gets_nothing_and_the_others_share_its_traffic() -> None:
    plan = _balanced(_board("b:80"), (1, 9))
    assert {plan.pick().host for _ in range(100)} == {"a"}


def test_all_balanced_hosts_down_is_all_hosts_down() -> None:
    with pytest.raises(AllHostsDown):
        _balanced(_board("a:8080", "b:80")).pick()


def test_a_host_back_up_gets_traffic_again_without_a_new_plan() -> None:
    board = _board("b:80")
    plan = _balanced(board)
    assert {plan.pick().host for _ in range(4)} == {"a"}
    board.replace([], "me")
    assert {plan.pick().host for _ in range(4)} == {"a", "b"}


def test_a_static_target_that_is_down_is_all_hosts_down() -> None:
    assert UpstreamPlan(static=A, board=_board()).pick() is A
    with pytest.raises(AllHostsDown):
        UpstreamPlan(static=A, board=_board("a:8080")).pick()


def test_discovery_serves_the_static_target_until_a_list_arrives() -> None:
    cell = DiscoveredTargets(load_balancing=True)
    plan = UpstreamPlan(static=A, discovered=cell)
    assert plan.pick() is A
    cell.update([B, C])
    assert [plan.pick() for _ in range(4)] == [B, C, B, C]


def test_discovery_without_load_balancing_uses_the_first_host() -> None:
    cell = DiscoveredTargets(load_balancing=False)
    cell.update([B, C])
    plan = UpstreamPlan(static=A, discovered=cell)
    assert {plan.pick() for _ in range(3)} == {B}


def test_discovered_hosts_are_skipped_when_down() -> None:
    cell = DiscoveredTargets(load_balancing=True)
    cell.update([A, B])
    plan = UpstreamPlan(static=C, discovered=cell, board=_board("a:8080"))
    assert {plan.pick() for _ in range(4)} == {B}


def test_the_same_discovered_list_keeps_its_rotation() -> None:
    cell = DiscoveredTargets(load_balancing=True)
    cell.update([A, B])
    first = cell.current
    cell.update([A, B])
    assert cell.current is first
    with pytest.raises(ValueError, match="never empty"):
        cell.update([])


def test_the_event_bus_tells_every_listener_even_after_one_fails() -> None:
    bus = EventBus()
    heard: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(lambda event: heard.append(event.name))
    bus.publish(Event("HostDown", "api", "org", "Uptime test failed", 0.0))
    assert heard == ["HostDown"]
