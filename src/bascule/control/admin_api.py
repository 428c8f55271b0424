"""The control API: Tyk's `/tyk/` endpoints and the health endpoint, as one request handler.

Rules (DECISIONS §20, tyk-behaviour §3.13; tests in `tests/unit/control/test_admin_api.py` and
`tests/integration/test_control_api.py`):

* `GET /<health_check_endpoint_name>` (default `/hello`) needs no key and always answers 200 with the
  health report (`admin_health`); another method is a 405.
* Every path under `/tyk/` (and `/tyk` itself) needs the header `X-Tyk-Authorization` equal to the
  gateway's `secret`, compared in constant time on the UTF-8 bytes, before any routing, so a client
  without the key learns nothing about which paths exist. Otherwise 403 with Tyk's text. An empty
  `secret` disables the control API: every `/tyk/` request is refused (bascule's choice; Tyk lets
  everyone in). The key's value is never logged.
* Routing is the table in `ControlApi._routes` (`admin_routes`): trailing slashes are tolerated, an
  unknown path is a 404 and a known path with another method a 405 with `Allow`; all answers are JSON.
* `POST` and `PUT` bodies are read whole, up to `max_body` bytes (10 MiB by default), else 413.
* `/tyk/certs` is the certificate store (`admin_certs`); without a store (`certificates=None`) it
  answers 501.
* `GET /tyk/health/hosts` (bascule's own) lists each checked upstream host (`admin_health.hosts_report`).
* `GET /tyk/reload` and `/tyk/reload/group` start a reload and answer at once; with `?block=true` they
  answer when it is done (500 when it failed). The reload runs in its own task, so a client that hangs
  up does not cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from urllib.parse import parse_qs

from bascule import __version__
from bascule.config.gateway import GatewaySettings
from bascule.control.admin_apis import ApiDefinitions
from bascule.control.admin_certs import CertificateEndpoints
from bascule.control.admin_health import health_report, hosts_report
from bascule.control.admin_replies import (
    BODY_TOO_LARGE,
    INTERNAL_ERROR,
    INVALID_KEY,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    RELOAD_FAILED,
    REQUEST_TIMEOUT,
    AdminCall,
    Reply,
    error_reply,
)
from bascule.control.admin_routes import Route, RouteMiss, match_route, normalise_path
from bascule.control.reloader import Reloader
from bascule.errors import ClientProtocolError
from bascule.messages import InboundRequest, ResponseWriter, reason_phrase
from bascule.runtime.host_board import HostBoard
from bascule.runtime.snapshot import Snapshot, SnapshotHolder
from bascule.storage.certificates import CertificateStore
from bascule.storage.redis import MEMORY_HEALTH, StorageHealth

log = logging.getLogger("bascule.control")

MAX_BODY = 10 * 1024 * 1024
"""Bytes of a control API request body; more is a 413."""

AUTH_HEADER = b"x-tyk-authorization"
ADMIN_PREFIX = "/tyk"
METHODS_WITH_BODY = frozenset({"POST", "PUT"})
MISS_MESSAGES: Mapping[int, str] = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}

Handler = Callable[[AdminCall], Awaitable[Reply]]


async def _memory_health() -> StorageHealth:
    return MEMORY_HEALTH


def control_api_enabled(settings: GatewaySettings) -> bool:
    """False when `secret` is empty: every `/tyk/` request is then refused (DECISIONS §20)."""
    return settings.secret != ""


def is_admin_path(path: str) -> bool:
    """`/tyk` and everything under `/tyk/`, on a normalised path; `/tyk-foo` is not (§5 case 52)."""
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def _header(request: InboundRequest, lower_name: bytes) -> bytes | None:
    """The first value of a header, as Go's `Header.Get` takes it."""
    return next((value for name, value in request.headers if name.lower() == lower_name), None)


