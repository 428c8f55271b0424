"""Tyk Classic and Tyk OAS API definitions -> `ApiSettings`. Pure: no files, no clock, no environment.

Rules (one test row each in `tests/unit/compat/test_translate_api.py`):

* **Format**: a document with the key `x-tyk-api-gateway` is Tyk OAS, anything else Tyk Classic.
* **api_id**: Classic `api_id`, required. OAS `info.id`; when it is empty, bascule derives the id from
  `info.name` (lower-cased, runs of characters other than `a-z 0-9 . _ -` become `-`, `-` trimmed at
  the ends: `"Users API v2"` -> `users-api-v2`).
* **Listen path**: normalised by `normalise_listen_path`. KV references (`env://...`) are an error
  for now: they are not resolved yet, and an unresolved one would never match a request.
* **Keyless**: Classic `use_keyless`; OAS: no `server.authentication`, or `enabled: false`.
* **Domain**: the API's custom domain only when the gateway has `enable_custom_domains` and the API
  enables it (Classic: `domain` and not `domain_disabled`; OAS: `customDomain.enabled` and `name`).
* **Load balancing**: Classic `target_list` duplicates are counted into weights, targets in order of
  first appearance (`[A, A, B]` -> `[(A, 2), (B, 1)]`); OAS weights as given (missing = 0) and a URL
  listed twice has the sum of its weights. Weight-0 targets are kept (never picked). LB enabled with
  no target or only weight 0: error with Tyk's text `ALL_WEIGHTS_ZERO`. LB disabled: no targets.
* **Target URLs** must parse as the runtime parses them (`core.upstream_url.parse_target`): a scheme
  among http, https, ws, wss, h2c, tcp, tls, a host, a valid port (required for tcp/tls), and no
  whitespace or control characters (bascule's choice: Tyk accepts them and fails each request).
  As in Tyk, a load-balancing entry without `://` is trimmed and gets the API protocol, or `http`,
  as its scheme (`httpbin.org` -> `http://httpbin.org`); a TCP/TLS API's `target_url` without `://`
  gets its protocol (`127.0.0.1:6379` -> `tcp://127.0.0.1:6379`). Other scheme-less URLs are errors.
* **Static target**: Classic `proxy.target_url` (required); OAS `upstream.url`, or, when it is absent
  and LB is enabled, the first target with weight > 0.
* **Checks**: uptime tests, skipping down hosts, service discovery and event handlers
  (`translate_upstream_checks`, whose rules are tested in `test_translate_upstream_checks.py`).
* **Auth**: JWT, external OAuth (JWT or introspection) and forwarded claims (`translate_auth`, whose
  rules are tested in `test_translate_auth.py`).
* **TLS**: upstream TLS (the gateway's merged in), server certificates and client-certificate auth
  (`translate_tls`, whose rules are tested in `test_translate_tls.py`).

Errors: one `ConfigError` listing every problem found, each naming `source` and a JSON path
(`$.proxy.target_url`, `$.x-tyk-api-gateway.upstream.loadBalancing.targets[1].url`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bascule.compat.tyk.classic import ClassicApiDefinition
from bascule.compat.tyk.oas import OAS_EXTENSION_KEY, OasApiDefinition
from bascule.compat.tyk.translate_auth import translate_classic_auth, translate_oas_auth
from bascule.compat.tyk.translate_tls import translate_classic_tls, translate_oas_tls
from bascule.compat.tyk.translate_upstream_checks import translate_classic_checks, translate_oas_checks
from bascule.compat.tyk.tyk_values import UNSAFE_URL_CHARACTER
from bascule.config.apis import ApiSettings, WeightedTarget
from bascule.config.gateway import GatewaySettings
from bascule.core.listen_path import is_kv_reference, normalise_listen_path
from bascule.core.upstream_url import DEFAULT_PORTS, normalise_host, parse_target
from bascule.errors import ConfigError, ConfigProblem

ALL_WEIGHTS_ZERO = "all load balancing targets have weight 0, at least one target must have weight > 0"
"""Tyk's validation text, kept verbatim."""

_OAS = f"$.{OAS_EXTENSION_KEY}"
_NOT_ID_CHARACTERS = re.compile(r"[^a-z0-9._-]+")

_Model = TypeVar("_Model", bound=BaseModel)


