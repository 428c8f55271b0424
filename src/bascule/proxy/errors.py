"""Which status and message a client gets for each way a proxied request can fail (DECISIONS §18).

Texts are Tyk's (tyk-behaviour §3.8); statuses follow DECISIONS §18 where it differs from Tyk
(connect and TLS failures are 502, not 500).
"""

from __future__ import annotations

from bascule.errors import (
    AllHostsDown,
    ClientProtocolError,
    ProxyError,
    UpstreamConnectError,
    UpstreamHostLookupError,
    UpstreamProtocolError,
    UpstreamTimeout,
)

PROXY_FAILURE = "There was a problem proxying the request"

# Most specific first: the first class an error is an instance of decides.
ERROR_RESPONSES: tuple[tuple[type[Exception], int, str], ...] = (
    (UpstreamHostLookupError, 502, "Upstream host lookup failed"),
    (UpstreamTimeout, 504, "Upstream service reached hard timeout."),
    (AllHostsDown, 503, "all hosts are down"),
    (UpstreamConnectError, 502, PROXY_FAILURE),
    (UpstreamProtocolError, 502, PROXY_FAILURE),
    (ProxyError, 502, PROXY_FAILURE),
    (ConnectionError, 502, PROXY_FAILURE),
)


def status_for(error: Exception) -> tuple[int, str]:
    """The status and message for `error`; a client's own protocol error keeps its 4xx."""
    if isinstance(error, ClientProtocolError):
        return error.status, error.message
    for kind, status, message in ERROR_RESPONSES:
        if isinstance(error, kind):
            return status, message
    return 500, PROXY_FAILURE
