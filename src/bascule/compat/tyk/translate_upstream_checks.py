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
* **Event handlers**: Classic `event_handlers.events{trigger: [{handler_name, handler_meta}]}`:
  `eh_web_hook_handler` -> webhook, `eh_log_handler` -> log, `eh_dynamic_handler` and
  `cp_dynamic_handler` -> custom, other names an error; `disabled: true` -> omitted. OAS
  `server.eventHandlers[]` by `type`; `enabled: false` -> omitted. Webhook: Classic `target_path`, OAS
  `url` must be an absolute http(s) URL; method must be a string (§5 case 70), upper-cased, "" -> GET;
  cooldown from Classic `event_timeout` (seconds) or OAS `cooldownPeriod` (Go duration).

Durations use `parse_go_duration` (Go's `time.ParseDuration`: units ns us µs ms s m h, sign,
fractions, "0"). Departures from Tyk, all load errors naming the JSON path: an invalid duration (Tyk
reads 0; its schema also refuses fractions, which bascule accepts), a negative time, a webhook method
other than GET PUT POST DELETE PATCH (Tyk warns and uses GET), a non-absolute webhook or discovery URL
(Tyk logs at init or fails each fetch), a scheme-less HTTP check URL or invalid base64 body (Tyk drops
the check with a log line), a check scheme contradicting `protocol` (Tyk builds `tcp://http://...`).
Not an error but also a departure: a Classic check without `protocol` and with a `tcp://`/`tls://` URL
is a socket check (Tyk sends it an HTTP request).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from bascule.compat.tyk.classic import (
    ClassicApiDefinition,
    ClassicCheckCommand,
    ClassicEventHandlers,
    ClassicHandlerMeta,
    ClassicServiceDiscovery,
    ClassicUptimeCheck,
    ClassicUptimeTests,
    ClassicWebhookMeta,
)
from bascule.compat.tyk.oas import (
    OAS_EXTENSION_KEY,
    OasEventHandler,
    OasServiceDiscovery,
    OasUptimeTest,
    OasUptimeTestCommand,
    OasUptimeTests,
    XTykApiGateway,
)
from bascule.config.upstream_checks import (
    CheckCommand,
    CheckKind,
    CommandName,
    EventHandler,
    EventHandlerKind,
    ServiceDiscovery,
    UpstreamChecks,
    UptimeCheck,
    UptimeTests,
)
from bascule.core.upstream_url import parse_target

_OAS = f"$.{OAS_EXTENSION_KEY}"
_CHECK_KINDS: Mapping[str, CheckKind] = {"http": "http", "https": "http", "tcp": "tcp", "tls": "tls"}
_COMMANDS: Mapping[str, CommandName] = {"send": "send", "expect": "expect"}
_CLASSIC_HANDLERS: Mapping[str, EventHandlerKind] = {
    "eh_web_hook_handler": "webhook",
    "eh_log_handler": "log",
    "eh_dynamic_handler": "custom",
    "cp_dynamic_handler": "custom",
}
WEBHOOK_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")
_UNSAFE_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f]")

