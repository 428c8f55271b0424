"""A dial plan that could not be made fails every dial, plain HTTP included (fail closed), and a plan picks
its proxy: its own `proxy_url`, else the environment's route per host."""

from __future__ import annotations

import pytest

from bascule.config.outbound import ProxyEndpoint, ProxyRoute
from bascule.core.upstream_url import Origin
from bascule.errors import UpstreamTlsError
from bascule.outbound.dial_plan import DialPlan
from bascule.outbound.pool import ConnectionPool
from bascule.outbound.proxy_connect import ProxyConnector


@pytest.mark.parametrize("tls", [False, True])
async def test_a_failed_plan_never_dials(tls: bool) -> None:
    pool = ConnectionPool(ProxyConnector(None, None))
    with pytest.raises(UpstreamTlsError, match="pin reference"):
        await pool.connect(Origin("127.0.0.1", 9, tls), 1.0, DialPlan(error="pin reference 'x' not found"))


def test_the_proxy_url_wins_over_the_environment() -> None:
    own = ProxyEndpoint("http", "own-proxy", 3128)
    environment = ProxyRoute(http_proxy=ProxyEndpoint("http", "env-proxy", 8080), loopback_never_proxied=True)
    assert DialPlan(proxy=own, route=environment).proxy_for(False, "upstream.example", 80) is own
    assert DialPlan(route=environment).proxy_for(False, "upstream.example", 80) == environment.http_proxy
    assert DialPlan(route=environment).proxy_for(False, "127.0.0.1", 80) is None  # Go: loopback goes direct
    assert DialPlan().proxy_for(True, "upstream.example", 443) is None
