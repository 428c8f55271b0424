from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bascule.bodies import BodyStream
from bascule.compat.tyk.load_apis import load_api_definitions
from bascule.config.gateway import GatewaySettings
from bascule.control.admin_api import ControlApi, control_api_enabled
from bascule.control.admin_replies import INVALID_KEY
from bascule.control.reloader import LoadedDefinitions, Reloader
from bascule.errors import ClientProtocolError
from bascule.messages import InboundRequest, RawChannel
from bascule.runtime.build import build_snapshot
from bascule.runtime.snapshot import SnapshotHolder

SECRET = "s3cret-ü"
KEY = [(b"X-Tyk-Authorization", SECRET.encode())]


class FakeWriter:
    """Collects what the handler sends (a test double for `ResponseWriter`, not a socket)."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.body = b""
        self.started = False
        self.ended = False
        self.continued = False
        self.abandoned = False

    def send_continue(self) -> None:
        self.continued = True

    def send_head(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None) -> None:
        assert not self.started
        self.started = True
        self.status, self.headers, self.content_length = status, headers, length

    def write(self, data: bytes) -> None:
        self.body += data

    must_drain = False

    async def drain(self) -> None:
        pass

    def switch_protocols(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> RawChannel:
        raise AssertionError("the control API never switches protocols")

    def end(self) -> None:
        self.ended = True

    def abandon(self) -> None:
        self.abandoned = True

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        assert self.header(b"content-type") == b"application/json"
        assert self.content_length == len(self.body)
        return json.loads(self.body)


def read_from_disk(gateway: GatewaySettings) -> LoadedDefinitions:
    loaded = load_api_definitions(gateway.app_path, gateway)
    return LoadedDefinitions(loaded.apis, loaded.problems)


def make_api(
    app_path: Path,
    secret: str = SECRET,
    source: Callable[[GatewaySettings], LoadedDefinitions] = read_from_disk,
) -> tuple[ControlApi, SnapshotHolder]:
    gateway = GatewaySettings(secret=secret, app_path=app_path)
    loaded = read_from_disk(gateway)
    holder = SnapshotHolder(build_snapshot(gateway, loaded.apis, loaded.problems, generation=1))
    reloader = Reloader(holder, source)
    return ControlApi(holder, reloader, max_body=1024), holder


def make_request(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes | None = None,
    query: str = "",
) -> InboundRequest:
    request = InboundRequest()
    request.method, request.path, request.query = method, path, query
    request.headers = list(headers or [])
    request.client_ip = b"127.0.0.1"
    if body is not None:
        request.content_length = len(body)
        stream = BodyStream(lambda: None, lambda: None)
        stream.feed(body)
        stream.feed_eof()
        request.body = stream
    return request


async def call(api: ControlApi, request: InboundRequest) -> FakeWriter:
    writer = FakeWriter()
    await api(request, writer)
    assert writer.ended
    return writer


@pytest.fixture
def app_path(tmp_path: Path) -> Path:
    path = tmp_path / "apps"
    path.mkdir()
    api = {
        "api_id": "a",
        "name": "a",
        "active": True,
        "proxy": {"listen_path": "/a/", "target_url": "http://u"},
    }
    (path / "a.json").write_text(json.dumps(api))
    return path


@pytest.mark.parametrize(("secret", "enabled"), [("", False), ("x", True), (" ", True)])
def test_control_api_enabled(secret: str, enabled: bool) -> None:
    assert control_api_enabled(GatewaySettings(secret=secret)) is enabled


@pytest.mark.parametrize("path", ["/hello", "/hello/"])
async def test_health_needs_no_key(app_path: Path, path: str) -> None:
    api, _ = make_api(app_path)
    writer = await call(api, make_request("GET", path))
    assert writer.status == 200
    report = writer.json()
    assert report["status"] == "pass"
    assert report["description"] == "bascule"
    assert report["details"]["storage"] == {"status": "pass", "componentType": "datastore", "kind": "memory"}


async def test_health_warns_about_definitions_that_failed(app_path: Path) -> None:
    (app_path / "broken.json").write_text("{")
    api, _ = make_api(app_path)
    report = (await call(api, make_request("GET", "/hello"))).json()
    assert report["status"] == "warn"
    assert [p["file"] for p in report["details"]["apis"]["problems"]] == ["broken.json"]


async def test_health_other_methods_are_405(app_path: Path) -> None:
    api, _ = make_api(app_path)
    writer = await call(api, make_request("POST", "/hello", body=b"{}"))
    assert writer.status == 405
    assert writer.header(b"allow") == b"GET"
    assert writer.json() == {"status": "error", "message": "Method not allowed"}


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"X-Tyk-Authorization", b"wrong")],
        [(b"X-Tyk-Authorization", SECRET.encode() + b"x")],
        [(b"X-Tyk-Authorization", b"")],
        [(b"Authorization", SECRET.encode())],
    ],
)
@pytest.mark.parametrize("path", ["/tyk/apis", "/tyk/apis/a", "/tyk/reload", "/tyk/no-such-path", "/tyk"])
async def test_without_the_key_every_tyk_path_is_403(
    app_path: Path, headers: list[tuple[bytes, bytes]], path: str
) -> None:
    api, _ = make_api(app_path)
    writer = await call(api, make_request("GET", path, headers))
    assert writer.status == 403
    assert writer.json() == {"status": "error", "message": INVALID_KEY}


async def test_the_key_is_matched_on_its_utf8_bytes_and_any_header_case(app_path: Path) -> None:
    api, _ = make_api(app_path)
    writer = await call(api, make_request("GET", "/tyk/apis/", [(b"x-tyk-authorization", SECRET.encode())]))
    assert writer.status == 200
    assert [d["api_id"] for d in writer.json()] == ["a"]


@pytest.mark.parametrize("supplied", [b"", b"anything"])
async def test_an_empty_secret_disables_the_control_api(app_path: Path, supplied: bytes) -> None:
    api, _ = make_api(app_path, secret="")
    writer = await call(api, make_request("GET", "/tyk/apis", [(b"X-Tyk-Authorization", supplied)]))
    assert writer.status == 403
    assert writer.json() == {"status": "error", "message": INVALID_KEY}
    assert (await call(api, make_request("GET", "/hello"))).status == 200


async def test_a_refusal_is_logged_without_the_key(app_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    api, _ = make_api(app_path)
    caplog.set_level(logging.DEBUG, logger="bascule")
    await call(api, make_request("GET", "/tyk/apis", [(b"X-Tyk-Authorization", b"guess-123")]))
    assert any("invalid or missing key" in record.getMessage() for record in caplog.records)
    assert "guess-123" not in caplog.text
    await call(api, make_request("GET", "/tyk/apis", KEY))
    assert SECRET not in caplog.text


async def test_unknown_paths_and_methods(app_path: Path) -> None:
    api, _ = make_api(app_path)
    missing = await call(api, make_request("GET", "/tyk/keys", KEY))
    assert missing.status == 404
    assert missing.json() == {"status": "error", "message": "Not found"}
    wrong = await call(api, make_request("PATCH", "/tyk/apis/a", KEY, body=b"{}"))
    assert wrong.status == 405
    assert wrong.header(b"allow") == b"GET, PUT, DELETE"
    other = await call(api, make_request("GET", "/elsewhere"))
    assert other.status == 404


async def test_post_then_get_after_reload(app_path: Path) -> None:
    api, holder = make_api(app_path)
    document = {
        "api_id": "b",
        "name": "b",
        "active": True,
        "proxy": {"listen_path": "/b/", "target_url": "http://u"},
    }
    created = await call(api, make_request("POST", "/tyk/apis", KEY, json.dumps(document).encode()))
    assert created.json() == {"key": "b", "status": "ok", "action": "added"}
    reloaded = await call(api, make_request("GET", "/tyk/reload", KEY, query="block=true"))
    assert reloaded.json() == {"status": "ok", "message": ""}
    assert holder.current.generation == 2
    got = await call(api, make_request("GET", "/tyk/apis/b", KEY))
    assert got.json() == document


async def test_a_body_over_the_limit_is_413(app_path: Path) -> None:
    api, _ = make_api(app_path)
    declared = make_request("POST", "/tyk/apis", KEY)
    declared.content_length = 4096
    declared.body = BodyStream(lambda: None, lambda: None)  # never read: refused on its length
    assert (await call(api, declared)).status == 413
    chunked = make_request("POST", "/tyk/apis", KEY, body=b"x" * 2000)
    chunked.content_length, chunked.chunked = None, True
    writer = await call(api, chunked)
    assert writer.status == 413
    assert writer.json() == {"status": "error", "message": "Request body too large"}


async def test_a_client_waiting_for_100_continue_is_told_to_send(app_path: Path) -> None:
    api, _ = make_api(app_path)
    request = make_request("POST", "/tyk/apis", KEY, body=b"{")
    request.expects_continue = True
    writer = await call(api, request)
    assert writer.continued
    assert writer.json() == {"status": "error", "message": "Request malformed"}


@pytest.mark.parametrize(
    ("failure", "status"),
    [(ClientProtocolError(413, "Request is too large"), 413), (TimeoutError("slow"), 408)],
)
async def test_body_errors_are_answered(app_path: Path, failure: Exception, status: int) -> None:
    api, _ = make_api(app_path)
    request = make_request("PUT", "/tyk/apis/a", KEY)
    stream = BodyStream(lambda: None, lambda: None)
    stream.feed(b"{")
    stream.feed_error(failure)
    request.body = stream
    assert (await call(api, request)).status == status


async def test_a_client_gone_mid_body_abandons_the_response(app_path: Path) -> None:
    api, _ = make_api(app_path)
    request = make_request("PUT", "/tyk/apis/a", KEY)
    stream = BodyStream(lambda: None, lambda: None)
    stream.feed_error(ConnectionResetError("gone"))
    request.body = stream
    writer = FakeWriter()
    await api(request, writer)
    assert writer.abandoned
    assert not writer.started


async def test_reload_without_block_answers_at_once(app_path: Path) -> None:
    release = threading.Event()

    def slow_source(gateway: GatewaySettings) -> LoadedDefinitions:
        release.wait(10)
        return read_from_disk(gateway)

    api, holder = make_api(app_path, source=slow_source)
    writer = await call(api, make_request("GET", "/tyk/reload/group", KEY))
    assert writer.json() == {"status": "ok", "message": ""}
    assert holder.current.generation == 1
    release.set()
    await asyncio.wait_for(api.wait_for_reloads(), 10)
    assert holder.current.generation == 2


async def test_a_blocking_reload_that_fails_is_500(app_path: Path) -> None:
    def broken_source(gateway: GatewaySettings) -> LoadedDefinitions:
        raise OSError("disk on fire")

    api, holder = make_api(app_path, source=broken_source)
    writer = await call(api, make_request("GET", "/tyk/reload", KEY, query="block=true"))
    assert writer.status == 500
    assert writer.json()["status"] == "error"
    assert "disk on fire" in writer.json()["message"]
    assert holder.current.generation == 1
    assert (await call(api, make_request("GET", "/tyk/reload", KEY, query="block=false"))).status == 200
    await api.wait_for_reloads()


async def test_a_blocking_reload_survives_the_client_hanging_up(app_path: Path) -> None:
    release = threading.Event()

    def slow_source(gateway: GatewaySettings) -> LoadedDefinitions:
        release.wait(10)
        return read_from_disk(gateway)

    api, holder = make_api(app_path, source=slow_source)
    handler = asyncio.create_task(call(api, make_request("GET", "/tyk/reload", KEY, query="block=true")))
    await asyncio.sleep(0.05)
    handler.cancel()  # what the connection does when its client goes away
    with pytest.raises(asyncio.CancelledError):
        await handler
    release.set()
    await asyncio.wait_for(api.wait_for_reloads(), 10)
    assert holder.current.generation == 2


async def test_an_unexpected_error_is_a_json_500(app_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    api, holder = make_api(app_path)
    holder.current = None  # type: ignore[assignment]  # breaks every handler that reads the snapshot
    writer = await call(api, make_request("GET", "/tyk/apis", KEY))
    assert writer.status == 500
    assert writer.json() == {"status": "error", "message": "Internal error"}
    assert "control API: GET /tyk/apis failed" in caplog.text
