"""Tyk event handlers -> `EventHandler`s. Pure. Rules (rows of `tests/unit/compat/test_translate_upstream_checks.py`):

Classic `event_handlers.events{trigger: [{handler_name, handler_meta}]}`: `eh_web_hook_handler` -> webhook,
`eh_log_handler` -> log, `eh_dynamic_handler` and `cp_dynamic_handler` -> custom, other names an error;
`disabled: true` -> omitted. OAS `server.eventHandlers[]` by `type`; `enabled: false` -> omitted. Webhook:
Classic `target_path`, OAS `url` must be an absolute http(s) URL; method must be a string (§5 case 70),
upper-cased, "" -> GET, and one of GET PUT POST DELETE PATCH (Tyk warns and uses GET); cooldown from Classic
`event_timeout` (seconds) or OAS `cooldownPeriod` (Go duration).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from bascule.compat.tyk.classic import ClassicEventHandlers, ClassicHandlerMeta, ClassicWebhookMeta
from bascule.compat.tyk.oas import OasEventHandler
from bascule.compat.tyk.tyk_values import ProblemSink, duration_at, non_negative_at, require_http_url, validate_at
from bascule.config.upstream_checks import EventHandler, EventHandlerKind

_CLASSIC_HANDLERS: Mapping[str, EventHandlerKind] = {
    "eh_web_hook_handler": "webhook",
    "eh_log_handler": "log",
    "eh_dynamic_handler": "custom",
    "cp_dynamic_handler": "custom",
}
WEBHOOK_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")


def classic_event_handlers(
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
            meta = validate_at(meta_model, config.handler_meta, f"{at}.handler_meta", problems)
            if meta is None or meta.disabled:
                continue
            handler = EventHandler(trigger, kind, name=meta.name, handler_id=meta.id)
            if isinstance(meta, ClassicWebhookMeta):
                at = f"{at}.handler_meta"
                handler = replace(
                    handler,
                    url=require_http_url(meta.target_path, f"{at}.target_path", problems),
                    method=_webhook_method(meta.method, f"{at}.method", problems),
                    headers=tuple(meta.header_map.items()),
                    template_path=meta.template_path,
                    cooldown=float(non_negative_at(meta.event_timeout, f"{at}.event_timeout", problems)),
                )
            found.append(handler)
    return tuple(found)


def oas_event_handlers(
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
                url=require_http_url(handler.url, f"{at}.url", problems),
                method=_webhook_method(handler.method, f"{at}.method", problems),
                headers=tuple((header.name, header.value) for header in handler.headers),
                template_path=handler.body_template,
                cooldown=duration_at(handler.cooldown_period, f"{at}.cooldownPeriod", problems),
            )
        found.append(translated)
    return tuple(found)


def _webhook_method(written: str, path: str, problems: ProblemSink) -> str:
    method = written.upper() or "GET"
    if method not in WEBHOOK_METHODS:
        problems.add(path, f"webhook method {written!r} is not one of {', '.join(WEBHOOK_METHODS)}")
    return method
