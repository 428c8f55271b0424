"""How one API's upstream connections are opened when it needs more than the default: its TLS policy
(trust, versions, ciphers, client certificate by host, pins) and its forward proxy (`proxy_url`).

Plans are made by the composition root when a snapshot is prepared, one per distinct (policy, proxy), and
kept across reloads while those stay the same, so pooled connections survive a reload. A plan is hashed by
identity: it is part of the connection pool's key, so two APIs share connections only when they share a plan.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from bascule.config.outbound import ProxyEndpoint, ProxyRoute
from bascule.core.proxy_route import choose_proxy
from bascule.errors import UpstreamTlsError
from bascule.outbound.upstream_tls import UpstreamTlsPolicy


@dataclass(frozen=True, eq=False, slots=True)
class DialPlan:
    tls: UpstreamTlsPolicy | None = None
    """None: bascule's default verified context."""
    proxy: ProxyEndpoint | None = None
    """A forward proxy (`proxy_url`): TLS upstreams through `CONNECT`, plain ones too (a tunnel, so requests
    stay in origin form)."""
    route: ProxyRoute | None = None
    """Without `proxy`: the environment's proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`), chosen per host."""
    error: str = ""
    """Why the plan could not be made (a certificate or pin that does not resolve): every dial fails with it,
    so the API answers 502 rather than connect without its certificate or pins (fail closed)."""

    def proxy_for(self, tls: bool, host: str, port: int) -> ProxyEndpoint | None:
        if self.proxy is not None or self.route is None:
            return self.proxy
        return choose_proxy(self.route, "https" if tls else "http", host, port)

    def context_for(self, host: str, port: int, target: str) -> ssl.SSLContext | None:
        if self.error:
            raise UpstreamTlsError(target, self.error)
        return self.tls.context_for(host, port) if self.tls is not None else None
