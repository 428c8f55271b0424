from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvloop
from upstream_peer import UpstreamPeer

from bascule.app import Gateway
from bascule.config.gateway import GatewaySettings, HttpServerSettings

SECRET = "integration-secret-0123456789abcdef"


def classic_api(api_id: str, listen_path: str, target: str, **proxy: Any) -> dict[str, Any]:
    return {
        "api_id": api_id,
        "name": api_id,
        "org_id": "default",
        "active": True,
        "use_keyless": True,
        "proxy": {"listen_path": listen_path, "target_url": target, "strip_listen_path": True, **proxy},
    }


@pytest.fixture
async def upstream() -> AsyncIterator[UpstreamPeer]:
    peer = await UpstreamPeer().start()
    yield peer
    await peer.stop()


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    started: list[Gateway] = []

    async def start(apis: list[dict[str, Any]], http: HttpServerSettings | None = None, **settings: Any) -> Gateway:
        app_path = tmp_path / f"apps{len(started)}"
        app_path.mkdir()
        for api in apis:
            name = api.get("api_id") or api["x-tyk-api-gateway"]["info"]["id"]
            (app_path / f"{name}.json").write_text(json.dumps(api))
        base = GatewaySettings(
            listen_address="127.0.0.1",
            listen_port=0,
            secret=SECRET,
            app_path=app_path,
            proxy_default_timeout=5,
        )
        gateway = Gateway(replace(base, http_server=http or HttpServerSettings(), **settings))
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop(1)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The gateway runs on uvloop in production; the integration tests do too."""
    return {"uvloop": uvloop.new_event_loop}
