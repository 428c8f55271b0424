"""Running one uptime check (DECISIONS §15): an HTTP request, or a TCP/TLS conversation, through the
`health` external service (its proxy, mTLS, TLS settings and timeout).

* HTTP: the check's method, headers and body; any 2xx is a success (Tyk wants exactly 200). Redirects are
  not followed: a 3xx is a failure, named as such.
* TCP/TLS: connect (a `tls://` check does the TLS handshake, verified like any call of the service: Tyk's
  never succeed); with `proxy_protocol` a PROXY v1 line goes first (TCP checks only); then each command in
  order: `send` writes its message, `expect` reads exactly as many bytes and compares.
* A check of an API's upstream host (its `host:port` is one of the API's targets) over TLS uses that API's
  upstream TLS (trust, versions, client certificate, pins), as requests to it do; the proxy stays the service's.
* Every check is bounded by its own `timeout`, else the service's. A failure never raises: it is a
  `CheckResult` with `ok=False` and a short reason (`timeout`, `HTTP 503`, `connect: ...`), which the host
  report shows and the `HostDown` event carries.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bascule.config.upstream_checks import UptimeCheck
from bascule.core.proxy_protocol import proxy_v1_header
from bascule.errors import ExternalServiceUnavailable, ProxyError, UpstreamTimeout
from bascule.outbound.service_client import ServiceClient


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str
    """`HTTP 200`, `tcp ok`, or why it failed."""
    status: int = 0
    """The HTTP status (0 for socket checks and transport failures)."""
    latency: float | None = None
    """Seconds to the answer (None when there was none)."""
    tcp_error: bool = False
    """The check failed below HTTP: refused, reset, timed out, TLS."""


async def run_check(
    check: UptimeCheck, client: ServiceClient, tls_context: ssl.SSLContext | None = None
) -> CheckResult:
    """`tls_context`: the TLS of the API whose upstream this check vouches for (else the service's)."""
    began = time.perf_counter()
    timeout = check.timeout if check.timeout is not None else client.profile.timeout
    try:
        async with asyncio.timeout(timeout):
            if check.kind == "http":
                return await _http_check(check, client, timeout, began, tls_context)
            return await _socket_check(check, client, timeout, began, tls_context)
    except TimeoutError:
        return CheckResult(False, f"timeout after {timeout:g}s", tcp_error=True)
    except UpstreamTimeout as exc:
        return CheckResult(False, f"timeout ({exc})", tcp_error=True)
    except ExternalServiceUnavailable as exc:
        return CheckResult(False, f"health service refused the call: {exc}", tcp_error=True)
    except (ProxyError, OSError, EOFError, ValueError) as exc:
        return CheckResult(False, f"{type(exc).__name__}: {exc}", tcp_error=True)


async def _http_check(
    check: UptimeCheck, client: ServiceClient, timeout: float, began: float, tls_context: ssl.SSLContext | None
) -> CheckResult:
    answer = await client.request(
        check.method, check.url, check.headers, check.body, timeout=timeout, tls_context=tls_context
    )
    latency = time.perf_counter() - began
    ok = 200 <= answer.status < 300
    return CheckResult(ok, f"HTTP {answer.status}", answer.status, latency)


async def _socket_check(
    check: UptimeCheck, client: ServiceClient, timeout: float, began: float, tls_context: ssl.SSLContext | None
) -> CheckResult:
    parts = urlsplit(check.url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"check URL {check.url!r} needs a host and a port")
    if check.proxy_protocol and check.kind == "tls":
        raise ValueError("PROXY protocol on a tls:// check is not supported")
    reader, writer = await client.open_stream(check.kind, parts.hostname, parts.port, timeout, tls_context)
    try:
        if check.proxy_protocol:
            writer.write(proxy_v1_header(_address(writer, "sockname"), _address(writer, "peername")))
        for command in check.commands:
            if command.name == "send":
                writer.write(command.message)
                await writer.drain()
            else:
                received = await reader.readexactly(len(command.message))
                if received != command.message:
                    return CheckResult(False, f"expected {command.message!r}, got {received!r}")
        await writer.drain()
    finally:
        writer.close()
    return CheckResult(True, f"{check.kind} ok", 0, time.perf_counter() - began)


def _address(writer: asyncio.StreamWriter, name: str) -> tuple[str, int] | None:
    address = writer.get_extra_info(name)
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None
