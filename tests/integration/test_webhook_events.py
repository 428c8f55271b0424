"""Events and webhooks on the real gateway (issue 4 point 5; tyk-behaviour §3.6 and §3.11; DECISIONS §7-10, §15).

HostDown and HostUp come from real uptime checks against a `CheckedPeer` and reach a recording
`WebhookReceiver`; the rest publish on `gateway.events` directly, as the health checker does. The `webhooks`
service's proxy and mTLS are written in a tyk.conf and loaded by `load_gateway_settings`, so the test runs the
configuration path an operator's file takes; squid's access log proves which calls it carried.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from check_peers import WebhookReceiver, write_leaf
from checked_upstream import CheckedPeer, eventually
from conftest import GatewayFactory, classic_api
from http_client import fetch
from proxy_peers import SquidPeer, start_all, stop_all
from upstream_peer import UpstreamPeer

from bascule.compat.tyk.load_gateway import load_gateway_settings
from bascule.config.gateway import UptimeSettings
from bascule.config.outbound import ServiceProfile, ServiceType
from bascule.runtime.events import HOST_DOWN, HOST_UP, Event

FAST = UptimeSettings(interval=0.2, sample_size=2)
API_ID = "hooked"
PASSWORD = "pa55-w0rd-7c2e"
QUIET = 4 * FAST.interval
"""Long enough for a few more check rounds, or for a delivery that should not happen to show up."""


@pytest.fixture
async def peer() -> AsyncIterator[CheckedPeer]:
    checked = CheckedPeer(name="checked")
    await checked.start()
    yield checked
    await checked.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as hooks:
        yield hooks


@dataclass
class Pki:
    ca: trustme.CA
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("webhook-pki")
    ca = trustme.CA()
    client = write_leaf(ca, "gateway.webhooks.test", directory)
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    return Pki(ca, directory / "ca.pem", client.cert, client.key)


@pytest.fixture(scope="module")
def squid() -> Iterator[SquidPeer]:
    proxy = SquidPeer("squid-webhooks")
    try:
        start_all(proxy)
        yield proxy
    finally:
        stop_all(proxy)


def web_hook(url: str, *, headers: Mapping[str, str] | None = None, template: str = "", timeout: int = 0) -> Any:
    """A Classic `eh_web_hook_handler` entry."""
    meta = {"method": "POST", "target_path": url, "template_path": template, "event_timeout": timeout}
    return {"handler_name": "eh_web_hook_handler", "handler_meta": {**meta, "header_map": dict(headers or {})}}


def hooked_api(upstream: UpstreamPeer, check: str = "", **events: list[Any]) -> dict[str, Any]:
    """A Classic API with `event_handlers`; with `check` (a path), an uptime test of the upstream there."""
    api = classic_api(API_ID, "/hooked/", upstream.url)
    if check:
        api["uptime_tests"] = {"check_list": [{"url": f"{upstream.url}{check}"}]}
    api["event_handlers"] = {"events": events}
    return api


def host_event(name: str = HOST_DOWN, check_url: str = "http://127.0.0.1:9/health") -> Event:
    """The event the health checker publishes for a host reached through `check_url`."""
    host = check_url.split("/")[2]
    info = {
        "CheckURL": check_url,
        "ResponseCode": "0",
        "IsTCPError": "true",
        "Latency": "",
        "Detail": "connection refused",
        "MetaData": {"target_url": check_url, "api_id": API_ID, "host_name": host},
    }
    message = "Uptime test failed" if name == HOST_DOWN else "Uptime test succeeded"
    return Event(name, API_ID, "default", message, time.time(), {"Message": message, "HostInfo": info})


def webhook_services(tmp_path: Path, external_services: dict[str, Any]) -> Mapping[ServiceType, ServiceProfile]:
    """The profiles of a tyk.conf holding `external_services`, as the gateway loads them."""
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps({"external_services": external_services}))
    loaded = load_gateway_settings(conf, environ={})
    assert loaded.warnings == ()
    return loaded.settings.external_services


def messages(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if needle in record.getMessage()]


async def logged(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    """The log lines containing `needle`, once there is one (deliveries run in the background)."""

    async def seen() -> bool:
        return bool(messages(caplog, needle))

    await eventually(seen, timeout=5.0)
    return messages(caplog, needle)


def default_payload(event: str, check_url: str, code: str, tcp_error: str) -> dict[str, str]:
    """Tyk's default HostDown/HostUp body: every value a JSON string (tyk-behaviour §3.11)."""
    message = "Uptime test failed" if event == HOST_DOWN else "Uptime test succeeded"
    host = check_url.split("/")[2]
    return {
        "event": event,
        "message": message,
        "url": check_url,
        "response_code": code,
        "tcp_error": tcp_error,
        "host": host,
        "api_id": API_ID,
    }