class _Problems:
    """The problems found in one document, all reported together."""

    def __init__(self, source: Path | None) -> None:
        self._source = source
        self._found: list[ConfigProblem] = []

    def add(self, json_path: str, message: str) -> None:
        self._found.append(ConfigProblem(self._source, json_path, message))

    def raise_if_any(self) -> None:
        if self._found:
            raise ConfigError(self._found)


def translate_api_definition(document: Mapping[str, Any], gateway: GatewaySettings, source: Path | None) -> ApiSettings:
    """The native settings for one Tyk API definition; raises `ConfigError` (see the module rules)."""
    if OAS_EXTENSION_KEY in document:
        return _translate_oas(document, gateway, source)
    return _translate_classic(document, gateway, source)


def _json_path(location: Sequence[int | str]) -> str:
    """`("proxy", "target_list", 0)` -> `$.proxy.target_list[0]`."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)


def _parse(model: type[_Model], document: Mapping[str, Any], source: Path | None) -> _Model:
    try:
        return model.model_validate(dict(document))
    except ValidationError as error:
        problems = [ConfigProblem(source, _json_path(detail["loc"]), _message(detail)) for detail in error.errors()]
        raise ConfigError(problems) from error


def _message(detail: Mapping[str, Any]) -> str:
    if detail["type"] == "value_error":
        return str(detail["ctx"]["error"])
    return str(detail["msg"])


def _translate_classic(document: Mapping[str, Any], gateway: GatewaySettings, source: Path | None) -> ApiSettings:
    api = _parse(ClassicApiDefinition, document, source)
    proxy = api.proxy
    problems = _Problems(source)
    if not api.api_id.strip():
        problems.add("$.api_id", "api_id is required")
    listen_path = _listen_path(proxy.listen_path, "$.proxy.listen_path", problems)
    tcp_scheme = api.protocol if api.protocol in ("tcp", "tls") else None
    target_url = _target_url(proxy.target_url, tcp_scheme, "$.proxy.target_url", problems)
    targets: tuple[WeightedTarget, ...] = ()
    if proxy.enable_load_balancing:
        entries = [(url, 1, f"$.proxy.target_list[{i}]") for i, url in enumerate(proxy.target_list)]
        targets = _weighted_targets(entries, api.protocol or "http", problems)
        if not proxy.target_list:
            problems.add("$.proxy.target_list", ALL_WEIGHTS_ZERO)
    checks = translate_classic_checks(api, problems)
    auth = translate_classic_auth(api, problems)
    tls = translate_classic_tls(api, gateway, problems)
    problems.raise_if_any()
    has_domain = gateway.enable_custom_domains and not api.domain_disabled
    return ApiSettings(
        api_id=api.api_id,
        name=api.name,
        org_id=api.org_id,
        active=api.active,
        keyless=api.use_keyless,
        listen_path=listen_path,
        strip_listen_path=proxy.strip_listen_path,
        target_url=target_url,
        domain=api.domain if has_domain else "",
        load_balancing=proxy.enable_load_balancing,
        targets=targets,
        preserve_host_header=proxy.preserve_host_header,
        preserve_trailing_slash=proxy.disable_strip_slash,
        protocol=api.protocol,
        listen_port=api.listen_port,
        upstream_tls=tls.upstream_tls,
        server_certificates=tls.server_certificates,
        client_certificate_auth=tls.client_certificate_auth,
        checks=checks,
        auth=auth,
        format="classic",
        source=source,
        definition=document,
    )


def _translate_oas(document: Mapping[str, Any], gateway: GatewaySettings, source: Path | None) -> ApiSettings:
    oas_document = _parse(OasApiDefinition, document, source)
    gateway_extension = oas_document.x_tyk_api_gateway
    info, server, upstream = gateway_extension.info, gateway_extension.server, gateway_extension.upstream
    problems = _Problems(source)
    api_id = info.id if info.id.strip() else api_id_from_name(info.name)
    if not api_id:
        problems.add(f"{_OAS}.info.id", "id is empty and cannot be derived from info.name")
    listen_path = _listen_path(server.listen_path.value, f"{_OAS}.server.listenPath.value", problems)
    balancing = upstream.load_balancing
    load_balancing = balancing is not None and balancing.enabled
    targets: tuple[WeightedTarget, ...] = ()
    if balancing is not None and load_balancing:
        targets_path = f"{_OAS}.upstream.loadBalancing.targets"
        entries = [
            (target.url, target.weight, f"{targets_path}[{i}].url") for i, target in enumerate(balancing.targets)
        ]
        targets = _weighted_targets(entries, server.protocol or "http", problems)
        if all(target.weight == 0 for target in balancing.targets):
            problems.add(targets_path, ALL_WEIGHTS_ZERO)
    if upstream.url:
        target_url = _target_url(upstream.url, None, f"{_OAS}.upstream.url", problems)
    else:
        target_url = next((target.url for target in targets if target.weight > 0), "")
        if not load_balancing:
            problems.add(f"{_OAS}.upstream.url", "url is required unless loadBalancing is enabled")
    checks = translate_oas_checks(gateway_extension, problems)
    auth = translate_oas_auth(oas_document, problems)
    tls = translate_oas_tls(gateway_extension, gateway, problems)
    problems.raise_if_any()
    custom_domain = server.custom_domain
    has_domain = gateway.enable_custom_domains and custom_domain is not None and custom_domain.enabled
    return ApiSettings(
        api_id=api_id,
        name=info.name,
        org_id=info.org_id,
        active=info.state.active,
        keyless=server.is_keyless,
        listen_path=listen_path,
        strip_listen_path=server.listen_path.strip,
        target_url=target_url,
        domain=custom_domain.name if has_domain and custom_domain is not None else "",
        load_balancing=load_balancing,
        targets=targets,
        preserve_host_header=upstream.preserve_host_header is not None and upstream.preserve_host_header.enabled,
        preserve_trailing_slash=(
            upstream.preserve_trailing_slash is not None and upstream.preserve_trailing_slash.enabled
        ),
        protocol=server.protocol or "",
        listen_port=server.port or 0,
        upstream_tls=tls.upstream_tls,
        server_certificates=tls.server_certificates,
        client_certificate_auth=tls.client_certificate_auth,
        checks=checks,
        auth=auth,
        format="oas",
        source=source,
        definition=document,
    )


def api_id_from_name(name: str) -> str:
    """The id of an OAS API without `info.id`: `"Users API v2"` -> `users-api-v2`; may be ""."""
    return _NOT_ID_CHARACTERS.sub("-", name.lower()).strip("-")


def _listen_path(value: str, path: str, problems: _Problems) -> str:
    if is_kv_reference(value):
        problems.add(path, f"key-value references ({value}) are not supported in listen paths yet")
        return value
    return normalise_listen_path(value)


def _target_url(value: str, default_scheme: str | None, path: str, problems: _Problems) -> str:
    if not value:
        problems.add(path, "the upstream URL is required")
        return value
    return _checked_upstream_url(value, default_scheme, path, problems) or value


def _weighted_targets(
    entries: Iterable[tuple[str, int, str]], default_scheme: str, problems: _Problems
) -> tuple[WeightedTarget, ...]:
    """Valid targets with summed weights, in order of first appearance; bad URLs go to `problems`."""
    weights: dict[str, int] = {}
    for url, weight, path in entries:
        checked = _checked_upstream_url(url.strip(), default_scheme, path, problems)
        if checked is not None:
            weights[checked] = weights.get(checked, 0) + weight
    return tuple(WeightedTarget(url, weight) for url, weight in weights.items())


def _checked_upstream_url(value: str, default_scheme: str | None, path: str, problems: _Problems) -> str | None:
    """`value` (with `default_scheme` added when it has no `://`), or None after adding a problem.

    The URL must parse with `core.upstream_url.parse_target`, the parser the runtime uses.
    """
    if UNSAFE_URL_CHARACTER.search(value):
        problems.add(path, f"upstream URL {value!r} contains whitespace or control characters")
        return None
    if "://" not in value:
        if default_scheme is None:
            schemes = ", ".join(f"{scheme}://" for scheme in sorted(DEFAULT_PORTS))
            problems.add(path, f"upstream URL {value!r} has no scheme; use one of {schemes}")
            return None
        value = normalise_host(value, default_scheme)
    try:
        parse_target(value)
    except ValueError as error:
        message = str(error)
        problems.add(path, message if repr(value) in message else f"upstream URL {value!r} is not valid: {message}")
        return None
    return value
