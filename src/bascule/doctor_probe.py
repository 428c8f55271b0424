"""The I/O half of `bascule doctor`: one probe request through a service's profile, and the TLS setup check.

`probe(profile, url)` makes one `GET` as the gateway's own client would (same proxy choice, TLS contexts
and connector) and times it phase by phase (`doctor.planned_phases`):

    setup      the profile's problems; its TLS contexts built from the files, as `ServiceClient` builds them
    dns        `getaddrinfo` of the host dialled: the proxy's when there is one (the proxy resolves the target)
    connect / proxy connect / proxy tls / proxy CONNECT / tls
               timed by `ProxyConnector.open` itself (`on_phase`); `tls` then says version, cipher, the peer
               certificate's subject and issuer, and how it was verified
    proxy request   plain http through a proxy: the request goes in absolute form, so the proxy's verdict is
               the answer's status (407: proxy authentication required, a failure)
    pin        not configured: certificate pinning for external services arrives later
    http       the status line, timed to its first byte

A phase after a failed one is `skip` "not reached". One connection, no retry, `Connection: close`; the
profile's timeout bounds the whole probe. The probe succeeds when a status line arrives, whatever its code,
unless it is the proxy's 407. Proxy credentials go to the proxy only, and no header value is ever shown.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from typing import cast
from urllib.parse import quote, urlsplit

from cryptography import x509

from bascule import __version__
from bascule.config.outbound import ServiceProfile
from bascule.core.upstream_url import UpstreamTarget, parse_target
from bascule.doctor import (
    PhaseResult,
    ProbeReport,
    TlsSession,
    choose_route,
    describe_failure,
    describe_tls_session,
    planned_phases,
)
from bascule.errors import ProxyError, TlsSetupError
from bascule.observability.redaction import redact_url
from bascule.outbound.client_tls import TlsMaterial, build_client_context, build_proxy_context
from bascule.outbound.proxy_connect import ConnectPlan, ProxyConnector, Target, parse_connect_reply, plan_connection
from bascule.outbound.proxy_connect import proxy_authorization as proxy_credentials

MAX_STATUS_LINE = 8 * 1024
PROBE_SCHEMES = ("http", "https")
STORE_NOT_READ = "certificate store ids (cert_id, ca_cert_ids) are resolved by the running gateway, not by doctor"
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"


def parse_probe_url(url: str) -> UpstreamTarget:
    """An `http://` or `https://` URL to probe; ValueError saying what is wrong."""
    if "@" in urlsplit(url.strip()).netloc:  # checked first: no message below may repeat a password
        raise ValueError("credentials in the URL are not sent")
    target = parse_target(url)
    if target.scheme not in PROBE_SCHEMES:
        raise ValueError(f"the probe speaks http:// and https:// only, not {target.scheme}://")
    return target


def check_tls_setup(profile: ServiceProfile, material: TlsMaterial | None = None) -> str:
    """`ok`, or why the service's TLS context cannot be built (missing file, bad PEM): every call would fail."""
    if material is None and (profile.tls.cert_id or profile.tls.ca_cert_ids):
        return f"not checked: {STORE_NOT_READ}"
    try:
        build_client_context(profile.tls, material)
    except TlsSetupError as exc:
        return f"Failed to configure TLS: {exc}"
    return "ok"