# -- HostDown / HostUp from real uptime checks ------------------------------------------------------------------
async def test_classic_host_down_then_up_delivers_one_webhook_each(
    gateway_factory: GatewayFactory, peer: CheckedPeer, receiver: WebhookReceiver
) -> None:
    headers = {"X-Hook-Secret": "classic-7", "X-Env": "integration"}
    api = hooked_api(
        peer,
        check="/health",
        HostDown=[web_hook(f"{receiver.url}/down", headers=headers)],
        HostUp=[web_hook(f"{receiver.url}/up", headers=headers)],
    )
    await gateway_factory([api], uptime=FAST)
    await asyncio.sleep(QUIET)
    assert receiver.requests == []  # a host that starts up fires nothing
    peer.health_status = 500
    [down] = await receiver.wait_for(1)
    peer.health_status = 200
    up = (await receiver.wait_for(2))[1]
    await asyncio.sleep(QUIET)  # more rounds, all good: nothing more (Tyk repeats HostDown; bascule does not)
    assert len(receiver.requests) == 2
    check_url = f"{peer.url}/health"
    assert (down.method, down.path) == ("POST", "/down")
    assert json.loads(down.body) == default_payload(HOST_DOWN, check_url, "500", "false")
    assert (up.method, up.path) == ("POST", "/up")
    assert json.loads(up.body) == default_payload(HOST_UP, check_url, "200", "false")
    for seen in (down, up):
        assert seen.header("User-Agent") == "Tyk-Hookshot"
        assert seen.header_values("Content-Type") == ["application/json"]
        assert (seen.header("X-Hook-Secret"), seen.header("X-Env")) == ("classic-7", "integration")


async def test_oas_event_handlers_deliver_host_down_and_up_and_keep_the_cooldown(
    gateway_factory: GatewayFactory, peer: CheckedPeer, receiver: WebhookReceiver
) -> None:
    def handler(trigger: str, path: str) -> dict[str, Any]:
        return {
            "enabled": True,
            "trigger": trigger,
            "type": "webhook",
            "name": f"{trigger} hook",
            "url": f"{receiver.url}{path}",
            "method": "post",
            "cooldownPeriod": "30s",
            "headers": [{"name": "X-Hook-Secret", "value": "oas-9"}],
        }

    oas = {
        "openapi": "3.0.3",
        "info": {"title": API_ID, "version": "1"},
        "paths": {},
        "x-tyk-api-gateway": {
            "info": {"id": API_ID, "name": API_ID, "state": {"active": True}},
            "server": {
                "listenPath": {"value": "/hooked/", "strip": True},
                "eventHandlers": [handler("HostDown", "/down"), handler("HostUp", "/up")],
            },
            "upstream": {
                "url": peer.url,
                "uptimeTests": {"enabled": True, "tests": [{"url": f"{peer.url}/health", "timeout": "1s"}]},
            },
        },
    }
    gateway = await gateway_factory([oas], uptime=FAST)
    published: list[Event] = []
    gateway.events.subscribe(published.append)
    await asyncio.sleep(QUIET)  # checked and up, on a kept-alive connection
    await peer.stop()  # refused: a TCP error, no status
    [down] = await receiver.wait_for(1)
    await peer.start()
    up = (await receiver.wait_for(2))[1]
    check_url = f"{peer.url}/health"
    assert (down.method, down.path) == ("POST", "/down")  # "post" upper-cased
    assert json.loads(down.body) == default_payload(HOST_DOWN, check_url, "0", "true")
    assert (up.path, json.loads(up.body)) == ("/up", default_payload(HOST_UP, check_url, "200", "false"))
    for seen in (down, up):
        assert seen.header("User-Agent") == "Tyk-Hookshot"
        assert seen.header("Content-Type") == "application/json"
        assert seen.header("X-Hook-Secret") == "oas-9"
    assert [event.name for event in published] == [HOST_DOWN, HOST_UP]
    gateway.events.publish(published[0])  # the same HostDown again, within cooldownPeriod
    await asyncio.sleep(QUIET)
    assert len(receiver.requests) == 2