class ControlApi:
    """The request handler for `/tyk/...` and the health endpoint (see the module rules).

    An unexpected error in a handler is logged and answered 500 JSON; a client that hangs up while
    sending its body gets no answer (the response is abandoned).
    """

    def __init__(
        self,
        holder: SnapshotHolder,
        reloader: Reloader,
        max_body: int = MAX_BODY,
        *,
        certificates: CertificateStore | None = None,
        storage_health: Callable[[], Awaitable[StorageHealth]] | None = None,
        host_board: HostBoard | None = None,
    ) -> None:
        self._holder = holder
        self._reloader = reloader
        self._max_body = max_body
        self._storage_health = storage_health or _memory_health
        self._board = host_board or HostBoard()
        gateway = holder.current.gateway
        self._secret = gateway.secret.encode("utf-8")
        self._reloads: set[asyncio.Task[Snapshot]] = set()
        definitions = ApiDefinitions(holder)
        certs = CertificateEndpoints(certificates)
        self._public_routes: tuple[Route[Handler], ...] = (
            Route("GET", normalise_path(gateway.health_check_endpoint_name), self._health),
        )
        self._routes: tuple[Route[Handler], ...] = (
            Route("GET", "/tyk/apis/oas", partial(definitions.index, "oas")),
            Route("POST", "/tyk/apis/oas", partial(definitions.create, "oas")),
            Route("GET", "/tyk/apis/oas/{id}", partial(definitions.show, "oas")),
            Route("PUT", "/tyk/apis/oas/{id}", partial(definitions.update, "oas")),
            Route("DELETE", "/tyk/apis/oas/{id}", definitions.delete),
            Route("GET", "/tyk/apis", partial(definitions.index, "classic")),
            Route("POST", "/tyk/apis", partial(definitions.create, "classic")),
            Route("GET", "/tyk/apis/{id}", partial(definitions.show, "classic")),
            Route("PUT", "/tyk/apis/{id}", partial(definitions.update, "classic")),
            Route("DELETE", "/tyk/apis/{id}", definitions.delete),
            Route("GET", "/tyk/certs", certs.index),
            Route("POST", "/tyk/certs", certs.create),
            Route("GET", "/tyk/certs/{id}", certs.show),
            Route("DELETE", "/tyk/certs/{id}", certs.delete),
            Route("GET", "/tyk/health/hosts", self._hosts),
            Route("GET", "/tyk/reload", self._reload),
            Route("GET", "/tyk/reload/group", self._reload),
        )

    async def __call__(self, request: InboundRequest, writer: ResponseWriter) -> None:
        try:
            reply = await self._answer(request, writer)
        except ConnectionError:
            writer.abandon()
            return
        except Exception:
            log.exception("control API: %s %s failed", request.method, request.path)
            reply = error_reply(500, INTERNAL_ERROR)
        body = json.dumps(reply.body, separators=(",", ":"), default=_mapping_as_dict).encode()
        headers = [(b"Content-Type", b"application/json"), *reply.headers]
        writer.send_head(reply.status, reason_phrase(reply.status), headers, len(body))
        writer.write(body)
        writer.end()
        if writer.must_drain:
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def wait_for_reloads(self) -> None:
        """Wait until the reloads started without `block=true` have finished (for an orderly stop)."""
        while self._reloads:
            await asyncio.wait(set(self._reloads))

    async def _answer(self, request: InboundRequest, writer: ResponseWriter) -> Reply:
        path = normalise_path(request.path)
        routes = self._public_routes
        if is_admin_path(path):
            if not self._has_admin_key(request):
                self._log_refusal(request, path)
                return error_reply(403, INVALID_KEY)
            routes = self._routes
        found = match_route(routes, request.method, path)
        if isinstance(found, RouteMiss):
            allow = ((b"Allow", ", ".join(found.allowed).encode("ascii")),) if found.allowed else ()
            return error_reply(found.status, MISS_MESSAGES[found.status], allow)
        body = b""
        if request.method in METHODS_WITH_BODY:
            read = await self._read_body(request, writer)
            if isinstance(read, Reply):
                return read
            body = read
        return await found.handler(AdminCall(found.params, request.query, body))

    def _has_admin_key(self, request: InboundRequest) -> bool:
        supplied = _header(request, AUTH_HEADER)
        if not self._secret or supplied is None:
            return False
        return hmac.compare_digest(supplied, self._secret)

    def _log_refusal(self, request: InboundRequest, path: str) -> None:
        client = request.client_ip.decode("latin-1")
        if self._secret:
            log.warning("control API: %s %s from %s: invalid or missing key", request.method, path, client)
        else:
            log.debug("control API: %s %s from %s: disabled (empty secret)", request.method, path, client)

    async def _read_body(self, request: InboundRequest, writer: ResponseWriter) -> bytes | Reply:
        """The whole body, or the reply refusing it. A client that hangs up raises ConnectionError."""
        if request.content_length is not None and request.content_length > self._max_body:
            return error_reply(413, BODY_TOO_LARGE)
        stream = request.body
        if stream is None:
            return b""
        if request.expects_continue:
            writer.send_continue()
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := await stream.read():
                size += len(chunk)
                if size > self._max_body:
                    return error_reply(413, BODY_TOO_LARGE)
                chunks.append(chunk)
        except ClientProtocolError as error:
            return error_reply(error.status, error.message)
        except TimeoutError:
            return error_reply(408, REQUEST_TIMEOUT)
        return b"".join(chunks)

    async def _health(self, call: AdminCall) -> Reply:
        storage = await self._storage_health()
        return Reply(200, health_report(self._holder.current, __version__, storage.kind, storage.status))

    async def _hosts(self, call: AdminCall) -> Reply:
        return Reply(200, hosts_report(self._board, self._holder.current.gateway.uptime.enabled))

    async def _reload(self, call: AdminCall) -> Reply:
        task = asyncio.get_running_loop().create_task(self._reloader.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reload_finished)
        if parse_qs(call.query, keep_blank_values=True).get("block", [""])[0] != "true":
            return Reply(200, {"status": "ok", "message": ""})
        try:
            await asyncio.shield(task)
        except Exception as error:
            return error_reply(500, f"{RELOAD_FAILED}: {error}")
        return Reply(200, {"status": "ok", "message": ""})

    def _reload_finished(self, task: asyncio.Task[Snapshot]) -> None:
        self._reloads.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the reloader has logged it


def _mapping_as_dict(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
