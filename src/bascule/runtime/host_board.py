"""Which upstream hosts are down: written by the health checker (or copied from the node that checks),
read by every request of an API that skips unavailable hosts.

Hosts are named `host:port` (`UpstreamTarget.host_port`, `UptimeCheck.host`). A host nobody checks is
never down. The board outlives reloads: it belongs to the gateway, not to a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HostReport:
    """What `/tyk/health/hosts` shows of one checked host."""

    host: str
    up: bool
    since: float
    """Wall-clock time of the last change of state (or of the first check)."""
    last_ok: bool
    last_detail: str
    last_latency: float | None
    checked_at: float
    check_urls: tuple[str, ...] = ()


class HostBoard:
    """The down set and the reports behind it; replaced whole, read without locks."""

    __slots__ = ("_down", "checked_by", "node", "reports")

    def __init__(self, node: str = "") -> None:
        self.node = node
        """This gateway node's id (its view is what the board holds)."""
        self._down: frozenset[str] = frozenset()
        self.reports: tuple[HostReport, ...] = ()
        self.checked_by = ""
        """The node whose checks the board shows ("" before the first round)."""

    def is_down(self, host: str) -> bool:
        return host in self._down

    @property
    def down(self) -> frozenset[str]:
        return self._down

    def replace(self, reports: Iterable[HostReport], checked_by: str) -> None:
        reports = tuple(sorted(reports, key=lambda report: report.host))
        self._down = frozenset(report.host for report in reports if not report.up)
        self.reports = reports
        self.checked_by = checked_by

    def clear(self) -> None:
        self.replace((), "")
