"""The HTTP proxy: match -> rewrite -> pick -> forward (tyk-behaviour §3.1-3.3).

Every decision is a pure function from `bascule.core`; this module reads the snapshot once per request,
calls them in order and hands the exchange to `bascule.proxy.exchange`.
"""

from __future__ import annotations

from bascule import __version__
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
from bascule.observability.analytics import AnalyticsRecorder
from bascule.outbound.pool import ConnectionPool
from bascule.proxy.errors import status_for
from bascule.proxy.exchange import Exchange
from bascule.runtime.snapshot import ApiRuntime, SnapshotHolder

USER_AGENT = f"bascule/{__version__}".encode()


class HttpProxy:
    """The request handler for API traffic."""

    def __init__(self, holder: SnapshotHolder, pool: ConnectionPool, recorder: AnalyticsRecorder | None = None) -> None:
        self._holder = holder
        self._pool = pool
        self._recorder = recorder

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
        if not api.settings.keyless:
            refused = refusal(api.settings.keyless, request.headers)
            if refused is not None:
                writer.send_simple(*error_response(*refused))
                return
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
        head = encode_head(b"%s %s HTTP/1.1" % (request.method.encode(), request_target.encode("latin-1")), headers)
        timeout = snapshot.gateway.proxy_default_timeout
        Exchange(self._pool, target.origin, head, request, writer, timeout, api.settings, self._recorder).start()


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


def _redirect(writer: ResponseWriter, path: str, query: str) -> None:
    location = f"{path}?{query}" if query else path
    writer.send_head(301, b"Moved Permanently", [(b"Location", location.encode("latin-1"))], 0)
    writer.end()
