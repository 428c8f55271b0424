"""Up/down state of checked hosts (DECISIONS §15; Tyk's sampling is tyk-behaviour §3.6).

Rules:
1. A host never recorded is up.
2. `run` counts the consecutive results equal to the latest one; a success ends a run of failures and a
   failure ends a run of successes.
3. An up host goes down when its failure run reaches `sample_size`; a down host comes up when its success run
   reaches `sample_size`. Otherwise the state stays as it was. So after any sequence of results: the last
   `sample_size` all failed -> down; all succeeded -> up; mixed -> the state before them.
4. `record` returns a `Transition` exactly once per flip, at the result that causes it; further results in the
   same direction return None.

Departures from Tyk: Tyk lets non-consecutive failures accumulate (a success before the limit is reached does
not reset the count), counts successes down from the limit one by one while down, and fires `HostDown` again
on every failing check after the limit. bascule counts consecutive runs in both directions and reports each
flip once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["HostHealthTracker", "HostState", "Transition"]


@dataclass(frozen=True, slots=True)
class HostState:
    """What is known about one host after its latest check."""

    host: str
    up: bool
    since: float
    """When the current state began: the flip, or the first check of a host that never flipped."""
    last_ok: bool
    last_detail: str
    last_latency: float | None
    run: int
    """How many consecutive results, the latest included, equal `last_ok`."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A host changed state: `up` is the new state, `at` the time of the result that flipped it."""

    host: str
    up: bool
    at: float


class HostHealthTracker:
    """The states of the hosts one checker polls. Time is passed in; not thread-safe."""

    __slots__ = ("_sample_size", "_states")

    def __init__(self, sample_size: int) -> None:
        if sample_size < 1:
            raise ValueError(f"sample_size must be at least 1, got {sample_size}")
        self._sample_size = sample_size
        self._states: dict[str, HostState] = {}

    @property
    def sample_size(self) -> int:
        return self._sample_size

    def record(
        self, host: str, ok: bool, now: float, detail: str = "", latency: float | None = None
    ) -> Transition | None:
        """Take one check result; the `Transition` when it flips the host's state."""
        previous = self._states.get(host)
        if previous is None:
            up, since, run = True, now, 1
        else:
            up, since = previous.up, previous.since
            run = previous.run + 1 if previous.last_ok == ok else 1
        flipped = ok != up and run >= self._sample_size
        if flipped:
            up, since = ok, now
        self._states[host] = HostState(host, up, since, ok, detail, latency, run)
        return Transition(host, up, now) if flipped else None

    def is_down(self, host: str) -> bool:
        state = self._states.get(host)
        return state is not None and not state.up

    def states(self) -> list[HostState]:
        """Every recorded host, sorted by host."""
        return [self._states[host] for host in sorted(self._states)]

    def forget(self, keep: Iterable[str]) -> None:
        """Drop every host not in `keep` (hosts no longer checked); a dropped host is unknown, hence up."""
        kept = set(keep)
        for host in [host for host in self._states if host not in kept]:
            del self._states[host]
