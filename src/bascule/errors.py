"""Exceptions named by blame and phase.

Configuration problems name the file and the JSON path; request-path errors name who failed (client,
upstream) and in which phase, and `bascule.proxy.errors` maps each to one status and body.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with one file: `file` at `json_path` (`$.a.b[0]`) says `message`."""

    file: Path | None
    json_path: str
    message: str

    def __str__(self) -> str:
        where = str(self.file) if self.file is not None else "<config>"
        return f"{where}: {self.json_path}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ProxyError(Exception):
    """Base of the errors that end a proxied request before the upstream answered."""


class UpstreamConnectError(ProxyError):
    """The upstream could not be reached (refused, unreachable, DNS)."""


class UpstreamHostLookupError(UpstreamConnectError):
    """The upstream host name did not resolve."""


class UpstreamTimeout(ProxyError):
    """The upstream did not answer in time; `phase` is `connect` or `response`."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        super().__init__(f"upstream timeout during {phase}")


class UpstreamProtocolError(ProxyError):
    """The upstream sent something that is not valid HTTP, or closed mid-message."""


class AllHostsDown(ProxyError):
    """No load-balancing target may receive traffic."""


class ClientProtocolError(Exception):
    """The client sent an invalid request; `status` is the 4xx to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")
