"""Exceptions named by blame and phase.

Configuration problems name the file and the JSON path; request-path errors name who failed (client,
upstream) and in which phase, and `bascule.proxy.errors` maps each to one status and body.
"""

from __future__ import annotations

import ssl
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


class ProxyConnectError(UpstreamConnectError):
    """A forward proxy in front of the target failed us.

    `phase` says where: `proxy connect` (dialling the proxy), `proxy tls` (TLS to an `https://` proxy),
    `proxy CONNECT` (the tunnel request) or `proxy request` (an absolute-form request the proxy refused).
    `proxy` is the redacted proxy URL, never with its password; `status` is the proxy's answer when it gave one.
    """

    def __init__(self, phase: str, proxy: str, cause: str, target: str = "", status: int | None = None) -> None:
        self.phase = phase
        self.proxy = proxy
        self.cause = cause
        self.target = target
        self.status = status
        towards = f" to {target}" if target else ""
        super().__init__(f"{phase}{towards} via {proxy}: {cause}")


class ProxyAuthenticationRequired(ProxyConnectError):
    """The proxy answered 407: credentials missing or refused. Its body is never kept (it may echo them)."""

    def __init__(self, phase: str, proxy: str, target: str = "") -> None:
        super().__init__(phase, proxy, "proxy authentication required", target, 407)


class UpstreamTlsError(UpstreamConnectError):
    """The TLS handshake with the target failed: verification, protocol version, client certificate."""

    phase = "tls"

    def __init__(self, target: str, cause: str, proxy: str = "") -> None:
        self.target = target
        self.cause = cause
        self.proxy = proxy
        via = f" via {proxy}" if proxy else ""
        super().__init__(f"tls to {target}{via}: {cause}")


class TlsSetupError(Exception):
    """TLS client settings that cannot be turned into a context (missing file, bad PEM, unknown store id)."""


class ExternalServiceUnavailable(Exception):
    """A service whose outbound settings have problems: every call fails closed (DECISIONS §10)."""

    def __init__(self, service: str, problems: tuple[str, ...]) -> None:
        self.service = service
        self.problems = problems
        super().__init__(f"external service {service} is not usable: {'; '.join(problems)}")


class ResponseTooLarge(UpstreamProtocolError):
    """A response body above the caller's limit; the connection is dropped, the body never returned."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"response body larger than {limit} bytes")


class PinMismatch(UpstreamTlsError, ssl.SSLError):
    """No certificate the upstream presented has a pinned SubjectPublicKeyInfo SHA-256 (DECISIONS §17).

    Raised inside the TLS handshake (an `ssl.SSLError`, so the event loop fails the handshake with it), before
    any request byte is sent. `expected` are the pinned hashes for `host`, `observed` those of the chain."""

    def __init__(self, host: str, expected: frozenset[str], observed: tuple[str, ...]) -> None:
        self.host = host
        self.expected = expected
        self.observed = observed
        cause = (
            f"certificate public key pinning error: expected one of {', '.join(sorted(expected))}; "
            f"observed {', '.join(observed) or 'no certificate'}"
        )
        super().__init__(host, cause)
        self.library = "bascule"
        self.reason = "PUBLIC_KEY_PIN_MISMATCH"

    def __str__(self) -> str:  # OSError's would show the arguments as a tuple
        return f"tls to {self.target}: {self.cause}"
