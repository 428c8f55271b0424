"""Tyk uptime tests, service discovery, skipping down hosts and event handlers -> `UpstreamChecks`. Pure.

Rules (one test row each in `tests/unit/compat/test_translate_upstream_checks.py`):

* **Uptime off**: Classic `uptime_tests.disabled: true`, OAS `uptimeTests.enabled: false` (required) or
  absent -> `uptime=None`; so is an empty check list without uptime service discovery. A block that is
  off is not validated (as a disabled load-balancing list is not).
* **Check kind**: Classic `protocol` when set, else the URL scheme; OAS the URL scheme. `http`/`https`
  -> "http", `tcp` -> "tcp", `tls` -> "tls". A tcp/tls URL without `://` gets `tcp://`/`tls://`; any
  other URL without a scheme is an error, as is a scheme that contradicts `protocol`.
* **Check host**: `host:port`, lower-cased, default ports http 80 and https 443, IPv6 in brackets
  (`[::1]:8080`); tcp/tls need a port.
* **Check timeout**: Classic integer nanoseconds (2000000000 -> 2.0 s); OAS a Go duration ("2s",
  "1.5s", "1h30m"); 0 or absent -> None (the `health` service's timeout).
* **Check request**: Classic `body` is base64 (decoded), OAS `body` plain text (UTF-8); method
  upper-cased, default GET; headers as written; commands `send`/`expect` only;
  `enable_proxy_protocol` / `enableProxyProtocol` -> `proxy_protocol`.
* **Uptime settings**: Classic `config.recheck_wait` and `config.expire_utime_after` (seconds), OAS
  `hostDownRetestPeriod` and `logRetentionPeriod` (Go durations); `config.service_discovery` /
  `serviceDiscovery` -> `UptimeTests.discovery`.
* **Service discovery**: off (Classic `use_discovery_service` false, OAS `enabled` false or block
  absent) -> None. On: `query_endpoint` / `queryEndpoint` must be an absolute http(s) URL. Cache:
  Classic `cache_timeout` seconds, but `cache_disabled` or <= 0 -> 0.0 (the gateway default: Tyk's
  `cache_disabled` still caches, with the default TTL); OAS `cache{enabled, timeout}` -> timeout when
  enabled and > 0, else 0.0; without `cache`, the deprecated `cacheTimeout` when > 0, else 0.0.
* **Skip unavailable hosts**: Classic `proxy.check_host_against_uptime_tests`, OAS
  `upstream.loadBalancing.skipUnavailableHosts`.
* **Event handlers**: `translate_event_handlers` (its docstring has the rules).

Durations use `tyk_values.parse_go_duration` (Go's `time.ParseDuration`: units ns us µs ms s m h, sign,
fractions, "0"). Departures from Tyk, all load errors naming the JSON path: an invalid duration (Tyk
reads 0; its schema also refuses fractions, which bascule accepts), a negative time, a webhook method
other than GET PUT POST DELETE PATCH (Tyk warns and uses GET), a non-absolute webhook or discovery URL
(Tyk logs at init or fails each fetch), a scheme-less HTTP check URL or invalid base64 body (Tyk drops
the check with a log line), a check scheme contradicting `protocol` (Tyk builds `tcp://http://...`).
Not an error but also a departure: a Classic check without `protocol` and with a `tcp://`/`tls://` URL
is a socket check (Tyk sends it an HTTP request).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bascule.compat.tyk.classic import (
    ClassicApiDefinition,
    ClassicCheckCommand,
    ClassicServiceDiscovery,
    ClassicUptimeCheck,
    ClassicUptimeTests,
)
from bascule.compat.tyk.oas import (
    OAS_EXTENSION_KEY,
    OasServiceDiscovery,
    OasUptimeTest,
    OasUptimeTestCommand,
    OasUptimeTests,
    XTykApiGateway,
)
from bascule.compat.tyk.translate_event_handlers import classic_event_handlers, oas_event_handlers
from bascule.compat.tyk.tyk_values import (
    UNSAFE_URL_CHARACTER,
    ProblemSink,
    base64_at,
    duration_at,
    non_negative_at,
    require_http_url,
    validate_at,
)
from bascule.config.upstream_checks import (
    CheckCommand,
    CheckKind,
    CommandName,
    ServiceDiscovery,
    UpstreamChecks,
    UptimeCheck,
    UptimeTests,
)
from bascule.core.upstream_url import parse_target

_OAS = f"$.{OAS_EXTENSION_KEY}"
_CHECK_KINDS: Mapping[str, CheckKind] = {"http": "http", "https": "http", "tcp": "tcp", "tls": "tls"}
_COMMANDS: Mapping[str, CommandName] = {"send": "send", "expect": "expect"}


def translate_classic_checks(api: ClassicApiDefinition, problems: ProblemSink) -> UpstreamChecks:
    """The `UpstreamChecks` of a Classic definition; every problem goes to `problems`."""
    return UpstreamChecks(
        uptime=_classic_uptime(api.uptime_tests, "$.uptime_tests", problems),
        skip_unavailable_hosts=api.proxy.check_host_against_uptime_tests,
        discovery=_classic_discovery(api.proxy.service_discovery, "$.proxy.service_discovery", problems),
        event_handlers=classic_event_handlers(api.event_handlers, "$.event_handlers.events", problems),
    )


def translate_oas_checks(extension: XTykApiGateway, problems: ProblemSink) -> UpstreamChecks:
    """The `UpstreamChecks` of an OAS `x-tyk-api-gateway`; every problem goes to `problems`."""
    upstream = extension.upstream
    balancing = upstream.load_balancing
    return UpstreamChecks(
        uptime=_oas_uptime(upstream.uptime_tests, f"{_OAS}.upstream.uptimeTests", problems),
        skip_unavailable_hosts=balancing is not None and balancing.skip_unavailable_hosts,
        discovery=_oas_discovery(upstream.service_discovery, f"{_OAS}.upstream.serviceDiscovery", problems),
        event_handlers=oas_event_handlers(extension.server.event_handlers, f"{_OAS}.server.eventHandlers", problems),
    )


# --- uptime tests ------------------------------------------------------------------------------------


def translate_discovered_checks(items: Sequence[object], problems: ProblemSink) -> tuple[UptimeCheck, ...]:
    """Classic check objects found by an uptime-tests discovery endpoint (`config.service_discovery`); a bad
    one goes to `problems` (paths `$[i]`) and is left out."""
    checks = []
    for i, item in enumerate(items):
        at = f"$[{i}]"
        if not isinstance(item, dict):
            problems.add(at, "a discovered check must be an object")
            continue
        check = validate_at(ClassicUptimeCheck, item, at, problems)
        if check is not None:
            checks.append(_classic_check(check, at, problems))
    return tuple(check for check in checks if check is not None)


def _classic_check(check: ClassicUptimeCheck, at: str, problems: ProblemSink) -> UptimeCheck | None:
    body = base64_at(check.body, f"{at}.body", problems)
    timeout = non_negative_at(check.timeout, f"{at}.timeout", problems) / 1e9
    return _check(check, check.protocol, body, timeout, at, problems)


def _classic_uptime(tests: ClassicUptimeTests, path: str, problems: ProblemSink) -> UptimeTests | None:
    if tests.disabled:
        return None
    config = tests.config
    discovery = _classic_discovery(config.service_discovery, f"{path}.config.service_discovery", problems)
    if not tests.check_list and discovery is None:
        return None
    checks = [_classic_check(check, f"{path}.check_list[{i}]", problems) for i, check in enumerate(tests.check_list)]
    return UptimeTests(
        checks=tuple(check for check in checks if check is not None),
        recheck_wait=float(non_negative_at(config.recheck_wait, f"{path}.config.recheck_wait", problems)),
        log_retention=float(non_negative_at(config.expire_utime_after, f"{path}.config.expire_utime_after", problems)),
        discovery=discovery,
    )


def _oas_uptime(tests: OasUptimeTests | None, path: str, problems: ProblemSink) -> UptimeTests | None:
    if tests is None or not tests.enabled:
        return None
    discovery = _oas_discovery(tests.service_discovery, f"{path}.serviceDiscovery", problems)
    if not tests.tests and discovery is None:
        return None
    checks = []
    for i, test in enumerate(tests.tests):
        at = f"{path}.tests[{i}]"
        timeout = duration_at(test.timeout, f"{at}.timeout", problems)
        checks.append(_check(test, "", test.body.encode(), timeout, at, problems))
    return UptimeTests(
        checks=tuple(check for check in checks if check is not None),
        recheck_wait=duration_at(tests.host_down_retest_period, f"{path}.hostDownRetestPeriod", problems),
        log_retention=duration_at(tests.log_retention_period, f"{path}.logRetentionPeriod", problems),
        discovery=discovery,
    )


def _check(
    check: ClassicUptimeCheck | OasUptimeTest,
    protocol: str,
    body: bytes,
    timeout: float,
    path: str,
    problems: ProblemSink,
) -> UptimeCheck | None:
    """The check; `protocol` is Classic's field ("" for OAS), `body` decoded and `timeout` in seconds."""
    commands: list[CheckCommand] = []
    written: Sequence[ClassicCheckCommand | OasUptimeTestCommand] = check.commands
    for i, command in enumerate(written):
        if command.name not in _COMMANDS:
            problems.add(f"{path}.commands[{i}].name", f"unknown command {command.name!r}; use send or expect")
        else:
            commands.append(CheckCommand(_COMMANDS[command.name], command.message.encode()))
    located = _check_url(check.url, protocol, f"{path}.url", problems)
    if located is None:
        return None
    url, kind, host = located
    return UptimeCheck(
        url=url,
        kind=kind,
        host=host,
        method=(check.method or "GET").upper(),
        headers=tuple(check.headers.items()),
        body=body,
        timeout=timeout or None,
        commands=tuple(commands),
        proxy_protocol=check.enable_proxy_protocol,
    )