class _StatusLineReader(asyncio.Protocol):
    """Notes when the answer's first byte arrives and resolves `line` with its first line."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.first_byte_at: float | None = None
        """`time.perf_counter()` when the first byte came."""
        self.line: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.first_byte_at is None and data:
            self.first_byte_at = time.perf_counter()
        if self.line.done():
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n")
        if end >= 0:
            self.line.set_result(bytes(self._buffer[:end]))
        elif len(self._buffer) > MAX_STATUS_LINE:
            self.line.set_exception(ValueError("status line too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None and not self.line.done():  # uvloop calls it after a failed handshake too
            self.line.set_exception(exc or ConnectionResetError("connection closed before the status line"))


class _Probe:
    """One probe's state: the plan, the TLS contexts, and the results so far, by phase."""

    def __init__(self, profile: ServiceProfile, url: UpstreamTarget) -> None:
        self.profile = profile
        self.url = url
        self.target = Target(url.scheme, url.host, url.port)
        self.choice = choose_route(profile, url.scheme, url.host, url.port)
        self.plan: ConnectPlan = plan_connection(self.target, self.choice.proxy)
        self.results: dict[str, PhaseResult] = {"pin": PhaseResult("pin", "skip", None, "not configured")}
        if self.plan.proxy is None:
            self._skip("proxy", self.choice.reason)
        if not self.plan.target_tls:
            self._skip("tls", "plain http target: no TLS")
        self.target_tls: ssl.SSLContext | None = None
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + profile.timeout
        """On the loop's clock, as `asyncio.timeout_at` wants; phases are timed with `time.perf_counter`."""

    def _skip(self, phase: str, detail: str) -> None:
        self.results[phase] = PhaseResult(phase, "skip", None, detail)

    def _record(self, phase: str, ok: bool, seconds: float | None, detail: str) -> None:
        self.results[phase] = PhaseResult(phase, "ok" if ok else "fail", seconds, detail)

    def report(self, url: str) -> ProbeReport:
        phases = tuple(
            self.results.get(name) or PhaseResult(name, "skip", None, "not reached")
            for name in planned_phases(self.plan)
        )
        return ProbeReport(str(self.profile.service), "GET", redact_url(url), self.choice.reason, phases)

    def set_up(self, material: TlsMaterial | None) -> ProxyConnector | None:
        """The connector `ServiceClient` would build: the client context always (a TLS setup failure refuses
        every call of the service, DECISIONS §10), the proxy context when this call needs it."""
        if self.profile.problems:
            self._record("setup", False, None, "; ".join(self.profile.problems))
            return None
        tls = self.profile.tls
        try:
            self.target_tls = build_client_context(tls, material)
            proxy_tls = build_proxy_context(tls, material) if self.plan.proxy_tls else None
        except TlsSetupError as exc:
            hint = f" ({STORE_NOT_READ})" if material is None and (tls.cert_id or tls.ca_cert_ids) else ""
            self._record("setup", False, None, f"Failed to configure TLS: {exc}{hint}")
            return None
        self._record("setup", True, None, f"profile usable; timeout {self.profile.timeout:g}s")
        return ProxyConnector(self.target_tls, proxy_tls, self.profile.pool.tls_handshake_timeout)

    async def resolve(self) -> bool:
        host, port = self.plan.dial_host, self.plan.dial_port
        began = time.perf_counter()
        try:
            async with asyncio.timeout_at(self.deadline):
                infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            self._record("dns", False, time.perf_counter() - began, f"lookup {host}: {exc.strerror}")
            return False
        except TimeoutError:
            self._record("dns", False, time.perf_counter() - began, f"lookup {host}: timed out")
            return False
        addresses = ", ".join(sorted({str(info[4][0]) for info in infos}))
        if self.plan.proxy is None:
            detail = f"{host} -> {addresses}"
        else:
            detail = f"proxy {host} -> {addresses}; the proxy resolves {self.target.host}"
        self._record("dns", True, time.perf_counter() - began, detail)
        return True

    async def connect(self, connector: ProxyConnector) -> _StatusLineReader | None:
        proxy = self.plan.proxy
        details: Mapping[str, str] = {
            "connect": self.target.authority,
            "proxy connect": proxy.redacted if proxy is not None else "",
            "proxy tls": "the proxy's certificate verified (system roots and the profile's CA)",
            "proxy CONNECT": f"tunnel to {self.target.authority} established (2xx)",
            "tls": "handshake done",
        }

        def observe(phase: str, seconds: float, error: BaseException | None) -> None:
            detail = details.get(phase, "") if error is None else describe_failure(error)
            self._record(phase, error is None, seconds, detail)

        remaining = self.deadline - self.loop.time()
        try:
            opened = await connector.open(self.target, proxy, _StatusLineReader, remaining, on_phase=observe)
        except ProxyError:
            return None  # `observe` recorded the phase that failed
        reader = opened.protocol
        if self.plan.target_tls and reader.transport is not None:
            tls_result = self.results["tls"]
            detail = self._tls_detail(reader.transport)
            self.results["tls"] = PhaseResult("tls", "ok", tls_result.seconds, detail)
        return reader

    def _tls_detail(self, transport: asyncio.Transport) -> str:
        ssl_object = transport.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return "handshake done (no session details)"
        der = ssl_object.getpeercert(binary_form=True)
        certificate = x509.load_der_x509_certificate(der) if der else None
        cipher = ssl_object.cipher()
        session = TlsSession(
            version=ssl_object.version() or "?",
            cipher=cipher[0] if cipher else "?",
            subject=certificate.subject.rfc4514_string() if certificate is not None else "(none)",
            issuer=certificate.issuer.rfc4514_string() if certificate is not None else "(none)",
            verified=self.target_tls is not None and self.target_tls.verify_mode == ssl.CERT_REQUIRED,
        )
        return describe_tls_session(session, self.profile.tls, self.target.host)

    async def exchange(self, reader: _StatusLineReader) -> None:
        assert reader.transport is not None
        began = time.perf_counter()
        reader.transport.write(self._request())
        try:
            async with asyncio.timeout_at(self.deadline):
                line = await reader.line
        except TimeoutError:
            self._record("http", False, time.perf_counter() - began, "no answer: timed out")
            return
        except (OSError, ValueError) as exc:
            self._record(
                "http", False, time.perf_counter() - began, f"no status line: {str(exc) or type(exc).__name__}"
            )
            return
        finally:
            reader.transport.abort()
        first_byte = (reader.first_byte_at or time.perf_counter()) - began
        shown = "".join(c for c in line[:200].decode("latin-1") if c.isprintable())
        try:
            status, _ = parse_connect_reply(line + b"\r\n")
        except ValueError:
            self._record("http", False, first_byte, f"not an HTTP/1.x status line: {shown!r}")
            return
        self._record("http", True, first_byte, f"{shown}; first byte after {first_byte * 1000:.1f}ms")
        proxy = self.plan.proxy
        if self.plan.absolute_form and proxy is not None:
            if status == 407:
                self._record("proxy request", False, None, f"{proxy.redacted}: proxy authentication required (407)")
            else:
                detail = f"absolute-form request through {proxy.redacted}; answered {status}"
                self._record("proxy request", True, None, detail)

    def _request(self) -> bytes:
        url, plan = self.url, self.plan
        path = quote(url.path or "/", safe=_PATH_SAFE) + (f"?{quote(url.query, safe=_PATH_SAFE)}" if url.query else "")
        host = url.host_header_bytes.decode("ascii")
        target = f"{url.scheme}://{host}{path}" if plan.absolute_form else path
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}",
            f"User-Agent: bascule-doctor/{__version__}",
            "Accept: */*",
            "Connection: close",
        ]
        head = ("\r\n".join(lines) + "\r\n").encode("ascii")
        if plan.absolute_form and plan.proxy is not None and (credentials := proxy_credentials(plan.proxy)):
            head += b"Proxy-Authorization: " + credentials + b"\r\n"
        return head + b"\r\n"


async def probe(profile: ServiceProfile, url: str, material: TlsMaterial | None = None) -> ProbeReport:
    """One GET of `url` through `profile` (module docstring); ValueError when `url` cannot be probed."""
    run = _Probe(profile, parse_probe_url(url))
    connector = run.set_up(material)
    if connector is not None and await run.resolve():
        reader = await run.connect(connector)
        if reader is not None:
            await run.exchange(reader)
    return run.report(url)
