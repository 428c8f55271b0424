"""`bascule doctor`: what each external service would do, and where each value came from, as text or JSON.

Pure functions from resolved settings (`ServiceProfile`s) and probe results to lines; the probe's I/O is in
`bascule.doctor_probe`. Nothing here merges settings again: the profiles are already resolved (DECISIONS
§5-13), and each value's origin (service, global, environment, legacy, default) is read from
`ServiceProfile.origins`.

Invariants (`tests/unit/test_doctor.py`):
- One line per service and setting, in `PROFILE_SETTINGS` order, services in `ServiceType` order:
  `<service> <setting> <origin> <value>`, the first three in fixed-width columns, so `grep '^oauth '` or
  `awk '$3 == "environment"'` work. Derived lines (`tls_setup`, `problem`) have origin `-`.
- Proxy URLs appear only as `ProxyEndpoint.redacted`: never a password. Key file paths are not shown
  (`key_file=(set)`), as in `outbound.client_tls` errors.
- A probe is one line per phase: `phase <name> <ok|fail|skip> <time> <detail>`; its result is `ok` when no
  phase failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bascule.config.outbound import ProxyEndpoint, ServiceProfile, ServiceType, TlsClientSettings
from bascule.config.outbound_defaults import PROFILE_SETTINGS
from bascule.core.proxy_bypass import should_bypass
from bascule.core.proxy_route import choose_proxy
from bascule.errors import ProxyConnectError, UpstreamTimeout, UpstreamTlsError
from bascule.outbound.proxy_connect import ConnectPlan

DERIVED = "-"
"""The origin column of lines computed from several settings."""
PhaseStatus = Literal["ok", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class SettingLine:
    service: str
    setting: str
    origin: str
    """A `ValueOrigin`, or `DERIVED`."""
    value: str


def describe_client_certificate(tls: TlsClientSettings) -> str:
    """The certificate presented to the service: a store id, a file (the key's path withheld), or none."""
    if tls.cert_id:
        return f"client_cert=store:{tls.cert_id}"
    if tls.cert_file is not None:
        key = " key_file=(set)" if tls.key_file is not None else ""
        return f"client_cert={tls.cert_file}{key}"
    return "client_cert=none"


def describe_trust(tls: TlsClientSettings) -> str:
    """What the service's certificate is verified against (DECISIONS §9: the store wins over files)."""
    if tls.ca_cert_ids:
        return "ca=store:" + ",".join(tls.ca_cert_ids)
    if tls.ca_file is not None:
        return f"ca={tls.ca_file}"
    return "ca=system-roots"


def _proxy(proxy: ProxyEndpoint | None) -> str:
    return proxy.redacted if proxy is not None else "none"


def _https_proxy(profile: ServiceProfile) -> str:
    route = profile.proxy
    if route.https_proxy is None and route.http_proxy is not None:
        return "none (https:// targets use http_proxy)"
    return _proxy(route.https_proxy)


def _bypass(profile: ServiceProfile) -> str:
    shown = ",".join(entry.text for entry in profile.proxy.bypass) or "none"
    if profile.proxy.loopback_never_proxied:
        shown += " (and loopback: the proxy comes from the environment only, Go's rule)"
    return shown


def _tls(profile: ServiceProfile) -> str:
    tls = profile.tls
    parts = (describe_client_certificate(tls), describe_trust(tls), f"versions={tls.min_version}-{tls.max_version}")
    return " ".join(parts)


def _insecure(profile: ServiceProfile) -> str:
    return "true (the service's certificate is NOT verified)" if profile.tls.insecure_skip_verify else "false"


def _pool(profile: ServiceProfile) -> str:
    pool = profile.pool
    return (
        f"max_idle={pool.max_idle} max_idle_per_host={pool.max_idle_per_host} "
        f"idle_timeout={_seconds(pool.idle_timeout)} tls_handshake_timeout={_seconds(pool.tls_handshake_timeout)}"
    )


def _seconds(value: float) -> str:
    return f"{value:g}s"


SETTING_VALUES: Mapping[str, Callable[[ServiceProfile], str]] = {
    "http_proxy": lambda profile: _proxy(profile.proxy.http_proxy),
    "https_proxy": _https_proxy,
    "bypass_proxy": _bypass,
    "tls": _tls,
    "insecure_skip_verify": _insecure,
    "pool": _pool,
    "timeout": lambda profile: _seconds(profile.timeout),
}
"""How each key of `ServiceProfile.origins` is shown; one row per `PROFILE_SETTINGS` entry, in its order."""


def setting_lines(
    profiles: Mapping[ServiceType, ServiceProfile], tls_setup: Mapping[ServiceType, str] | None = None
) -> list[SettingLine]:
    """Every service's settings with their origins, then its `tls_setup` result (when given) and problems."""
    lines: list[SettingLine] = []
    for service in ServiceType:
        profile = profiles.get(service)
        if profile is None:
            continue
        for setting in PROFILE_SETTINGS:
            value = SETTING_VALUES[setting](profile)
            lines.append(SettingLine(service, setting, profile.origins.get(setting, "default"), value))
        if tls_setup is not None and service in tls_setup:
            lines.append(SettingLine(service, "tls_setup", DERIVED, tls_setup[service]))
        lines.extend(SettingLine(service, "problem", DERIVED, problem) for problem in profile.problems)
    return lines


# --- which proxy a probe takes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteChoice:
    proxy: ProxyEndpoint | None
    reason: str


def choose_route(profile: ServiceProfile, scheme: str, host: str, port: int) -> RouteChoice:
    """The proxy a call to `scheme://host:port` takes (`choose_proxy` decides) and why, in words."""
    route = profile.proxy
    proxy = choose_proxy(route, scheme, host, port)
    if proxy is not None:
        setting = "https_proxy" if proxy is route.https_proxy and scheme != "http" else "http_proxy"
        origin = profile.origins.get(setting, "default")
        return RouteChoice(proxy, f"via {proxy.redacted} ({setting}, from {origin})")
    unbypassed = choose_proxy(replace(route, bypass=(), loopback_never_proxied=False), scheme, host, port)
    if unbypassed is None:
        return RouteChoice(None, f"direct: no proxy configured for {scheme}:// targets")
    matched = next((e.text for e in route.bypass if should_bypass(host, port, (e.text,))), None)
    if matched is not None:
        return RouteChoice(None, f'direct: bypass entry "{matched}" matches {host}:{port}')
    return RouteChoice(None, "direct: loopback is never proxied when the proxy comes from the environment only")


# --- probe results -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhaseResult:
    phase: str
    status: PhaseStatus
    seconds: float | None
    """How long the phase took; None when it did not run or has no time of its own."""
    detail: str


@dataclass(frozen=True, slots=True)
class ProbeReport:
    service: str
    method: str
    url: str
    """As given, with any user info redacted."""
    route: str
    phases: tuple[PhaseResult, ...]

    @property
    def succeeded(self) -> bool:
        return all(phase.status != "fail" for phase in self.phases)

    @property
    def failed_phase(self) -> PhaseResult | None:
        return next((phase for phase in self.phases if phase.status == "fail"), None)


def planned_phases(plan: ConnectPlan) -> tuple[str, ...]:
    """The phases a probe reports for `plan`, in order; those named like `ProxyConnector.open`'s are its own.

    Direct: `connect`, then `proxy` (skipped, saying why). Through a proxy: `proxy connect`, `proxy tls` for
    an `https://` proxy, then `proxy CONNECT` (a tunnel) or `proxy request` (absolute form, DECISIONS §7).
    """
    if plan.proxy is None:
        hops: tuple[str, ...] = ("connect", "proxy")
    else:
        tunnel_or_forward = "proxy CONNECT" if plan.tunnel else "proxy request"
        hops = ("proxy connect", *(("proxy tls",) if plan.proxy_tls else ()), tunnel_or_forward)
    return ("setup", "dns", *hops, "tls", "pin", "http")


def describe_failure(error: BaseException) -> str:
    """An error of `ProxyConnector.open` as a phase detail: the redacted proxy and the cause, in Go's case
    (`connection refused`, as Tyk logs it and the docs' FAQ quotes it)."""
    if isinstance(error, ProxyConnectError):
        return f"{error.proxy}: {_go_case(error.cause)}"
    if isinstance(error, UpstreamTlsError):
        return error.cause
    if isinstance(error, UpstreamTimeout):
        return "timed out"
    head, separator, cause = str(error).rpartition(": ")
    return f"{head}{separator}{_go_case(cause)}" if cause else type(error).__name__


def _go_case(text: str) -> str:
    """`Connection refused` -> `connection refused`; acronyms (`TLSV1_ALERT...`, `EOF`) are kept."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


@dataclass(frozen=True, slots=True)
class TlsSession:
    """What a finished handshake negotiated and what the peer presented (RFC 4514 names)."""

    version: str
    cipher: str
    subject: str
    issuer: str
    verified: bool


def describe_tls_session(session: TlsSession, tls: TlsClientSettings, host: str) -> str:
    check = f"verified against {describe_trust(tls)} for {host}" if session.verified else "NOT verified"
    if not session.verified and tls.insecure_skip_verify:
        check += " (insecure_skip_verify)"
    return (
        f"{session.version} {session.cipher}; subject {session.subject}; issuer {session.issuer}; {check}; "
        f"{describe_client_certificate(tls)}"
    )


@dataclass(frozen=True, slots=True)
class DoctorReport:
    source: Path | None
    settings: tuple[SettingLine, ...]
    warnings: tuple[str, ...] = ()
    probe: ProbeReport | None = None


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 6)


def _milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"


def render_text(report: DoctorReport) -> list[str]:
    """The report as plain lines (module docstring)."""
    lines = [f"config: {report.source if report.source is not None else 'embedded defaults'}"]
    lines.extend(f"{s.service:<9} {s.setting:<20} {s.origin:<11} {s.value}" for s in report.settings)
    if report.probe is not None:
        lines.extend(render_probe(report.probe))
    return lines


def render_probe(probe: ProbeReport) -> list[str]:
    lines = [f"probe: {probe.service} {probe.method} {probe.url}", f"route: {probe.route}"]
    for phase in probe.phases:
        lines.append(f"phase {phase.phase:<13} {phase.status:<4} {_milliseconds(phase.seconds):>9}  {phase.detail}")
    failed = probe.failed_phase
    lines.append("result: ok" if failed is None else f"result: fail in phase {failed.phase}: {failed.detail}")
    return lines


def render_json(report: DoctorReport) -> str:
    """The report for machines: the same values and texts as `render_text`, structured."""
    services: dict[str, dict[str, object]] = {}
    problems: dict[str, list[str]] = {}
    for line in report.settings:
        block = services.setdefault(line.service, {})
        if line.setting == "problem":
            problems.setdefault(line.service, []).append(line.value)
        else:
            block[line.setting] = {"value": line.value, "origin": line.origin}
    for service, block in services.items():
        block["problems"] = problems.get(service, [])
    document: dict[str, object] = {
        "config": str(report.source) if report.source is not None else None,
        "warnings": list(report.warnings),
        "services": services,
    }
    if report.probe is not None:
        document["probe"] = _probe_document(report.probe)
    return json.dumps(document, indent=2)


def _probe_document(probe: ProbeReport) -> dict[str, object]:
    phases: Sequence[PhaseResult] = probe.phases
    failed = probe.failed_phase
    return {
        "service": probe.service,
        "method": probe.method,
        "url": probe.url,
        "route": probe.route,
        "phases": [
            {"phase": p.phase, "status": p.status, "seconds": _rounded(p.seconds), "detail": p.detail} for p in phases
        ],
        "ok": failed is None,
        "failed_phase": failed.phase if failed is not None else None,
    }