def _check_url(url: str, protocol: str, path: str, problems: ProblemSink) -> tuple[str, CheckKind, str] | None:
    """`(url, kind, host:port)` of a check URL, `protocol` ("" or the Classic field) deciding the kind."""
    if not url:
        problems.add(path, "the check URL is required")
        return None
    if UNSAFE_URL_CHARACTER.search(url):
        problems.add(path, f"check URL {url!r} contains whitespace or control characters")
        return None
    if "://" not in url and protocol in ("tcp", "tls"):
        url = f"{protocol}://{url}"
    scheme, found, _ = url.partition("://")
    kind = _CHECK_KINDS.get(scheme.lower())
    if not found or kind is None:
        reason = f"unsupported scheme {scheme!r}" if found else "no scheme"
        problems.add(path, f"check URL {url!r} has {reason}; use http://, https://, tcp:// or tls://")
        return None
    if protocol and _CHECK_KINDS[protocol] != kind:
        problems.add(path, f"check URL {url!r} does not match protocol {protocol!r}")
        return None
    try:
        target = parse_target(url)
    except ValueError as error:
        problems.add(path, str(error).replace("upstream URL", "check URL"))
        return None
    host = f"[{target.host}]" if ":" in target.host else target.host
    return url, kind, f"{host}:{target.port}"  # `hostname` is lower-cased by urlsplit


