"""Uptime tests, service discovery, skipping down hosts and event handlers: one row per rule of
`bascule.compat.tyk.translate_upstream_checks`, through `translate_api_definition` so JSON paths are real."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tyk_documents import DELETE, XT, classic, oas, with_changes

from bascule.compat.tyk.translate_api import translate_api_definition
from bascule.compat.tyk.tyk_values import parse_go_duration
from bascule.config.gateway import GatewaySettings
from bascule.config.upstream_checks import (
    CheckCommand,
    EventHandler,
    ServiceDiscovery,
    UpstreamChecks,
    UptimeCheck,
    UptimeTests,
)
from bascule.errors import ConfigError

SOURCE = Path("/etc/tyk/apps/users.json")
OAS = f"$.{XT}"
UP = f"{XT}.upstream"
CHECK = "$.uptime_tests.check_list[0]"
TEST = f"{OAS}.upstream.uptimeTests.tests[0]"
HOOK = "$.event_handlers.events.HostDown[0]"
OAS_HOOK = f"{OAS}.server.eventHandlers[0]"

CLASSIC: dict[str, Any] = classic("http://users-1:8080/api")
OAS_DOC: dict[str, Any] = oas("http://users-1:8080/api")

# tyk-behaviour §2.2: the Classic "users" example, verbatim
USERS_CLASSIC: dict[str, Any] = json.loads(
    """
{
  "name": "users", "api_id": "users", "org_id": "default", "active": true, "use_keyless": true,
  "version_data": { "not_versioned": true, "versions": { "Default": { "name": "Default" } } },
  "proxy": {
    "listen_path": "/users/", "strip_listen_path": true,
    "target_url": "http://users-1:8080/api",
    "enable_load_balancing": true,
    "target_list": ["http://users-1:8080/api", "http://users-1:8080/api", "http://users-2:8080/api"],
    "check_host_against_uptime_tests": true,
    "preserve_host_header": false, "disable_strip_slash": false,
    "transport": { "ssl_insecure_skip_verify": false, "ssl_ciphers": [], "ssl_min_version": 771,
                   "ssl_max_version": 0, "ssl_force_common_name_check": false, "proxy_url": "" }
  },
  "uptime_tests": { "check_list": [ {"url": "http://users-1:8080/health"}, {"url": "http://users-2:8080/health"} ],
                    "config": {} },
  "upstream_certificates": { "*.internal": "5e9d00000000000000000000a1b2c3...", "users-1:8443": "/etc/tyk/u1.pem" },
  "pinned_public_keys":    { "users-1": "5e9d...key1,5e9d...key2", "*": "5e9d...fallback" },
  "event_handlers": { "events": {
    "HostDown": [ { "handler_name": "eh_web_hook_handler",
                    "handler_meta": { "disabled": false, "id": "", "name": "ops-hook", "method": "POST",
                                      "target_path": "https://hooks.example/tyk", "template_path": "",
                                      "header_map": { "X-Source": "tyk" }, "event_timeout": 60 } } ],
    "HostUp":   [ { "handler_name": "eh_web_hook_handler", "handler_meta": { "method": "POST",
                    "target_path": "https://hooks.example/tyk", "event_timeout": 60 } } ] } }
}
"""
)

# tyk-behaviour §2.6: the OAS "users" example, verbatim
USERS_OAS: dict[str, Any] = json.loads(
    """
{
  "openapi": "3.0.3",
  "info": { "title": "users", "version": "1.0.0" },
  "paths": {},
  "x-tyk-api-gateway": {
    "info": { "name": "users", "state": { "active": true } },
    "server": {
      "listenPath": { "value": "/users/", "strip": true },
      "eventHandlers": [ { "enabled": true, "trigger": "HostDown", "type": "webhook", "name": "ops-hook",
                           "url": "https://hooks.example/tyk", "method": "POST", "cooldownPeriod": "60s",
                           "headers": [ { "name": "X-Source", "value": "tyk" } ] } ]
    },
    "upstream": {
      "url": "http://users-1:8080/api",
      "loadBalancing": { "enabled": true, "skipUnavailableHosts": true,
                         "targets": [ { "url": "http://users-1:8080/api", "weight": 2 },
                                      { "url": "http://users-2:8080/api", "weight": 1 } ] },
      "uptimeTests": { "enabled": true, "hostDownRetestPeriod": "12s",
                       "tests": [ { "url": "http://users-1:8080/health", "timeout": "2s", "method": "GET" },
                                  { "url": "http://users-2:8080/health" } ] },
      "serviceDiscovery": { "enabled": false },
      "mutualTLS": { "enabled": true,
                     "domainToCertificateMapping": [ { "domain": "*.internal", "certificate": "<cert-id>" } ] },
      "certificatePinning": { "enabled": true,
                              "domainToPublicKeysMapping": [ { "domain": "users-1", "publicKeys": ["<key-id>"] } ] },
      "tlsTransport": { "insecureSkipVerify": false, "minVersion": "1.2" },
      "preserveHostHeader": { "enabled": false }
    }
  }
}
"""
)

# tyk-behaviour §2.1: the `uptime_tests` block, verbatim
UPTIME_TESTS: dict[str, Any] = json.loads(
    """{
"uptime_tests": {
  "disabled": false,
  "check_list": [
    { "url": "http://users-1:8080/health", "method": "GET", "headers": {"X-Probe": "tyk"},
      "body": "", "timeout": 2000000000 },
    { "url": "tcp://users-2:9000", "protocol": "tcp", "enable_proxy_protocol": false,
      "commands": [ {"name": "send", "message": "ping"}, {"name": "expect", "message": "pong"} ] }
  ],
  "config": { "expire_utime_after": 0, "recheck_wait": 12,
              "service_discovery": { "use_discovery_service": false } }
}
}"""
)["uptime_tests"]

# tyk-behaviour §2.3
CLASSIC_SD: dict[str, Any] = {
    "use_discovery_service": True,
    "query_endpoint": "http://consul:8500/v1/catalog/service/users",
    "use_nested_query": False,
    "parent_data_path": "",
    "data_path": "Address",
    "port_data_path": "ServicePort",
    "target_path": "/api",
    "use_target_list": True,
    "endpoint_returns_list": True,
    "cache_disabled": False,
    "cache_timeout": 60,
}
CONSUL = ServiceDiscovery(
    query_endpoint="http://consul:8500/v1/catalog/service/users",
    data_path="Address",
    port_data_path="ServicePort",
    target_path="/api",
    use_target_list=True,
    endpoint_returns_list=True,
    cache_timeout=60.0,
)
OAS_SD: dict[str, Any] = {
    "enabled": True,
    "queryEndpoint": "http://consul:8500/v1/catalog/service/users",
    "dataPath": "Address",
    "portDataPath": "ServicePort",
    "targetPath": "/api",
    "useTargetList": True,
    "endpointReturnsList": True,
    "cache": {"enabled": True, "timeout": 60},
}
HOOKS = "https://hooks.example/tyk"


def checks_of(document: dict[str, Any]) -> UpstreamChecks:
    return translate_api_definition(document, GatewaySettings(), SOURCE).checks


def classic(changes: dict[str, Any]) -> UpstreamChecks:
    return checks_of(with_changes(CLASSIC, changes))


def oas(changes: dict[str, Any]) -> UpstreamChecks:
    return checks_of(with_changes(OAS_DOC, changes))


def problems_of(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as raised:
        checks_of(document)
    return [(problem.json_path, problem.message) for problem in raised.value.problems]


def assert_one_problem(document: dict[str, Any], path: str, message: str) -> None:
    problems = problems_of(document)
    assert len(problems) == 1, problems
    assert problems[0][0] == path, problems
    assert message in problems[0][1], problems


def classic_check(check: dict[str, Any]) -> dict[str, Any]:
    return {"uptime_tests.check_list": [check]}


def oas_test(test: dict[str, Any]) -> dict[str, Any]:
    return {f"{UP}.uptimeTests": {"enabled": True, "tests": [test]}}


def classic_hook(handler_name: str = "eh_web_hook_handler", **meta: Any) -> dict[str, Any]:
    return {"event_handlers.events": {"HostDown": [{"handler_name": handler_name, "handler_meta": meta}]}}


def oas_hook(**handler: Any) -> dict[str, Any]:
    return {f"{XT}.server.eventHandlers": [{"enabled": True, "trigger": "HostDown", **handler}]}


def the_check(checks: UpstreamChecks) -> UptimeCheck:
    assert checks.uptime is not None
    (check,) = checks.uptime.checks
    return check


# --- whole examples ----------------------------------------------------------------------------------


def test_classic_users_example_translates_fully() -> None:
    assert checks_of(USERS_CLASSIC) == UpstreamChecks(
        uptime=UptimeTests(
            checks=(
                UptimeCheck("http://users-1:8080/health", "http", "users-1:8080"),
                UptimeCheck("http://users-2:8080/health", "http", "users-2:8080"),
            )
        ),
        skip_unavailable_hosts=True,
        event_handlers=(
            EventHandler(
                "HostDown",
                "webhook",
                name="ops-hook",
                url=HOOKS,
                method="POST",
                headers=(("X-Source", "tyk"),),
                cooldown=60.0,
            ),
            EventHandler("HostUp", "webhook", url=HOOKS, method="POST", cooldown=60.0),
        ),
    )


def test_oas_users_example_translates_fully() -> None:
    assert checks_of(USERS_OAS) == UpstreamChecks(
        uptime=UptimeTests(
            checks=(
                UptimeCheck("http://users-1:8080/health", "http", "users-1:8080", timeout=2.0),
                UptimeCheck("http://users-2:8080/health", "http", "users-2:8080"),
            ),
            recheck_wait=12.0,
        ),
        skip_unavailable_hosts=True,
        event_handlers=(
            EventHandler(
                "HostDown",
                "webhook",
                name="ops-hook",
                url=HOOKS,
                method="POST",
                headers=(("X-Source", "tyk"),),
                cooldown=60.0,
            ),
        ),
    )


def test_classic_uptime_tests_block_of_the_reference_translates_fully() -> None:
    assert classic({"uptime_tests": UPTIME_TESTS}).uptime == UptimeTests(
        checks=(
            UptimeCheck(
                "http://users-1:8080/health", "http", "users-1:8080", headers=(("X-Probe", "tyk"),), timeout=2.0
            ),
            UptimeCheck(
                "tcp://users-2:9000",
                "tcp",
                "users-2:9000",
                commands=(CheckCommand("send", b"ping"), CheckCommand("expect", b"pong")),
            ),
        ),
        recheck_wait=12.0,
    )


def test_a_definition_without_any_of_it_has_the_defaults() -> None:
    assert classic({}) == UpstreamChecks()
    assert oas({}) == UpstreamChecks()


# --- uptime off --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        with_changes(CLASSIC, {"uptime_tests": {"disabled": True, "check_list": [{"url": "http://a/h"}]}}),
        with_changes(CLASSIC, {"uptime_tests": {"check_list": []}}),
        with_changes(CLASSIC, {"uptime_tests": None}),
        # a block that is off is not validated
        with_changes(CLASSIC, {"uptime_tests": {"disabled": True, "check_list": [{"url": "no scheme"}]}}),
        with_changes(OAS_DOC, {f"{UP}.uptimeTests": {"enabled": False, "tests": [{"url": "http://a/h"}]}}),
        with_changes(OAS_DOC, {f"{UP}.uptimeTests": {"enabled": True, "tests": []}}),
        with_changes(OAS_DOC, {f"{UP}.uptimeTests": {"enabled": False, "tests": [{"url": "no scheme"}]}}),
        OAS_DOC,
    ],
)
def test_uptime_off_is_none(document: dict[str, Any]) -> None:
    assert checks_of(document).uptime is None


# --- check URL, kind and host ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "protocol", "expected"),
    [
        ("http://users-1:8080/health", "", ("http://users-1:8080/health", "http", "users-1:8080")),
        ("https://Users.Example.COM/health", "", ("https://Users.Example.COM/health", "http", "users.example.com:443")),
        ("http://example.com/x", "", ("http://example.com/x", "http", "example.com:80")),
        ("HTTP://example.com/x", "", ("HTTP://example.com/x", "http", "example.com:80")),
        ("http://x/h", "https", ("http://x/h", "http", "x:80")),
        ("tcp://users-2:9000", "tcp", ("tcp://users-2:9000", "tcp", "users-2:9000")),
        ("tcp://users-2:9000", "", ("tcp://users-2:9000", "tcp", "users-2:9000")),
        ("users-2:9000", "tcp", ("tcp://users-2:9000", "tcp", "users-2:9000")),
        ("redis:6380", "tls", ("tls://redis:6380", "tls", "redis:6380")),
        ("tls://redis:6380", "", ("tls://redis:6380", "tls", "redis:6380")),
        ("http://[::1]:8080/health", "", ("http://[::1]:8080/health", "http", "[::1]:8080")),
        ("https://[::1]/", "", ("https://[::1]/", "http", "[::1]:443")),
        ("tcp://[::1]:6379", "", ("tcp://[::1]:6379", "tcp", "[::1]:6379")),
    ],
)
def test_classic_check_url_kind_and_host(url: str, protocol: str, expected: tuple[str, str, str]) -> None:
    check = the_check(classic(classic_check({"url": url, "protocol": protocol})))
    assert (check.url, check.kind, check.host) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://users-1:8080/health", ("http", "users-1:8080")),
        ("https://Users.Example.COM", ("http", "users.example.com:443")),
        ("tcp://users-2:9000", ("tcp", "users-2:9000")),
        ("tls://redis:6380", ("tls", "redis:6380")),
        ("http://[::1]:8080/", ("http", "[::1]:8080")),
    ],
)
def test_oas_check_kind_and_host_come_from_the_url(url: str, expected: tuple[str, str]) -> None:
    check = the_check(oas(oas_test({"url": url})))
    assert (check.url, check.kind, check.host) == (url, *expected)


@pytest.mark.parametrize(
    ("check", "path", "message"),
    [
        ({"url": ""}, f"{CHECK}.url", "the check URL is required"),
        ({}, f"{CHECK}.url", "the check URL is required"),
        ({"url": "users-1:8080/health"}, f"{CHECK}.url", "has no scheme; use http://, https://, tcp:// or tls://"),
        ({"url": "users-1:8080", "protocol": "http"}, f"{CHECK}.url", "has no scheme"),
        ({"url": "ftp://files/x"}, f"{CHECK}.url", "unsupported scheme 'ftp'"),
        ({"url": "ws://socket:80"}, f"{CHECK}.url", "unsupported scheme 'ws'"),
        ({"url": "tcp://users-2"}, f"{CHECK}.url", "check URL 'tcp://users-2' needs a port"),
        ({"url": "users-2", "protocol": "tls"}, f"{CHECK}.url", "needs a port"),
        ({"url": "http://users:9000", "protocol": "tcp"}, f"{CHECK}.url", "does not match protocol 'tcp'"),
        ({"url": "tcp://users:9000", "protocol": "tls"}, f"{CHECK}.url", "does not match protocol 'tls'"),
        ({"url": "tcp://users:9000", "protocol": "https"}, f"{CHECK}.url", "does not match protocol 'https'"),
        ({"url": "http://ho st/x"}, f"{CHECK}.url", "whitespace or control characters"),
        ({"url": "http://host:99999"}, f"{CHECK}.url", "invalid port"),
        ({"url": "http://a/h", "protocol": "udp"}, f"{CHECK}.protocol", "Input should be"),
        ({"url": "http://a/h", "protocol": "h2c"}, f"{CHECK}.protocol", "Input should be"),
        ({"url": 5}, f"{CHECK}.url", "valid string"),
    ],
)
def test_classic_check_problems(check: dict[str, Any], path: str, message: str) -> None:
    assert_one_problem(with_changes(CLASSIC, classic_check(check)), path, message)


@pytest.mark.parametrize(
    ("test", "path", "message"),
    [
        ({"url": "users:8080"}, f"{TEST}.url", "has no scheme"),
        ({"url": "tcp://users"}, f"{TEST}.url", "needs a port"),
        ({"url": "h2c://users:80"}, f"{TEST}.url", "unsupported scheme 'h2c'"),
        ({"url": "http://a/h", "timeout": "2 seconds"}, f"{TEST}.timeout", "invalid duration '2 seconds'"),
        ({"url": "http://a/h", "timeout": "-2s"}, f"{TEST}.timeout", "must not be negative"),
        ({"url": "http://a/h", "timeout": 2}, f"{TEST}.timeout", "valid string"),
        ({"url": "http://a/h", "commands": [{"name": "read", "message": "x"}]}, f"{TEST}.commands[0].name", "read"),
        ({"url": "http://a/h", "headers": {"X": 1}}, f"{TEST}.headers.X", "valid string"),
    ],
)
def test_oas_check_problems(test: dict[str, Any], path: str, message: str) -> None:
    assert_one_problem(with_changes(OAS_DOC, oas_test(test)), path, message)


def test_oas_uptime_tests_require_enabled() -> None:
    problems = problems_of(with_changes(OAS_DOC, {f"{UP}.uptimeTests": {"tests": [{"url": "http://a/h"}]}}))
    assert problems == [(f"{OAS}.upstream.uptimeTests.enabled", "Field required")]


# --- timeout, body, method, headers, commands, PROXY protocol ----------------------------------------


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [(2000000000, 2.0), (500000000, 0.5), (1, 1e-9), (0, None), (DELETE, None), (None, None)],
)
def test_classic_timeout_is_nanoseconds(timeout: object, expected: float | None) -> None:
    check = {"url": "http://a/h"} if timeout is DELETE else {"url": "http://a/h", "timeout": timeout}
    assert the_check(classic(classic_check(check))).timeout == expected


@pytest.mark.parametrize(
    ("timeout", "path", "message"),
    [
        (-1, f"{CHECK}.timeout", "must not be negative"),
        (2.0, f"{CHECK}.timeout", "valid integer"),
        ("2s", f"{CHECK}.timeout", "valid integer"),
    ],
)
def test_classic_timeout_problems(timeout: object, path: str, message: str) -> None:
    [(found_path, found_message)] = problems_of(
        with_changes(CLASSIC, classic_check({"url": "http://a/h", "timeout": timeout}))
    )
    assert (found_path, message in found_message) == (path, True)


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [("2s", 2.0), ("500ms", 0.5), ("1.5s", 1.5), ("1h30m", 5400.0), ("0", None), ("0s", None), ("", None)],
)
def test_oas_timeout_is_a_go_duration(timeout: str, expected: float | None) -> None:
    assert the_check(oas(oas_test({"url": "http://a/h", "timeout": timeout}))).timeout == expected


@pytest.mark.parametrize(
    ("check", "field", "expected"),
    [
        ({"body": "cGluZw=="}, "body", b"ping"),
        ({"body": ""}, "body", b""),
        ({"method": "post"}, "method", "POST"),
        ({"method": ""}, "method", "GET"),
        ({}, "method", "GET"),
        ({"headers": {"X-Probe": "tyk", "Accept": "*/*"}}, "headers", (("X-Probe", "tyk"), ("Accept", "*/*"))),
        ({"enable_proxy_protocol": True}, "proxy_protocol", True),
        ({}, "proxy_protocol", False),
        (
            {"commands": [{"name": "send", "message": "ping"}, {"name": "expect", "message": "pong"}]},
            "commands",
            (CheckCommand("send", b"ping"), CheckCommand("expect", b"pong")),
        ),
    ],
)
def test_classic_check_request(check: dict[str, Any], field: str, expected: object) -> None:
    translated = the_check(classic(classic_check({"url": "tcp://a:1", "protocol": "tcp"} | check)))
    assert getattr(translated, field) == expected


@pytest.mark.parametrize(
    ("test", "field", "expected"),
    [
        ({"body": "ping"}, "body", b"ping"),
        ({"body": "héllo"}, "body", "héllo".encode()),
        ({"body": "cGluZw=="}, "body", b"cGluZw=="),  # plain text, not base64
        ({"method": "head"}, "method", "HEAD"),
        ({}, "method", "GET"),
        ({"headers": {"X-Probe": "tyk"}}, "headers", (("X-Probe", "tyk"),)),
        ({"enableProxyProtocol": True}, "proxy_protocol", True),
        ({"commands": [{"name": "send", "message": "ping"}]}, "commands", (CheckCommand("send", b"ping"),)),
    ],
)
def test_oas_check_request(test: dict[str, Any], field: str, expected: object) -> None:
    assert getattr(the_check(oas(oas_test({"url": "tcp://a:1"} | test))), field) == expected


@pytest.mark.parametrize(
    ("check", "path", "message"),
    [
        ({"body": "not base64!"}, f"{CHECK}.body", "body is not valid base64"),
        ({"body": "cGluZw"}, f"{CHECK}.body", "body is not valid base64"),  # Go's StdEncoding wants padding
        ({"commands": [{"name": "send"}, {"name": "receive"}]}, f"{CHECK}.commands[1].name", "'receive'"),
        ({"method": 1}, f"{CHECK}.method", "valid string"),
    ],
)
def test_classic_check_request_problems(check: dict[str, Any], path: str, message: str) -> None:
    assert_one_problem(with_changes(CLASSIC, classic_check({"url": "tcp://a:1"} | check)), path, message)


# --- uptime settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "field", "expected"),
    [
        ({"recheck_wait": 12}, "recheck_wait", 12.0),
        ({"expire_utime_after": 3600}, "log_retention", 3600.0),
        ({}, "log_retention", 0.0),
        ({"service_discovery": CLASSIC_SD}, "discovery", CONSUL),
        ({"service_discovery": {"use_discovery_service": False}}, "discovery", None),
    ],
)
def test_classic_uptime_settings(config: dict[str, Any], field: str, expected: object) -> None:
    uptime = classic({"uptime_tests": {"check_list": [{"url": "http://a/h"}], "config": config}}).uptime
    assert getattr(uptime, field) == expected


@pytest.mark.parametrize(
    ("tests", "field", "expected"),
    [
        ({"hostDownRetestPeriod": "12s"}, "recheck_wait", 12.0),
        ({"logRetentionPeriod": "720h"}, "log_retention", 2592000.0),
        ({}, "recheck_wait", 0.0),
        ({"serviceDiscovery": OAS_SD}, "discovery", CONSUL),
        ({"serviceDiscovery": {"enabled": False}}, "discovery", None),
    ],
)
def test_oas_uptime_settings(tests: dict[str, Any], field: str, expected: object) -> None:
    uptime = oas({f"{UP}.uptimeTests": {"enabled": True, "tests": [{"url": "http://a/h"}]} | tests}).uptime
    assert getattr(uptime, field) == expected


def test_uptime_discovery_alone_keeps_the_uptime_tests() -> None:
    expected = UptimeTests(discovery=CONSUL)
    assert classic({"uptime_tests.config.service_discovery": CLASSIC_SD}).uptime == expected
    assert oas({f"{UP}.uptimeTests": {"enabled": True, "serviceDiscovery": OAS_SD}}).uptime == expected


def classic_config(**config: Any) -> dict[str, Any]:
    return with_changes(CLASSIC, {"uptime_tests": {"check_list": [{"url": "http://a"}], "config": config}})


def oas_uptime(**tests: Any) -> dict[str, Any]:
    return with_changes(OAS_DOC, {f"{UP}.uptimeTests": {"enabled": True, "tests": [{"url": "http://a"}]} | tests})


UPTIME = f"{OAS}.upstream.uptimeTests"


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        (classic_config(recheck_wait=-1), "$.uptime_tests.config.recheck_wait", "must not be negative"),
        (classic_config(recheck_wait="12s"), "$.uptime_tests.config.recheck_wait", "valid integer"),
        (classic_config(expire_utime_after=-5), "$.uptime_tests.config.expire_utime_after", "must not be negative"),
        (
            classic_config(service_discovery={"use_discovery_service": True}),
            "$.uptime_tests.config.service_discovery.query_endpoint",
            "query_endpoint is empty",
        ),
        (oas_uptime(hostDownRetestPeriod="12"), f"{UPTIME}.hostDownRetestPeriod", "invalid duration '12'"),
        (oas_uptime(logRetentionPeriod="30d"), f"{UPTIME}.logRetentionPeriod", "invalid duration '30d'"),
        (
            oas_uptime(serviceDiscovery={"enabled": True}),
            f"{UPTIME}.serviceDiscovery.queryEndpoint",
            "queryEndpoint is empty, not an absolute http:// or https:// URL",
        ),
    ],
)
def test_uptime_settings_problems(document: dict[str, Any], path: str, message: str) -> None:
    assert_one_problem(document, path, message)


# --- service discovery -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sd", "expected"),
    [
        (DELETE, None),
        ({"use_discovery_service": False, "query_endpoint": ""}, None),  # off: not validated
        (CLASSIC_SD, CONSUL),
        (CLASSIC_SD | {"cache_disabled": True}, replace(CONSUL, cache_timeout=0.0)),
        (CLASSIC_SD | {"cache_timeout": 0}, replace(CONSUL, cache_timeout=0.0)),
        (CLASSIC_SD | {"cache_timeout": -5}, replace(CONSUL, cache_timeout=0.0)),
        (
            {
                "use_discovery_service": True,
                "query_endpoint": "https://etcd:2379/v2/keys/services/users",
                "use_nested_query": True,
                "parent_data_path": "node.value",
                "data_path": "hostname",
                "port_data_path": "port",
            },
            ServiceDiscovery(
                query_endpoint="https://etcd:2379/v2/keys/services/users",
                use_nested_query=True,
                parent_data_path="node.value",
                data_path="hostname",
                port_data_path="port",
            ),
        ),
    ],
)
def test_classic_service_discovery(sd: object, expected: ServiceDiscovery | None) -> None:
    changes = {} if sd is DELETE else {"proxy.service_discovery": sd}
    assert classic(changes).discovery == expected


@pytest.mark.parametrize(
    ("sd", "expected_cache"),
    [
        (OAS_SD, 60.0),
        (OAS_SD | {"cache": {"enabled": False, "timeout": 60}}, 0.0),
        (OAS_SD | {"cache": {"enabled": True}}, 0.0),
        (OAS_SD | {"cache": {"enabled": True, "timeout": -1}}, 0.0),
        ({k: v for k, v in OAS_SD.items() if k != "cache"} | {"cacheTimeout": 45}, 45.0),
        ({k: v for k, v in OAS_SD.items() if k != "cache"} | {"cacheTimeout": 0}, 0.0),
        ({k: v for k, v in OAS_SD.items() if k != "cache"}, 0.0),
        (OAS_SD | {"cache": {"enabled": False}, "cacheTimeout": 45}, 0.0),  # cache, when present, wins
        (OAS_SD | {"cache": {"enabled": True, "timeout": 30}, "cacheTimeout": 45}, 30.0),
    ],
)
def test_oas_service_discovery_cache(sd: dict[str, Any], expected_cache: float) -> None:
    assert oas({f"{UP}.serviceDiscovery": sd}).discovery == replace(CONSUL, cache_timeout=expected_cache)


@pytest.mark.parametrize("sd", [DELETE, {"enabled": False}, {"enabled": False, "queryEndpoint": "nope"}])
def test_oas_service_discovery_off_is_none(sd: object) -> None:
    assert oas({} if sd is DELETE else {f"{UP}.serviceDiscovery": sd}).discovery is None


def test_oas_service_discovery_fields() -> None:
    sd = {
        "enabled": True,
        "queryEndpoint": "http://eureka:8761/eureka/apps/USERS",
        "useNestedQuery": True,
        "parentDataPath": "application.instance",
        "dataPath": "hostName",
        "portDataPath": "port.$",
        "targetPath": "/v1",
        "useTargetList": True,
        "endpointReturnsList": False,
    }
    assert oas({f"{UP}.serviceDiscovery": sd}).discovery == ServiceDiscovery(
        query_endpoint="http://eureka:8761/eureka/apps/USERS",
        use_nested_query=True,
        parent_data_path="application.instance",
        data_path="hostName",
        port_data_path="port.$",
        target_path="/v1",
        use_target_list=True,
    )


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        (
            with_changes(CLASSIC, {"proxy.service_discovery": CLASSIC_SD | {"query_endpoint": ""}}),
            "$.proxy.service_discovery.query_endpoint",
            "query_endpoint is empty, not an absolute http:// or https:// URL",
        ),
        (
            with_changes(CLASSIC, {"proxy.service_discovery": CLASSIC_SD | {"query_endpoint": "consul:8500/v1"}}),
            "$.proxy.service_discovery.query_endpoint",
            "'consul:8500/v1' is not an absolute http:// or https:// URL",
        ),
        (
            with_changes(CLASSIC, {"proxy.service_discovery": CLASSIC_SD | {"cache_timeout": "60"}}),
            "$.proxy.service_discovery.cache_timeout",
            "valid integer",
        ),
        (
            with_changes(OAS_DOC, {f"{UP}.serviceDiscovery": {"enabled": True}}),
            f"{OAS}.upstream.serviceDiscovery.queryEndpoint",
            "queryEndpoint is empty",
        ),
        (
            with_changes(OAS_DOC, {f"{UP}.serviceDiscovery": OAS_SD | {"queryEndpoint": "ftp://consul/x"}}),
            f"{OAS}.upstream.serviceDiscovery.queryEndpoint",
            "'ftp://consul/x' is not an absolute",
        ),
        (
            with_changes(OAS_DOC, {f"{UP}.serviceDiscovery": {"queryEndpoint": "http://consul/x"}}),
            f"{OAS}.upstream.serviceDiscovery.enabled",
            "Field required",
        ),
        (
            with_changes(OAS_DOC, {f"{UP}.serviceDiscovery": OAS_SD | {"cache": {"timeout": 5}}}),
            f"{OAS}.upstream.serviceDiscovery.cache.enabled",
            "Field required",
        ),
        (
            with_changes(OAS_DOC, {f"{UP}.serviceDiscovery": OAS_SD | {"cache": {"enabled": True, "timeout": "30s"}}}),
            f"{OAS}.upstream.serviceDiscovery.cache.timeout",
            "valid integer",
        ),
    ],
)
def test_service_discovery_problems(document: dict[str, Any], path: str, message: str) -> None:
    assert_one_problem(document, path, message)


# --- skipping unavailable hosts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (with_changes(CLASSIC, {"proxy.check_host_against_uptime_tests": True}), True),
        (with_changes(CLASSIC, {"proxy.check_host_against_uptime_tests": False}), False),
        (CLASSIC, False),
        (USERS_OAS, True),
        (with_changes(USERS_OAS, {f"{UP}.loadBalancing.skipUnavailableHosts": False}), False),
        (with_changes(USERS_OAS, {f"{UP}.loadBalancing.skipUnavailableHosts": DELETE}), False),
        (OAS_DOC, False),
    ],
)
def test_skip_unavailable_hosts(document: dict[str, Any], expected: bool) -> None:
    assert checks_of(document).skip_unavailable_hosts is expected


# --- event handlers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            classic_hook(
                name="ops",
                id="h1",
                method="post",
                target_path=HOOKS,
                template_path="templates/down.json",
                header_map={"X-Source": "tyk"},
                event_timeout=30,
            ),
            EventHandler(
                "HostDown",
                "webhook",
                name="ops",
                handler_id="h1",
                url=HOOKS,
                method="POST",
                headers=(("X-Source", "tyk"),),
                template_path="templates/down.json",
                cooldown=30.0,
            ),
        ),
        (classic_hook(target_path=HOOKS), EventHandler("HostDown", "webhook", url=HOOKS, method="GET")),
        (classic_hook(target_path=HOOKS, method=""), EventHandler("HostDown", "webhook", url=HOOKS, method="GET")),
        (classic_hook("eh_log_handler", prefix="uptime"), EventHandler("HostDown", "log")),
        (
            classic_hook("eh_dynamic_handler", name="onDown", path="down.js"),
            EventHandler("HostDown", "custom", name="onDown"),
        ),
        (
            classic_hook("cp_dynamic_handler", name="on_down", id="c1"),
            EventHandler("HostDown", "custom", "on_down", "c1"),
        ),
    ],
)
def test_classic_event_handler(changes: dict[str, Any], expected: EventHandler) -> None:
    assert classic(changes).event_handlers == (expected,)


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        (
            {
                "type": "webhook",
                "id": "h1",
                "name": "ops",
                "url": HOOKS,
                "method": "patch",
                "cooldownPeriod": "1m30s",
                "bodyTemplate": "templates/down.json",
                "headers": [{"name": "X-Source", "value": "tyk"}, {"name": "X-Env", "value": "prod"}],
            },
            EventHandler(
                "HostDown",
                "webhook",
                name="ops",
                handler_id="h1",
                url=HOOKS,
                method="PATCH",
                headers=(("X-Source", "tyk"), ("X-Env", "prod")),
                template_path="templates/down.json",
                cooldown=90.0,
            ),
        ),
        ({"type": "webhook", "url": HOOKS}, EventHandler("HostDown", "webhook", url=HOOKS, method="GET")),
        ({"type": "log", "name": "audit", "logPrefix": "x"}, EventHandler("HostDown", "log", name="audit")),
        ({"type": "custom", "name": "onDown", "functionName": "onDown"}, EventHandler("HostDown", "custom", "onDown")),
        # the webhook fields of a log handler are not read
        ({"type": "log", "url": "not a url", "method": "TRACE"}, EventHandler("HostDown", "log")),
    ],
)
def test_oas_event_handler(handler: dict[str, Any], expected: EventHandler) -> None:
    assert oas(oas_hook(**handler)).event_handlers == (expected,)


def test_disabled_event_handlers_are_omitted() -> None:
    assert classic(classic_hook(disabled=True, method="TRACE", target_path="")).event_handlers == ()
    assert classic(classic_hook("eh_log_handler", disabled=True)).event_handlers == ()
    assert oas(oas_hook(type="webhook", enabled=False, method="TRACE")).event_handlers == ()


def test_classic_event_handlers_keep_trigger_and_list_order() -> None:
    events = {
        "HostUp": [{"handler_name": "eh_log_handler"}],
        "HostDown": [
            {"handler_name": "eh_web_hook_handler", "handler_meta": {"target_path": HOOKS, "name": "a"}},
            {"handler_name": "eh_log_handler", "handler_meta": {"name": "b"}},
        ],
    }
    handlers = classic({"event_handlers.events": events}).event_handlers
    assert [(handler.trigger, handler.kind, handler.name) for handler in handlers] == [
        ("HostUp", "log", ""),
        ("HostDown", "webhook", "a"),
        ("HostDown", "log", "b"),
    ]


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        # §5 case 70: a non-string method is an error
        (classic_hook(method=123, target_path=HOOKS), f"{HOOK}.handler_meta.method", "valid string"),
        (classic_hook(method="TRACE", target_path=HOOKS), f"{HOOK}.handler_meta.method", "'TRACE' is not one of GET"),
        (classic_hook(), f"{HOOK}.handler_meta.target_path", "target_path is empty, not an absolute http"),
        (classic_hook(target_path="/hooks"), f"{HOOK}.handler_meta.target_path", "'/hooks' is not an absolute"),
        (classic_hook(target_path=HOOKS, event_timeout=-1), f"{HOOK}.handler_meta.event_timeout", "not be negative"),
        (classic_hook(target_path=HOOKS, event_timeout="60s"), f"{HOOK}.handler_meta.event_timeout", "valid integer"),
        (classic_hook(target_path=HOOKS, header_map={"X": 1}), f"{HOOK}.handler_meta.header_map.X", "valid string"),
        (classic_hook(target_path=HOOKS, disabled="yes"), f"{HOOK}.handler_meta.disabled", "valid boolean"),
        (classic_hook("eh_mail_handler"), f"{HOOK}.handler_name", "unknown handler 'eh_mail_handler'"),
        (classic_hook(""), f"{HOOK}.handler_name", "unknown handler ''"),
        (
            {"event_handlers.events": {"HostDown": [{"handler_name": "eh_log_handler", "handler_meta": []}]}},
            f"{HOOK}.handler_meta",
            "valid dictionary",
        ),
        (oas_hook(type="webhook", url=HOOKS, method=123), f"{OAS_HOOK}.method", "valid string"),
        (oas_hook(type="webhook", url=HOOKS, method="CONNECT"), f"{OAS_HOOK}.method", "'CONNECT' is not one of"),
        (oas_hook(type="webhook"), f"{OAS_HOOK}.url", "url is empty, not an absolute http"),
        (oas_hook(type="webhook", url="hooks.example/tyk"), f"{OAS_HOOK}.url", "is not an absolute"),
        (oas_hook(type="webhook", url=HOOKS, cooldownPeriod="soon"), f"{OAS_HOOK}.cooldownPeriod", "invalid duration"),
        (oas_hook(type="webhook", url=HOOKS, cooldownPeriod="-1m"), f"{OAS_HOOK}.cooldownPeriod", "not be negative"),
        (oas_hook(type="email"), f"{OAS_HOOK}.type", "Input should be 'webhook', 'log' or 'custom'"),
        (oas_hook(), f"{OAS_HOOK}.type", "Field required"),
        (
            oas_hook(type="webhook", url=HOOKS, headers=[{"name": "X"}]),
            f"{OAS_HOOK}.headers[0].value",
            "Field required",
        ),
        (
            {f"{XT}.server.eventHandlers": [{"trigger": "HostDown", "type": "log"}]},
            f"{OAS_HOOK}.enabled",
            "Field required",
        ),
    ],
)
def test_event_handler_problems(changes: dict[str, Any], path: str, message: str) -> None:
    base = OAS_DOC if any(key.startswith(XT) for key in changes) else CLASSIC
    assert_one_problem(with_changes(base, changes), path, message)


# --- every problem at once ---------------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    document = with_changes(
        CLASSIC,
        {
            "proxy.target_url": "ftp://x",
            "uptime_tests.check_list": [{"url": "no-scheme"}, {"url": "http://a", "body": "%%"}],
            "proxy.service_discovery": {"use_discovery_service": True},
        }
        | classic_hook(method="TRACE"),
    )
    assert [path for path, _ in problems_of(document)] == [
        "$.proxy.target_url",
        "$.uptime_tests.check_list[0].url",
        "$.uptime_tests.check_list[1].body",
        "$.proxy.service_discovery.query_endpoint",
        f"{HOOK}.handler_meta.target_path",
        f"{HOOK}.handler_meta.method",
    ]


# --- Go durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("-0", 0.0),
        ("0s", 0.0),
        ("2s", 2.0),
        ("+5s", 5.0),
        ("-1.5h", -5400.0),
        ("1h30m", 5400.0),
        ("1h1m1s", 3661.0),
        ("1m29s", 89.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("5.s", 5.0),
        ("100ns", 1e-7),
        ("1us", 1e-6),
        ("1\u00b5s", 1e-6),  # micro sign
        ("1\u03bcs", 1e-6),  # Greek mu
        ("1s500ms", 1.5),
        ("720h", 2592000.0),
        ("1.0000000001s", 1.0),  # below a nanosecond: truncated, as in Go
        ("2562047h47m16.854775807s", 9223372036.854775807),
    ],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid duration"),
        ("s", "invalid duration"),
        ("1", "invalid duration"),
        ("00", "invalid duration"),
        ("1.5", "invalid duration"),
        ("1x", "invalid duration"),
        ("1d", "invalid duration"),
        (".s", "invalid duration"),
        ("1 s", "invalid duration"),
        (" 1s", "invalid duration"),
        ("1s ", "invalid duration"),
        ("+", "invalid duration"),
        ("--1s", "invalid duration"),
        ("1e3s", "invalid duration"),
        ("\u0661s", "invalid duration"),  # Arabic-Indic digit one: Go reads ASCII digits only
        ("2562048h", "out of range"),
    ],
)
def test_parse_go_duration_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_go_duration(text)
