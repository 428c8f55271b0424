"""Running each API's event handlers (tyk-behaviour §3.11, DECISIONS §15): the `EventBus` listener.

* Handlers come from the API's definition in the running snapshot (`ApiSettings.checks.event_handlers`),
  so a reload changes them with nothing to re-register. `log` handlers write one line; `custom` handlers
  (Tyk's JavaScript and coprocess ones) are not run by bascule.
* A webhook is delivered in the background through the `webhooks` service (proxy, mTLS, 30 s timeout): the
  request path never waits for one. At most `MAX_PENDING` deliveries wait at once; beyond that an event is
  dropped with a warning (a dead receiver must not pile up memory).
* The request: the handler's method and URL; body from its template (`template_path`, read once and
  compiled; a missing or broken file falls back to the default template, with a warning), rendered with
  `.Type`, `.TimeStamp` and `.Meta` (HTML-escaped, as Go's html/template); `User-Agent: Tyk-Hookshot`;
  the handler's headers; `Content-Type: application/json` for the default template (a fallback included,
  whatever the file's name) and `.json` templates unless a header sets it. User info in the URL
  (`https://user:pass@host/...`) is not sent in the URL but as `Authorization: Basic`, percent-decoded,
  unless a header sets `Authorization`: what Go's client, and so Tyk, does.
* De-duplication: with a `cooldown`, the MD5 of method, URL and body is added to storage as
  `webhook.cache.<md5>` with that lifetime before sending; when it is already there (another delivery,
  perhaps from another node, within the cooldown) nothing is sent. Cooldown 0: every event is sent (Tyk:
  never again).
* A failure (transport error or non-2xx) is logged with the target, credentials redacted. No retries.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from bascule.config.upstream_checks import EventHandler
from bascule.core.webhook_template import TemplateError, WebhookTemplate, compile_template
from bascule.errors import ExternalServiceUnavailable, ProxyError
from bascule.observability.redaction import redact_url
from bascule.outbound.service_client import ServiceClient
from bascule.runtime.events import HOST_DOWN, HOST_UP, Event
from bascule.runtime.snapshot import Snapshot, SnapshotHolder
from bascule.storage.kv import KeyValueStore
from bascule.storage.redis import StorageError

log = logging.getLogger("bascule.events")

MAX_PENDING = 1000
USER_AGENT = "Tyk-Hookshot"
HOST_EVENT_TEMPLATE = """{
  "event": "{{.Type}}",
  "message": "{{.Meta.Message}}",
  "url": "{{.Meta.HostInfo.CheckURL}}",
  "response_code": "{{.Meta.HostInfo.ResponseCode}}",
  "tcp_error": "{{.Meta.HostInfo.IsTCPError}}",
  "host": "{{.Meta.HostInfo.MetaData.host_name}}",
  "api_id": "{{.Meta.HostInfo.MetaData.api_id}}"
}"""
EVENT_TEMPLATE = """{
  "event": "{{.Type}}",
  "message": "{{.Meta.Message}}",
  "path": "{{.Meta.Path}}",
  "origin": "{{.Meta.Origin}}",
  "key": "{{.Meta.Key}}"
}"""
_DEFAULTS = {
    HOST_DOWN: compile_template(HOST_EVENT_TEMPLATE),
    HOST_UP: compile_template(HOST_EVENT_TEMPLATE),
}
_DEFAULT = compile_template(EVENT_TEMPLATE)


class EventHandlers:
    """Call it with an event (an `EventBus` listener); `stop` waits for deliveries in flight."""

    def __init__(self, holder: SnapshotHolder, client: ServiceClient, storage: KeyValueStore) -> None:
        self._holder = holder
        self._client = client
        self._storage = storage
        self._pending: set[asyncio.Task[bool]] = set()
        self._templates: dict[str, WebhookTemplate | None] = {}
        self._warned: set[tuple[str, str]] = set()

    def review(self, snapshot: Snapshot) -> None:
        """A `SnapshotHolder` listener: warn once about each handler bascule does not run."""
        for api in snapshot.definitions.values():
            for handler in api.checks.event_handlers:
                key = (api.api_id, handler.trigger)
                if handler.kind == "custom" and key not in self._warned:
                    self._warned.add(key)
                    log.warning(
                        "[EVENT] API %s: the %s handler for %s is JavaScript or coprocess code, which bascule does "
                        "not run",
                        api.api_id,
                        handler.name or "custom",
                        handler.trigger,
                    )

    def __call__(self, event: Event) -> None:
        api = self._holder.current.definitions.get(event.api_id)
        if api is None:
            return
        for handler in api.checks.event_handlers:
            if handler.trigger != event.name:
                continue
            if handler.kind == "log":
                log.info("[EVENT] %s for API %s: %s", event.name, event.api_id, event.message)
            elif handler.kind == "webhook":
                self._schedule(handler, event)

    def _schedule(self, handler: EventHandler, event: Event) -> None:
        if len(self._pending) >= MAX_PENDING:
            log.warning("[WEBHOOK] %d deliveries pending: dropping %s for %s", MAX_PENDING, event.name, event.api_id)
            return
        task = asyncio.get_running_loop().create_task(self.deliver(handler, event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def stop(self, grace: float = 5.0) -> None:
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=grace)
        for task in list(self._pending):
            task.cancel()

    async def deliver(self, handler: EventHandler, event: Event) -> bool:
        """Send one webhook; True when the receiver answered 2xx."""
        template, custom = await self._template(handler, event.name)
        body = template.render(_template_data(event)).encode()
        target = redact_url(handler.url)
        if handler.cooldown > 0 and not await self._first_within_cooldown(handler, body):
            log.debug("[WEBHOOK] %s to %s skipped: sent within the last %gs", event.name, target, handler.cooldown)
            return False
        url, credentials = _split_user_info(handler.url)
        headers = [("User-Agent", USER_AGENT), *handler.headers]
        if credentials and not _has_header(handler.headers, "authorization"):
            headers.append(("Authorization", f"Basic {credentials}"))
        json_body = not custom or handler.template_path.endswith(".json")
        if json_body and not _has_header(handler.headers, "content-type"):
            headers.append(("Content-Type", "application/json"))
        try:
            answer = await self._client.request(handler.method, url, headers, body)
        except (ProxyError, OSError, ExternalServiceUnavailable, ValueError) as exc:
            log.error("[WEBHOOK] Webhook request failed: %s %s: %s", handler.method, target, exc)
            return False
        if not 200 <= answer.status < 300:
            log.error("[WEBHOOK] Request to webhook failed: %s %s answered %d", handler.method, target, answer.status)
            return False
        log.debug("[WEBHOOK] %s delivered to %s", event.name, target)
        return True

    async def _first_within_cooldown(self, handler: EventHandler, body: bytes) -> bool:
        digest = hashlib.md5(b"%s\n%s\n%s" % (handler.method.encode(), handler.url.encode(), body))  # noqa: S324 - a cache key, Tyk's
        try:
            return await self._storage.add(f"webhook.cache.{digest.hexdigest()}", b"1", ttl=handler.cooldown)
        except StorageError as exc:
            log.warning("[WEBHOOK] cooldown not checked (%s); sending", exc)
            return True

    async def _template(self, handler: EventHandler, event_name: str) -> tuple[WebhookTemplate, bool]:
        """The handler's template, and whether it is its own (False: the default, also when the file failed)."""
        default = _DEFAULTS.get(event_name, _DEFAULT)
        path = handler.template_path
        if not path:
            return default, False
        if path not in self._templates:
            self._templates[path] = await asyncio.to_thread(_load_template, path)
        custom = self._templates[path]
        return (default, False) if custom is None else (custom, True)


def _has_header(headers: tuple[tuple[str, str], ...], lowered: str) -> bool:
    return any(name.lower() == lowered for name, _ in headers)


def _split_user_info(url: str) -> tuple[str, str]:
    """`url` without `user:pass@`, and the Basic credentials (base64 of the decoded `user:pass`; "" for none).
    A URL that does not parse is returned as it is, for the client to refuse."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, ""
    user_info, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, ""
    user, _, password = user_info.partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode()
    return urlunsplit(parts._replace(netloc=host)), base64.b64encode(pair).decode("ascii")


def _load_template(path: str) -> WebhookTemplate | None:
    try:
        return compile_template(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TemplateError) as exc:
        log.warning("[WEBHOOK] template %s not usable (%s): using the default template", path, exc)
        return None


def _template_data(event: Event) -> dict[str, object]:
    meta = {"Message": event.message, **event.meta}
    stamp = datetime.fromtimestamp(event.at, UTC).isoformat()
    return {"Type": event.name, "TimeStamp": stamp, "Meta": meta, "APIID": event.api_id, "OrgID": event.org_id}