async def test_custom_templates_render_and_a_missing_one_falls_back_to_the_default(
    gateway_factory: GatewayFactory, peer: CheckedPeer, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    json_template = tmp_path / "host.json"
    json_template.write_text(
        '{"check": "{{.Meta.HostInfo.CheckURL}}", "code": "{{ .Meta.HostInfo.ResponseCode }}",'
        ' "type": "{{.Type}}", "api": "{{.Meta.HostInfo.MetaData.api_id}}"}'
    )
    text_template = tmp_path / "host.tmpl"
    text_template.write_text("{{.Type}} at {{.Meta.HostInfo.MetaData.host_name}}: {{.Meta.Message}} (a+b)")
    api = hooked_api(
        peer,
        check="/health?from=a+b",  # values are escaped as html/template escapes them: `+` is `&#43;`
        HostDown=[
            web_hook(f"{receiver.url}/json", template=str(json_template)),
            web_hook(f"{receiver.url}/tmpl", template=str(text_template)),
            web_hook(f"{receiver.url}/missing", template=str(tmp_path / "absent.tmpl")),
            web_hook(f"{receiver.url}/xml", template=str(text_template), headers={"Content-Type": "application/xml"}),
        ],
    )
    await gateway_factory([api], uptime=FAST)
    peer.health_status = 503
    by_path = {seen.path: seen for seen in await receiver.wait_for(4)}
    check_url = f"{peer.url}/health?from=a&#43;b"
    assert json.loads(by_path["/json"].body) == {"check": check_url, "code": "503", "type": "HostDown", "api": API_ID}
    assert by_path["/json"].header("Content-Type") == "application/json"  # a `.json` template
    # Literal text as written, and no Content-Type for a template that is not `.json` (§5 case 71).
    assert by_path["/tmpl"].body == f"HostDown at 127.0.0.1:{peer.port}: Uptime test failed (a+b)".encode()
    assert by_path["/tmpl"].header("Content-Type") is None
    assert by_path["/xml"].header_values("Content-Type") == ["application/xml"]  # header_map wins
    # A template that cannot be read: Tyk's default body, and the default's Content-Type (§5 case 72).
    assert json.loads(by_path["/missing"].body) == default_payload(HOST_DOWN, check_url, "503", "false")
    assert by_path["/missing"].header("Content-Type") == "application/json"
    for seen in by_path.values():
        assert (seen.method, seen.header("User-Agent")) == ("POST", "Tyk-Hookshot")


async def test_log_handler_writes_one_line_per_event(
    gateway_factory: GatewayFactory, peer: CheckedPeer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bascule.events")
    log_handler = {"handler_name": "eh_log_handler", "handler_meta": {"prefix": "hosts"}}
    await gateway_factory([hooked_api(peer, check="/health", HostDown=[log_handler])], uptime=FAST)
    peer.health_status = 500
    lines = await logged(caplog, "[EVENT] HostDown")
    await asyncio.sleep(QUIET)
    assert messages(caplog, "[EVENT]") == lines == [f"[EVENT] HostDown for API {API_ID}: Uptime test failed"]


# -- de-duplication and the request path -------------------------------------------------------------------------
async def test_identical_events_within_event_timeout_are_delivered_once(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, receiver: WebhookReceiver
) -> None:
    api = hooked_api(
        upstream,
        HostDown=[web_hook(f"{receiver.url}/cooled", timeout=60), web_hook(f"{receiver.url}/every", timeout=0)],
    )
    gateway = await gateway_factory([api])
    gateway.events.publish(host_event())
    gateway.events.publish(host_event())  # identical body, method and URL: the same checksum
    await receiver.wait_for(3)
    gateway.events.publish(host_event(check_url="http://127.0.0.1:10/health"))  # another host: another body
    await receiver.wait_for(5)
    await asyncio.sleep(QUIET)
    paths = [seen.path for seen in receiver.requests]
    assert (paths.count("/cooled"), paths.count("/every")) == (2, 3)  # event_timeout 0: every event is sent
    cooled = [json.loads(seen.body)["host"] for seen in receiver.requests if seen.path == "/cooled"]
    assert sorted(cooled) == ["127.0.0.1:10", "127.0.0.1:9"]


async def test_a_slow_receiver_never_slows_the_request_path(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer
) -> None:
    async with WebhookReceiver(delay=3.0) as slow:
        gateway = await gateway_factory([hooked_api(upstream, HostDown=[web_hook(f"{slow.url}/slow")])])
        port = gateway.ports["main"]
        loop = asyncio.get_running_loop()
        began = loop.time()
        gateway.events.publish(host_event())
        assert loop.time() - began < 0.05  # publishing only schedules the delivery
        await slow.wait_for(1)  # the webhook has arrived; its answer comes 3 s later
        arrived = loop.time()
        statuses = await asyncio.gather(*(fetch(port, "GET", f"/hooked/echo/{n}") for n in range(32)))
        assert [answer.status for answer in statuses] == [200] * 32
        assert loop.time() - arrived < 1.0 < slow.delay  # all served while the delivery was still waiting
        assert upstream.requests and len(slow.requests) == 1


# -- failures -------------------------------------------------------------------------------------------------------
async def test_failed_deliveries_are_logged_once_with_credentials_redacted(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with WebhookReceiver(status=500) as failing:
        gone = await WebhookReceiver().start()
        await gone.stop()  # a port nobody listens on
        api = hooked_api(
            upstream,
            HostDown=[
                web_hook(f"http://hookuser:{PASSWORD}@127.0.0.1:{failing.port}/fail"),
                web_hook(f"http://hookuser:{PASSWORD}@127.0.0.1:{gone.port}/gone"),
            ],
        )
        gateway = await gateway_factory([api])
        gateway.events.publish(host_event())
        [seen] = await failing.wait_for(1)
        answered = await logged(caplog, "Request to webhook failed")
        refused = await logged(caplog, "Webhook request failed")
        await asyncio.sleep(QUIET)
        assert len(failing.requests) == 1  # no retries
    credentials = base64.b64encode(f"hookuser:{PASSWORD}".encode()).decode()
    assert seen.header("Authorization") == f"Basic {credentials}"  # Go sends URL user info as basic auth
    assert answered == [
        f"[WEBHOOK] Request to webhook failed: POST http://***@127.0.0.1:{failing.port}/fail answered 500"
    ]
    assert len(refused) == 1 and f"POST http://***@127.0.0.1:{gone.port}/gone: " in refused[0]
    assert len(messages(caplog, f"127.0.0.1:{gone.port}")) == 2  # the service client's line and the handler's
    assert PASSWORD not in caplog.text and "hookuser" not in caplog.text


# -- the `webhooks` external service -------------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["webhooks", "global"])
async def test_webhooks_go_through_the_configured_proxy(
    gateway_factory: GatewayFactory,
    upstream: UpstreamPeer,
    receiver: WebhookReceiver,
    squid: SquidPeer,
    tmp_path: Path,
    level: str,
) -> None:
    written = {"http_proxy": f"http://127.0.0.1:{squid.port}"}
    block = {"webhooks": {"proxy": written}} if level == "webhooks" else {"global": {"enabled": True, **written}}
    services = webhook_services(tmp_path, block)
    assert services[ServiceType.WEBHOOKS].timeout == 30.0  # the docs' webhook timeout
    hook_path = f"/via-squid-{level}"
    gateway = await gateway_factory(
        [hooked_api(upstream, HostDown=[web_hook(receiver.url + hook_path)])], external_services=services
    )
    gateway.events.publish(host_event())
    [seen] = await receiver.wait_for(1)
    assert seen.path == hook_path and "squid" in (seen.header("Via") or "")
    assert len(await squid.wait_for_log(f"POST http://127.0.0.1:{receiver.port}{hook_path} ")) == 1


@pytest.mark.parametrize("client_cert", [True, False], ids=["with-client-cert", "without-client-cert"])
async def test_webhooks_to_a_receiver_requiring_a_client_certificate(
    gateway_factory: GatewayFactory,
    upstream: UpstreamPeer,
    squid: SquidPeer,
    pki: Pki,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    client_cert: bool,
) -> None:
    mtls: dict[str, Any] = {"enabled": True, "ca_file": str(pki.ca_file)}
    if client_cert:
        mtls |= {"cert_file": str(pki.cert_file), "key_file": str(pki.key_file)}
    proxy = {"https_proxy": f"http://127.0.0.1:{squid.port}"}
    services = webhook_services(tmp_path, {"webhooks": {"proxy": proxy, "mtls": mtls}})
    async with WebhookReceiver(tls=pki.ca, require_client_cert=pki.ca) as secure:
        hook_url = f"{secure.url}/mtls"
        api = hooked_api(upstream, HostDown=[web_hook(hook_url)])
        gateway = await gateway_factory([api], external_services=services)
        gateway.events.publish(host_event())
        if client_cert:
            [seen] = await secure.wait_for(1)
            assert seen.client_cn == "gateway.webhooks.test"
            assert json.loads(seen.body)["event"] == HOST_DOWN
        else:
            [line] = await logged(caplog, "Webhook request failed")
            assert line.startswith(f"[WEBHOOK] Webhook request failed: POST {hook_url}: ")
            await asyncio.sleep(QUIET)
            assert secure.requests == []
    assert len(await squid.wait_for_log(f"CONNECT 127.0.0.1:{secure.port} ")) == 1
