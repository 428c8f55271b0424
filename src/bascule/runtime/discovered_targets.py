"""The upstream hosts an API found by service discovery: one cell per API, replaced whole by the poller,
read by each request of that API (`UpstreamPlan.pick`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bascule.core.balancing import SmoothWeightedRoundRobin
from bascule.core.upstream_url import UpstreamTarget


@dataclass(frozen=True, slots=True)
class TargetSet:
    """A discovered list: balanced (equal weights) when the API balances load, else its first host only."""

    targets: tuple[UpstreamTarget, ...]
    balancer: SmoothWeightedRoundRobin | None


class DiscoveredTargets:
    """The last good list of one API (None until a query has answered with at least one host)."""

    __slots__ = ("current", "load_balancing")

    def __init__(self, load_balancing: bool) -> None:
        self.load_balancing = load_balancing
        self.current: TargetSet | None = None

    def update(self, targets: Sequence[UpstreamTarget]) -> None:
        if not targets:
            raise ValueError("a discovered list is never empty: the last good one is kept instead")
        if not self.load_balancing:
            self.current = TargetSet((targets[0],), None)
            return
        previous = self.current
        if previous is not None and previous.targets == tuple(targets):
            return  # same hosts: keep the balancer's rotation
        self.current = TargetSet(tuple(targets), SmoothWeightedRoundRobin([1] * len(targets)))
