"""`bascule doctor` report: the seed's example configs loaded from a file show the right proxies, bypass lists,
TLS and origins; routes, planned phases, failure texts and rendering as tables. No sockets here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from seed_external_services import SEED_EXAMPLES

from bascule.cli import main
from bascule.compat.tyk.load_gateway import load_gateway_settings
from bascule.config.outbound import (
    BypassEntry,
    PoolLimits,
    ProxyEndpoint,
    ProxyRoute,
    ServiceProfile,
    ServiceType,
    TlsClientSettings,
    ValueOrigin,
)
from bascule.config.outbound_defaults import PROFILE_SETTINGS, default_profile
from bascule.doctor import (
    SETTING_VALUES,
    DoctorReport,
    PhaseResult,
    ProbeReport,
    TlsSession,
    choose_route,
    describe_failure,
    describe_tls_session,
    planned_phases,
    render_json,
    render_probe,
    render_text,
    setting_lines,
)
from bascule.doctor_probe import check_tls_setup, parse_probe_url
from bascule.errors import (
    ProxyAuthenticationRequired,
    ProxyConnectError,
    UpstreamConnectError,
    UpstreamHostLookupError,
    UpstreamTimeout,
    UpstreamTlsError,
)
from bascule.outbound.proxy_connect import Target, plan_connection

PASSWORD = "pw-5e3b1d"
DEFAULT_TLS = "client_cert=none ca=system-roots versions=1.2-1.3"

# The seed's examples, by number ("2s": example 2 with the certificate store); example 5 without its webhooks
# block, so that the webhooks rows show the global settings.
EXAMPLES: Mapping[str, dict[str, Any]] = {
    **SEED_EXAMPLES,
    "5": {service: block for service, block in SEED_EXAMPLES["5"].items() if service != "webhooks"},
}

Row = tuple[str, str, str, str]
"""(service, setting, origin, value) as `setting_lines` gives it."""


def report_rows(tmp_path: Path, document: dict[str, Any], environ: dict[str, str] | None = None) -> set[Row]:
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps(document), encoding="utf-8")
    profiles = load_gateway_settings(conf, environ or {}).settings.external_services
    return {(line.service, line.setting, line.origin, line.value) for line in setting_lines(profiles)}


SEED_ROWS: list[tuple[str, dict[str, Any], dict[str, str], list[Row]]] = [
    (
        "example 1: global proxy for every service",
        {"external_services": EXAMPLES["1"]},
        {},
        [
            *((s, "http_proxy", "global", "http://localhost:3128") for s in ServiceType),
            *((s, "https_proxy", "global", "https://localhost:3128") for s in ServiceType),
            *((s, "bypass_proxy", "global", "localhost,127.0.0.1,.internal") for s in ServiceType),
            *((s, "tls", "default", DEFAULT_TLS) for s in ServiceType),
        ],
    ),
    (
        "example 2: oauth's own proxy and file mTLS, the global bypass list",
        {"external_services": EXAMPLES["2"]},
        {},
        [
            ("oauth", "http_proxy", "service", "http://localhost:3129"),
            ("oauth", "https_proxy", "service", "https://localhost:3129"),
            ("oauth", "bypass_proxy", "global", "localhost,127.0.0.1"),
            (
                "oauth",
                "tls",
                "service",
                "client_cert=/etc/tyk/certs/oauth-client.crt key_file=(set) ca=/etc/tyk/certs/oauth-ca.crt "
                "versions=1.2-1.3",
            ),
            ("webhooks", "http_proxy", "global", "http://localhost:3128"),
            ("webhooks", "tls", "default", DEFAULT_TLS),
        ],
    ),
    (
        "example 2, certificate store",
        {"external_services": EXAMPLES["2s"]},
        {},
        [("oauth", "tls", "service", "client_cert=store:oauth-client-cert ca=store:oauth-ca-cert versions=1.2-1.3")],
    ),
    (
        "example 3: storage keeps the global URLs with its own bypass list",
        {"external_services": EXAMPLES["3"]},
        {},
        [
            ("storage", "http_proxy", "global", "http://localhost:3128"),
            ("storage", "https_proxy", "global", "https://localhost:3128"),
            ("storage", "bypass_proxy", "service", "localhost,127.0.0.1,redis.internal"),
            (
                "storage",
                "tls",
                "service",
                "client_cert=/etc/tyk/certs/redis-client.crt key_file=(set) ca=system-roots versions=1.2-1.3",
            ),
            ("webhooks", "http_proxy", "service", "http://localhost:3130"),
            ("webhooks", "https_proxy", "service", "https://localhost:3130"),
            ("webhooks", "bypass_proxy", "global", "localhost,127.0.0.1,redis"),
            ("oauth", "http_proxy", "global", "http://localhost:3128"),
        ],
    ),
    (
        "example 4: webhooks' enabled alone inherits the global proxy",
        {"external_services": EXAMPLES["4"]},
        {},
        [
            ("webhooks", "http_proxy", "global", "http://proxy.company.com:8080"),
            ("webhooks", "https_proxy", "global", "https://proxy.company.com:8080"),
            ("webhooks", "bypass_proxy", "global", "localhost,127.0.0.1,.company.internal"),
            ("oauth", "insecure_skip_verify", "service", "false"),
            (
                "oauth",
                "tls",
                "service",
                "client_cert=/etc/tyk/certs/oauth-client.crt key_file=(set) "
                "ca=/etc/tyk/certs/company-ca.crt versions=1.2-1.3",
            ),
        ],
    ),
    (
        "example 5: the certificate store for every service, CA chain",
        {"external_services": EXAMPLES["5"]},
        {},
        [
            (
                "oauth",
                "tls",
                "service",
                "client_cert=store:oauth-client-prod ca=store:oauth-ca-prod,intermediate-ca versions=1.2-1.3",
            ),
            (
                "storage",
                "tls",
                "service",
                "client_cert=store:redis-client-prod ca=store:redis-ca-prod versions=1.2-1.3",
            ),
            ("health", "tls", "default", DEFAULT_TLS),
            ("health", "http_proxy", "global", "http://proxy.company.com:8080"),
        ],
    ),
    (
        "environment: enabled without URLs reads HTTP_PROXY and NO_PROXY, password redacted",
        {"external_services": {"global": {"enabled": True}}},
        {"HTTP_PROXY": f"http://ops:{PASSWORD}@envproxy:3128", "no_proxy": "corp.example"},
        [
            ("oauth", "http_proxy", "environment", "http://ops:***@envproxy:3128"),
            ("oauth", "https_proxy", "default", "none (https:// targets use http_proxy)"),
            (
                "oauth",
                "bypass_proxy",
                "environment",
                "corp.example,.corp.example (and loopback: the proxy comes from the environment only, Go's rule)",
            ),
        ],
    ),
    (
        "legacy keys: top-level http_proxy and jwt_ssl_insecure_skip_verify",
        {"http_proxy": "http://legacy:3000", "jwt_ssl_insecure_skip_verify": True},
        {},
        [
            *((s, "http_proxy", "legacy", "http://legacy:3000") for s in ServiceType),
            ("oauth", "insecure_skip_verify", "legacy", "true (the service's certificate is NOT verified)"),
            ("webhooks", "insecure_skip_verify", "default", "false"),
        ],
    ),
    (
        "TYK_GW_ variables are the service's own settings; pool and timeout overrides",
        {"external_services": {"health": {"timeout": 3, "pool": {"max_idle": 7}}}},
        {"TYK_GW_EXTERNAL_SERVICES_WEBHOOKS_PROXY_HTTP_PROXY": "http://from-env:8080"},
        [
            ("webhooks", "http_proxy", "service", "http://from-env:8080"),
            ("health", "timeout", "service", "3s"),
            ("health", "pool", "service", "max_idle=7 max_idle_per_host=5 idle_timeout=15s tls_handshake_timeout=5s"),
            ("discovery", "timeout", "default", "10s"),
        ],
    ),
    (
        "defaults: nothing configured",
        {},
        {"HTTP_PROXY": "http://ignored:1"},
        [
            *((s, "http_proxy", "default", "none") for s in ServiceType),
            *((s, "bypass_proxy", "default", "none") for s in ServiceType),
            ("oauth", "pool", "default", "max_idle=50 max_idle_per_host=10 idle_timeout=30s tls_handshake_timeout=10s"),
            ("oauth", "timeout", "default", "15s"),
            ("storage", "timeout", "default", "20s"),
            ("webhooks", "timeout", "default", "30s"),
        ],
    ),
]


@pytest.mark.parametrize(("document", "environ", "expected"), [pytest.param(*r[1:], id=r[0]) for r in SEED_ROWS])
def test_report_shows_effective_values_and_origins(
    tmp_path: Path, document: dict[str, Any], environ: dict[str, str], expected: list[Row]
) -> None:
    rows = report_rows(tmp_path, document, environ)
    missing = [row for row in expected if row not in rows]
    assert missing == []
    assert all(PASSWORD not in value for *_, value in rows)


def test_every_service_gets_one_row_per_setting_in_order(tmp_path: Path) -> None:
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"external_services": EXAMPLES["3"]}), encoding="utf-8")
    lines = setting_lines(load_gateway_settings(conf, {}).settings.external_services)
    assert tuple(SETTING_VALUES) == PROFILE_SETTINGS
    assert [(line.service, line.setting) for line in lines] == [
        (service, setting) for service in ServiceType for setting in PROFILE_SETTINGS
    ]


def profile(
    http: ProxyEndpoint | None = None,
    https: ProxyEndpoint | None = None,
    bypass: tuple[str, ...] = (),
    loopback_never_proxied: bool = False,
    origins: Mapping[str, ValueOrigin] | None = None,
    tls: TlsClientSettings | None = None,
    problems: tuple[str, ...] = (),
) -> ServiceProfile:
    return ServiceProfile(
        service=ServiceType.WEBHOOKS,
        proxy=ProxyRoute(http, https, tuple(BypassEntry(e) for e in bypass), loopback_never_proxied),
        tls=tls or TlsClientSettings(),
        pool=PoolLimits(50, 10, 30.0, 10.0),
        timeout=30.0,
        problems=problems,
        origins=MappingProxyType(dict(origins or {})),
    )


SQUID = ProxyEndpoint("http", "squid.corp", 3128, "alice", PASSWORD)
TLS_PROXY = ProxyEndpoint("https", "secure.corp", 443)


@pytest.mark.parametrize(
    ("route", "url", "proxied", "reason"),
    [
        (profile(), "http://a.example/", False, "direct: no proxy configured for http:// targets"),
        (
            profile(SQUID, origins={"http_proxy": "global"}),
            "https://a.example/",
            True,
            "via http://alice:***@squid.corp:3128 (http_proxy, from global)",
        ),
        (
            profile(SQUID, TLS_PROXY, origins={"https_proxy": "service"}),
            "https://a.example/",
            True,
            "via https://secure.corp:443 (https_proxy, from service)",
        ),
        (profile(None, TLS_PROXY), "http://a.example/", False, "direct: no proxy configured for http:// targets"),
        (
            profile(SQUID, bypass=("localhost", ".internal")),
            "http://db.internal:5432/",
            False,
            'direct: bypass entry ".internal" matches db.internal:5432',
        ),
        (
            profile(SQUID, loopback_never_proxied=True),
            "http://127.0.0.1:8080/",
            False,
            "direct: loopback is never proxied when the proxy comes from the environment only",
        ),
        (
            profile(SQUID),
            "http://127.0.0.1:8080/",
            True,
            "via http://alice:***@squid.corp:3128 (http_proxy, from default)",
        ),
    ],
)
def test_choose_route_says_why(route: ServiceProfile, url: str, proxied: bool, reason: str) -> None:
    target = parse_probe_url(url)
    choice = choose_route(route, target.scheme, target.host, target.port)
    assert (choice.proxy is not None, choice.reason) == (proxied, reason)


@pytest.mark.parametrize(
    ("scheme", "proxy", "phases"),
    [
        ("http", None, ("setup", "dns", "connect", "proxy", "tls", "pin", "http")),
        ("https", None, ("setup", "dns", "connect", "proxy", "tls", "pin", "http")),
        ("http", SQUID, ("setup", "dns", "proxy connect", "proxy request", "tls", "pin", "http")),
        ("https", SQUID, ("setup", "dns", "proxy connect", "proxy CONNECT", "tls", "pin", "http")),
        ("http", TLS_PROXY, ("setup", "dns", "proxy connect", "proxy tls", "proxy request", "tls", "pin", "http")),
        ("https", TLS_PROXY, ("setup", "dns", "proxy connect", "proxy tls", "proxy CONNECT", "tls", "pin", "http")),
    ],
)
def test_planned_phases(scheme: str, proxy: ProxyEndpoint | None, phases: tuple[str, ...]) -> None:
    assert planned_phases(plan_connection(Target(scheme, "a.example", 443), proxy)) == phases


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ProxyConnectError("proxy connect", SQUID.redacted, "Connection refused", "a:80"),
            "http://alice:***@squid.corp:3128: connection refused",
        ),
        (
            ProxyAuthenticationRequired("proxy CONNECT", SQUID.redacted, "a:443"),
            "http://alice:***@squid.corp:3128: proxy authentication required",
        ),
        (
            ProxyConnectError("proxy CONNECT", "http://p:1", "proxy answered 403 Forbidden", "a:443", 403),
            "http://p:1: proxy answered 403 Forbidden",
        ),
        (
            UpstreamTlsError("https://a:443", "certificate verify failed: unable to get local issuer certificate"),
            "certificate verify failed: unable to get local issuer certificate",
        ),
        (UpstreamTlsError("https://a:443", "TLSV1_ALERT_PROTOCOL_VERSION"), "TLSV1_ALERT_PROTOCOL_VERSION"),
        (UpstreamTimeout("connect"), "timed out"),
        (
            UpstreamConnectError("connect to http://a:1: Connection refused"),
            "connect to http://a:1: connection refused",
        ),
        (
            UpstreamHostLookupError("connect to http://x.invalid:80: host lookup failed: Name or service not known"),
            "connect to http://x.invalid:80: host lookup failed: name or service not known",
        ),
    ],
)
def test_describe_failure(error: Exception, text: str) -> None:
    assert describe_failure(error) == text
    assert PASSWORD not in describe_failure(error)


@pytest.mark.parametrize(
    ("verified", "tls", "check"),
    [
        (True, TlsClientSettings(ca_file=Path("/ca.pem")), "verified against ca=/ca.pem for a.example"),
        (False, TlsClientSettings(insecure_skip_verify=True), "NOT verified (insecure_skip_verify)"),
    ],
)
def test_describe_tls_session(verified: bool, tls: TlsClientSettings, check: str) -> None:
    session = TlsSession("TLSv1.3", "TLS_AES_256_GCM_SHA384", "CN=a.example", "O=Corp CA", verified)
    text = describe_tls_session(session, tls, "a.example")
    assert text == (
        f"TLSv1.3 TLS_AES_256_GCM_SHA384; subject CN=a.example; issuer O=Corp CA; {check}; client_cert=none"
    )


def test_tls_setup_and_problems_are_derived_lines() -> None:
    broken = profile(problems=("webhooks: failed to configure proxy: bad",))
    lines = setting_lines({ServiceType.WEBHOOKS: broken}, {ServiceType.WEBHOOKS: "ok"})
    assert [(line.setting, line.origin, line.value) for line in lines[-2:]] == [
        ("tls_setup", "-", "ok"),
        ("problem", "-", "webhooks: failed to configure proxy: bad"),
    ]


def test_tls_setup_check(tmp_path: Path) -> None:
    missing = TlsClientSettings(cert_file=tmp_path / "client.pem", key_file=tmp_path / "secret-key.pem")
    assert check_tls_setup(profile()) == "ok"
    text = check_tls_setup(profile(tls=missing))
    assert text.startswith("Failed to configure TLS: Failed to load client certificate")
    assert "secret-key.pem" not in text
    assert check_tls_setup(profile(tls=TlsClientSettings(cert_id="c1"))).startswith("not checked: certificate store")


PROBE = ProbeReport(
    service="webhooks",
    method="GET",
    url="http://127.0.0.1:8000/",
    route="via http://alice:***@squid.corp:3128 (http_proxy, from service)",
    phases=(
        PhaseResult("dns", "ok", 0.0004, "proxy squid.corp -> 10.0.0.1"),
        PhaseResult("proxy connect", "fail", 0.0012, "http://alice:***@squid.corp:3128: connection refused"),
        PhaseResult("http", "skip", None, "not reached"),
    ),
)


def test_render_text() -> None:
    settings = tuple(setting_lines({ServiceType.OAUTH: default_profile(ServiceType.OAUTH)}))
    lines = render_text(DoctorReport(Path("/etc/tyk/tyk.conf"), settings[:2], probe=PROBE))
    assert lines == [
        "config: /etc/tyk/tyk.conf",
        "oauth     http_proxy           default     none",
        "oauth     https_proxy          default     none",
        "probe: webhooks GET http://127.0.0.1:8000/",
        "route: via http://alice:***@squid.corp:3128 (http_proxy, from service)",
        "phase dns           ok       0.4ms  proxy squid.corp -> 10.0.0.1",
        "phase proxy connect fail     1.2ms  http://alice:***@squid.corp:3128: connection refused",
        "phase http          skip         -  not reached",
        "result: fail in phase proxy connect: http://alice:***@squid.corp:3128: connection refused",
    ]
    assert render_text(DoctorReport(None, ()))[0] == "config: embedded defaults"
    ok = ProbeReport("oauth", "GET", "http://a/", "direct", (PhaseResult("http", "ok", 0.1, "HTTP/1.1 200 OK"),))
    assert render_probe(ok)[-1] == "result: ok"


def test_render_json() -> None:
    settings = tuple(setting_lines({ServiceType.OAUTH: profile(problems=("p1", "p2"))}, {ServiceType.OAUTH: "ok"}))
    document = json.loads(render_json(DoctorReport(None, settings, ("a warning",), PROBE)))
    assert document["config"] is None and document["warnings"] == ["a warning"]
    oauth = document["services"]["oauth"]
    assert oauth["http_proxy"] == {"value": "none", "origin": "default"}
    assert oauth["tls_setup"] == {"value": "ok", "origin": "-"}
    assert oauth["problems"] == ["p1", "p2"]
    probe = document["probe"]
    assert (probe["ok"], probe["failed_phase"], probe["service"]) == (False, "proxy connect", "webhooks")
    assert probe["phases"][0] == {
        "phase": "dns",
        "status": "ok",
        "seconds": 0.0004,
        "detail": "proxy squid.corp -> 10.0.0.1",
    }
    assert "probe" not in json.loads(render_json(DoctorReport(None, ())))


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://a.example/", "unsupported scheme"),
        ("ws://a.example/", "http:// and https:// only"),
        ("http://user:pw@a.example/", "credentials in the URL are not sent"),
        ("http:///path", "has no host"),
    ],
)
def test_parse_probe_url_refuses(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_probe_url(url)


# --- the command, in process (exit codes and streams; the probe itself is in tests/integration) -----------


def test_doctor_command_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"external_services": EXAMPLES["3"]}), encoding="utf-8")
    assert main(["doctor", "--conf", str(conf)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"config: {conf}"
    assert "storage   bypass_proxy         service     localhost,127.0.0.1,redis.internal" in out
    assert len(out) == 1 + len(ServiceType) * (len(PROFILE_SETTINGS) + 1)
    assert main(["doctor", "--conf", str(conf), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["services"]["webhooks"]["http_proxy"] == {"value": "http://localhost:3130", "origin": "service"}


@pytest.mark.parametrize(
    ("document", "probe", "error"),
    [
        (
            {"external_services": {"global": {"enabled": True, "http_proxy": "http://badproxy:wrong_port"}}},
            [],
            'invalid HTTP proxy URL: parse "http://badproxy:wrong_port": invalid port "wrong_port" after host',
        ),
        ({}, ["--probe", "ldap", "http://a/"], "unknown service 'ldap'"),
        ({}, ["--probe", "oauth", "ftp://a/"], "unsupported scheme"),
    ],
)
def test_doctor_command_config_and_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict[str, Any], probe: list[str], error: str
) -> None:
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps(document), encoding="utf-8")
    assert main(["doctor", "--conf", str(conf), *probe]) == 2
    captured = capsys.readouterr()
    assert error in captured.err and captured.out == ""