_NANOSECONDS: Mapping[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION = re.compile(f"(?:{_DURATION_PART.pattern})+")
_MAX_NANOSECONDS = 2**63 - 1

_Meta = TypeVar("_Meta", bound=BaseModel)


class ProblemSink(Protocol):
    """Where problems go: `translate_api._Problems`, or a list in tests."""

    def add(self, json_path: str, message: str) -> None: ...


def parse_go_duration(text: str) -> float:
    """Seconds for a Go duration string (`time.ParseDuration`); raises ValueError. `"1h30m"` -> 5400.0."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits == "0":
        return 0.0
    if not _DURATION.fullmatch(digits):
        raise ValueError(f'invalid duration {text!r}; use Go syntax such as "2s", "500ms" or "1h30m"')
    total = sum(Fraction(number) * _NANOSECONDS[unit] for number, unit in _DURATION_PART.findall(digits))
    nanoseconds = int(total)  # Go truncates a fraction of a nanosecond
    if nanoseconds > _MAX_NANOSECONDS:
        raise ValueError(f"duration {text!r} is out of range")
    return (-nanoseconds if text.startswith("-") else nanoseconds) / 1e9


def translate_classic_checks(api: ClassicApiDefinition, problems: ProblemSink) -> UpstreamChecks:
    """The `UpstreamChecks` of a Classic definition; every problem goes to `problems`."""
    return UpstreamChecks(
        uptime=_classic_uptime(api.uptime_tests, "$.uptime_tests", problems),
        skip_unavailable_hosts=api.proxy.check_host_against_uptime_tests,
        discovery=_classic_discovery(api.proxy.service_discovery, "$.proxy.service_discovery", problems),
        event_handlers=_classic_event_handlers(api.event_handlers, "$.event_handlers.events", problems),
    )


def translate_oas_checks(extension: XTykApiGateway, problems: ProblemSink) -> UpstreamChecks:
    """The `UpstreamChecks` of an OAS `x-tyk-api-gateway`; every problem goes to `problems`."""
    upstream = extension.upstream
    balancing = upstream.load_balancing
    return UpstreamChecks(
        uptime=_oas_uptime(upstream.uptime_tests, f"{_OAS}.upstream.uptimeTests", problems),
        skip_unavailable_hosts=balancing is not None and balancing.skip_unavailable_hosts,
        discovery=_oas_discovery(upstream.service_discovery, f"{_OAS}.upstream.serviceDiscovery", problems),
        event_handlers=_oas_event_handlers(extension.server.event_handlers, f"{_OAS}.server.eventHandlers", problems),
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
        check = _validate(ClassicUptimeCheck, item, at, problems)
        if check is not None:
            checks.append(_classic_check(check, at, problems))
    return tuple(check for check in checks if check is not None)


def _classic_check(check: ClassicUptimeCheck, at: str, problems: ProblemSink) -> UptimeCheck | None:
    body = _base64(check.body, f"{at}.body", problems)
    timeout = _non_negative(check.timeout, f"{at}.timeout", problems) / 1e9
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
        recheck_wait=float(_non_negative(config.recheck_wait, f"{path}.config.recheck_wait", problems)),
        log_retention=float(_non_negative(config.expire_utime_after, f"{path}.config.expire_utime_after", problems)),
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
        timeout = _duration(test.timeout, f"{at}.timeout", problems)
        checks.append(_check(test, "", test.body.encode(), timeout, at, problems))
    return UptimeTests(
        checks=tuple(check for check in checks if check is not None),
        recheck_wait=_duration(tests.host_down_retest_period, f"{path}.hostDownRetestPeriod", problems),
        log_retention=_duration(tests.log_retention_period, f"{path}.logRetentionPeriod", problems),
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
    if _UNSAFE_URL_CHARACTER.search(url):
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
    _require_http_url(sd.query_endpoint, endpoint_path, problems)
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


# --- event handlers ----------------------------------------------------------------------------------


def _classic_event_handlers(
    handlers: ClassicEventHandlers, path: str, problems: ProblemSink
) -> tuple[EventHandler, ...]:
    found: list[EventHandler] = []
    for trigger, configs in handlers.events.items():
        for i, config in enumerate(configs):
            at = f"{path}.{trigger}[{i}]"
            kind = _CLASSIC_HANDLERS.get(config.handler_name)
            if kind is None:
                known = ", ".join(_CLASSIC_HANDLERS)
                problems.add(f"{at}.handler_name", f"unknown handler {config.handler_name!r}; use one of {known}")
                continue
            meta_model = ClassicWebhookMeta if kind == "webhook" else ClassicHandlerMeta
            meta = _validate(meta_model, config.handler_meta, f"{at}.handler_meta", problems)
            if meta is None or meta.disabled:
                continue
            handler = EventHandler(trigger, kind, name=meta.name, handler_id=meta.id)
            if isinstance(meta, ClassicWebhookMeta):
                at = f"{at}.handler_meta"
                handler = replace(
                    handler,
                    url=_require_http_url(meta.target_path, f"{at}.target_path", problems),
                    method=_webhook_method(meta.method, f"{at}.method", problems),
                    headers=tuple(meta.header_map.items()),
                    template_path=meta.template_path,
                    cooldown=float(_non_negative(meta.event_timeout, f"{at}.event_timeout", problems)),
                )
            found.append(handler)
    return tuple(found)


def _oas_event_handlers(
    handlers: Sequence[OasEventHandler], path: str, problems: ProblemSink
) -> tuple[EventHandler, ...]:
    found: list[EventHandler] = []
    for i, handler in enumerate(handlers):
        if not handler.enabled:
            continue
        at = f"{path}[{i}]"
        translated = EventHandler(handler.trigger, handler.type, name=handler.name, handler_id=handler.id)
        if handler.type == "webhook":
            translated = replace(
                translated,
                url=_require_http_url(handler.url, f"{at}.url", problems),
                method=_webhook_method(handler.method, f"{at}.method", problems),
                headers=tuple((header.name, header.value) for header in handler.headers),
                template_path=handler.body_template,
                cooldown=_duration(handler.cooldown_period, f"{at}.cooldownPeriod", problems),
            )
        found.append(translated)
    return tuple(found)


def _webhook_method(written: str, path: str, problems: ProblemSink) -> str:
    method = written.upper() or "GET"
    if method not in WEBHOOK_METHODS:
        problems.add(path, f"webhook method {written!r} is not one of {', '.join(WEBHOOK_METHODS)}")
    return method


# --- values ------------------------------------------------------------------------------------------


def _require_http_url(url: str, path: str, problems: ProblemSink) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or _UNSAFE_URL_CHARACTER.search(url):
        written = f"{url!r} is not" if url else "is empty, not"
        problems.add(path, f"{path.rpartition('.')[2]} {written} an absolute http:// or https:// URL")
    return url


def _duration(text: str, path: str, problems: ProblemSink) -> float:
    """Seconds of an OAS duration field; "" (absent) is 0, as in Tyk."""
    if not text:
        return 0.0
    try:
        seconds = parse_go_duration(text)
    except ValueError as error:
        problems.add(path, str(error))
        return 0.0
    if seconds < 0:
        problems.add(path, f"duration {text!r} must not be negative")
        return 0.0
    return seconds


def _base64(text: str, path: str, problems: ProblemSink) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        problems.add(path, "body is not valid base64 (Classic check bodies are base64-encoded)")
        return b""


def _non_negative(value: int, path: str, problems: ProblemSink) -> int:
    if value < 0:
        problems.add(path, f"{path.rpartition('.')[2]} must not be negative (got {value})")
        return 0
    return value


def _validate(model: type[_Meta], data: Mapping[str, Any], path: str, problems: ProblemSink) -> _Meta | None:
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        for detail in error.errors():
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in detail["loc"])
            problems.add(path + where, str(detail["msg"]))
        return None
