"""The running configuration: immutable, built off to the side, swapped in one assignment.

A request reads `SnapshotHolder.current` once and uses that snapshot to its end, so a reload never
changes the routes, targets or limits under a request in flight.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bascule.config.apis import ApiSettings
from bascule.config.gateway import GatewaySettings
from bascule.core.balancing import SmoothWeightedRoundRobin
from bascule.core.routes import RouteTable
from bascule.core.upstream_url import UpstreamTarget
from bascule.errors import AllHostsDown, ConfigProblem


@dataclass(frozen=True, slots=True)
class UpstreamPlan:
    """Where an API's requests go: one static target, or a balanced set."""

    static: UpstreamTarget
    targets: tuple[UpstreamTarget, ...] = ()
    balancer: SmoothWeightedRoundRobin | None = None

    def pick(self) -> UpstreamTarget:
        balancer = self.balancer
        if balancer is None:
            return self.static
        index = balancer.pick()
        if index is None:
            raise AllHostsDown("all hosts are down")
        return self.targets[index]


@dataclass(frozen=True, slots=True)
class ApiRuntime:
    """One loaded API: its settings and what was compiled from them."""

    settings: ApiSettings
    upstream: UpstreamPlan
    strip_pattern: re.Pattern[str] | None = None
    """For templated listen paths (`/users/{id}/`), the prefix to strip; None for literal ones."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    gateway: GatewaySettings
    apis: Mapping[str, ApiRuntime]
    routes: RouteTable[ApiRuntime]
    problems: tuple[ConfigProblem, ...] = ()
    """Why some definitions were not loaded; the others serve."""
    generation: int = 0
    disabled: Mapping[str, str] = field(default_factory=dict)
    """api_id → reason, for APIs whose definition parsed but could not be built."""
    definitions: Mapping[str, ApiSettings] = field(default_factory=dict)
    """Every loaded definition by api_id, inactive and disabled ones included (the control API lists them)."""


class SnapshotHolder:
    """The one mutable reference to the running snapshot."""

    __slots__ = ("current",)

    def __init__(self, initial: Snapshot) -> None:
        self.current = initial

    def swap(self, snapshot: Snapshot) -> Snapshot:
        previous = self.current
        self.current = snapshot
        return previous