# --- service discovery -------------------------------------------------------------------------------


def _classic_discovery(sd: ClassicServiceDiscovery, path: str, problems: ProblemSink) -> ServiceDiscovery | None:
    cache_timeout = 0 if sd.cache_disabled else sd.cache_timeout
    return _discovery(sd, sd.use_discovery_service, cache_timeout, f"{path}.query_endpoint", problems)


def _oas_discovery(sd: OasServiceDiscovery | None, path: str, problems: ProblemSink) -> ServiceDiscovery | None:
    if sd is None:
        return None
    cache_timeout = sd.cache_timeout if sd.cache is None else sd.cache.timeout if sd.cache.enabled else 0
    return _discovery(sd, sd.enabled, cache_timeout, f"{path}.queryEndpoint", problems)


def _discovery(
    sd: ClassicServiceDiscovery | OasServiceDiscovery,
    enabled: bool,
    cache_timeout: int,
    endpoint_path: str,
    problems: ProblemSink,
) -> ServiceDiscovery | None:
    """Both formats name their fields alike in Python; a cache timeout <= 0 means the gateway default."""
    if not enabled:
        return None
    require_http_url(sd.query_endpoint, endpoint_path, problems)
    return ServiceDiscovery(
        query_endpoint=sd.query_endpoint,
        data_path=sd.data_path,
        use_nested_query=sd.use_nested_query,
        parent_data_path=sd.parent_data_path,
        port_data_path=sd.port_data_path,
        target_path=sd.target_path,
        use_target_list=sd.use_target_list,
        endpoint_returns_list=sd.endpoint_returns_list,
        cache_timeout=float(max(cache_timeout, 0)),
    )
