"""The HTTP proxy: match -> rewrite -> pick -> forward (tyk-behaviour §3.1-3.3).

Every decision is a pure function from `bascule.core`; this module reads the snapshot once per request,
calls them in order and hands the exchange to `bascule.proxy.exchange`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from bascule import __version__
from bascule.config.auth import ApiAuth
from bascule.core.headers import Header, encode_head, forwarded_request_headers
from bascule.core.rewrite import (
    clean_path,
    escape_path,
    join_paths,
    merge_query,
    needs_cleaning,
    strip_listen_path,
    strip_listen_path_pattern,
)
from bascule.errors import AllHostsDown
from bascule.messages import InboundRequest, ResponseWriter, error_response
from bascule.middleware.access import refusal
from bascule.middleware.authenticate import Allowed, Authenticator, Outcome, PendingOutcome, Refused
from bascule.observability.analytics import AnalyticsRecorder
from bascule.outbound.dial_plan import DialPlan
from bascule.outbound.pool import ConnectionPool
from bascule.proxy.errors import status_for
from bascule.proxy.exchange import Exchange
from bascule.runtime.snapshot import ApiRuntime, Snapshot, SnapshotHolder

log = logging.getLogger("bascule.proxy")
USER_AGENT = f"bascule/{__version__}".encode()


class HttpProxy:
    """The request handler for API traffic."""

    def __init__(
        self,
        holder: SnapshotHolder,
        pool: ConnectionPool,
        recorder: AnalyticsRecorder | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self._holder = holder
        self._pool = pool
        self._recorder = recorder
        self._auth = authenticator

    def __call__(self, request: InboundRequest, writer: ResponseWriter) -> None:
        snapshot = self._holder.current
        options = snapshot.gateway.http_server
        path = request.path
        if not options.skip_url_cleaning and needs_cleaning(path):
            _redirect(writer, clean_path(path), request.query)
            return
        match = snapshot.routes.match(request.host, path)
        if match is None:
            writer.send_simple(*error_response(404, "Not Found"))
            return
        api = match.mount.target
        if api.settings.client_certificate_auth is not None:
            refused_certificate = _certificate_refusal(request, snapshot.client_certificates.get(api.settings.api_id))
            if refused_certificate is not None:
                writer.send_simple(*error_response(403, refused_certificate))
                return
        if api.settings.keyless:
            self._forward(snapshot, api, request, writer, None)
            return
        if self._auth is None:
            refused = refusal(False, request.headers)
            assert refused is not None
            writer.send_simple(*error_response(*refused))
            return
        outcome = self._auth.check(api.settings, request.headers, path, request.client_ip.decode("latin-1"))
        if isinstance(outcome, Refused):
            writer.send_simple(*error_response(outcome.status, outcome.message))
        elif isinstance(outcome, Allowed):
            self._forward(snapshot, api, request, writer, outcome)
        else:
            self._wait_for(outcome, snapshot, api, request, writer)

    def _wait_for(
        self,
        pending: PendingOutcome,
        snapshot: Snapshot,
        api: ApiRuntime,
        request: InboundRequest,
        writer: ResponseWriter,
    ) -> None:
        """Run a check that has to wait (a JWKS fetch, an introspection call), then forward or refuse; a
        client that goes away meanwhile cancels it."""
        task = asyncio.get_running_loop().create_task(pending)

        def resume(done: asyncio.Task[Outcome]) -> None:
            if done.cancelled():
                return  # the client went away
            error = done.exception()
            if error is not None:
                log.error("authentication of %s %s failed", request.method, request.path, exc_info=error)
                writer.send_simple(*error_response(500, "Internal Server Error"))
                return
            outcome = done.result()
            if isinstance(outcome, Refused):
                writer.send_simple(*error_response(outcome.status, outcome.message))
            else:
                self._forward(snapshot, api, request, writer, outcome)

        def cancel() -> None:
            task.cancel()

        task.add_done_callback(resume)
        writer.on_cancel(cancel)

    def _forward(
        self,
        snapshot: Snapshot,
        api: ApiRuntime,
        request: InboundRequest,
        writer: ResponseWriter,
        identity: Allowed | None,
    ) -> None:
        options = snapshot.gateway.http_server
        path = request.path
        try:
            target = api.upstream.pick()
        except AllHostsDown as exc:
            writer.send_simple(*error_response(*status_for(exc)))
            return
        upstream_path = _upstream_path(api, path, target.path)
        if not options.skip_target_path_escaping:
            upstream_path = escape_path(upstream_path)
        query = merge_query(target.query, request.query)
        request_target = f"{upstream_path}?{query}" if query else upstream_path
        host = request.host if api.settings.preserve_host_header else target.host_header_bytes
        headers = _upstream_headers(request, host, options.enable_websockets)
        if identity is not None:
            headers = _with_identity(headers, api.settings.auth, identity)
        head = encode_head(b"%s %s HTTP/1.1" % (request.method.encode(), request_target.encode("latin-1")), headers)
        timeout = snapshot.gateway.proxy_default_timeout
        plan = cast("DialPlan | None", snapshot.dials.get(api.settings.api_id)) if snapshot.dials else None
        Exchange(self._pool, target.origin, head, request, writer, timeout, api.settings, self._recorder, plan).start()


def _upstream_path(api: ApiRuntime, path: str, target_path: str) -> str:
    """Strip the listen path (whichever mount matched: a literal prefix test, as Tyk), then join."""
    settings = api.settings
    if settings.strip_listen_path:
        if api.strip_pattern is not None:
            path = strip_listen_path_pattern(path, api.strip_pattern)
        else:
            path = strip_listen_path(path, settings.listen_path)
    joined = join_paths(target_path, path, settings.preserve_trailing_slash)
    return joined if joined.startswith("/") else "/" + joined


def _upstream_headers(request: InboundRequest, host: bytes, websockets: bool) -> list[Header]:
    headers = forwarded_request_headers(
        request.headers,
        request.client_ip,
        host,
        request.scheme,
        request.host,
        listed=request.connection_tokens,
        user_agent=USER_AGENT,
    )
    if request.upgrade and websockets:
        upgrade = next((v for n, v in request.headers if n.lower() == b"upgrade"), b"websocket")
        headers += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade)]
    elif request.content_length is not None:
        headers.append((b"Content-Length", b"%d" % request.content_length))
    elif request.chunked:
        headers.append((b"Transfer-Encoding", b"chunked"))
    return headers


IDENTITY_HEADER = b"X-Tyk-Identity"
CERTIFICATE_REQUIRED = "Client TLS certificate is required"
CERTIFICATE_NOT_ALLOWED = "Certificate with SHA256 hash {} not allowed"


def _certificate_refusal(request: InboundRequest, allowed: frozenset[str] | None) -> str | None:
    """Tyk's texts for `use_mutual_tls_auth`: no client certificate, or one not on the API's list."""
    presented = request.peer_certificate_sha256
    if not presented:
        return CERTIFICATE_REQUIRED
    if allowed is None or presented not in allowed:
        return CERTIFICATE_NOT_ALLOWED.format(presented)
    return None


def _with_identity(headers: list[Header], auth: ApiAuth, identity: Allowed) -> list[Header]:
    """The upstream headers with the client's identity and chosen claims. Every header bascule may set here is
    removed from what the client sent first, whether or not a value replaces it (a missing claim must not let
    the client's own copy through)."""
    removed = {IDENTITY_HEADER.lower()} | {header.lower().encode("latin-1") for header, _ in auth.forward_claims}
    kept = [(name, value) for name, value in headers if name.lower() not in removed]
    if auth.forward_identity and _fits_a_header(identity.identity):
        kept.append((IDENTITY_HEADER, identity.identity.encode("utf-8")))
    for header, claim in auth.forward_claims:
        value = identity.claims.get(claim)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and _fits_a_header(str(value)):
            kept.append((header.encode("latin-1"), str(value).encode("utf-8")))
    return kept


def _fits_a_header(text: str) -> bool:
    """No CR, LF or NUL: a token's claims are the client's words and must not split the upstream head."""
    return "\r" not in text and "\n" not in text and "\0" not in text


def _redirect(writer: ResponseWriter, path: str, query: str) -> None:
    location = f"{path}?{query}" if query else path
    writer.send_head(301, b"Moved Permanently", [(b"Location", location.encode("latin-1"))], 0)
    writer.end()
