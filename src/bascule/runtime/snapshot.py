"""The running configuration: immutable, built off to the side, swapped in one assignment.

A request reads `SnapshotHolder.current` once and uses that snapshot to its end, so a reload never
changes the routes, targets or limits under a request in flight.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from bascule.config.apis import ApiSettings
from bascule.config.gateway import GatewaySettings
from bascule.core.balancing import SmoothWeightedRoundRobin
from bascule.core.routes import RouteTable
from bascule.core.upstream_url import UpstreamTarget
from bascule.errors import AllHostsDown, ConfigProblem
from bascule.runtime.discovered_targets import DiscoveredTargets
from bascule.runtime.host_board import HostBoard


@dataclass(frozen=True, slots=True)
class UpstreamPlan:
    """Where an API's requests go: one static target, a balanced set, or what discovery last found.

    * `discovered` (service discovery): its last good list once there is one, else the static plan.
    * `board` (the API skips unavailable hosts): hosts it says are down are passed over; when every
      candidate is down, `AllHostsDown` (503).
    """

    static: UpstreamTarget
    targets: tuple[UpstreamTarget, ...] = ()
    balancer: SmoothWeightedRoundRobin | None = None
    board: HostBoard | None = None
    discovered: DiscoveredTargets | None = None

    def pick(self) -> UpstreamTarget:
        targets, balancer = self.targets, self.balancer
        if self.discovered is not None and (found := self.discovered.current) is not None:
            targets, balancer = found.targets, found.balancer
            if balancer is None:
                return self._unless_down(targets[0])
        if balancer is None:
            return self._unless_down(self.static)
        board = self.board
        eligible = None if board is None else (lambda i: not board.is_down(targets[i].host_port))
        index = balancer.pick(eligible)
        if index is None:
            raise AllHostsDown("all hosts are down")
        return targets[index]

    def _unless_down(self, target: UpstreamTarget) -> UpstreamTarget:
        if self.board is not None and self.board.is_down(target.host_port):
            raise AllHostsDown("all hosts are down")
        return target


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
    dials: Mapping[str, Hashable] = field(default_factory=dict)
    """api_id -> how its upstream connections are opened (an `outbound.dial_plan.DialPlan`), for APIs with their
    own upstream TLS or proxy; absent: the default. Filled when the snapshot is prepared, before the swap."""
    client_certificates: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """api_id -> SHA-256 of the leaf of each client certificate it allows (`use_mutual_tls_auth` APIs)."""


class SnapshotHolder:
    """The one mutable reference to the running snapshot. Listeners hear each swap, right after it, on the
    event loop (the background tasks that follow the APIs: discovery pollers)."""

    __slots__ = ("_listeners", "current")

    def __init__(self, initial: Snapshot) -> None:
        self.current = initial
        self._listeners: list[Callable[[Snapshot], None]] = []

    def subscribe(self, listener: Callable[[Snapshot], None]) -> None:
        self._listeners.append(listener)

    def swap(self, snapshot: Snapshot) -> Snapshot:
        previous = self.current
        self.current = snapshot
        for listener in self._listeners:
            listener(snapshot)
        return previous
