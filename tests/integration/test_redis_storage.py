"""Redis storage against real redis-server processes (DECISIONS §11, reliability §2.4 J and §1.1 #3):
plain with ACL users and a database; TLS with `--tls-auth-clients yes` (right, missing and foreign client
certificates, from files or store material); TLS through squid's CONNECT; Redis killed and restarted; a
black-holed server; two gateways sharing one Redis; keyless traffic while Redis is down. The pure parts
(`redis_address`, `OutageTracker`, the `/hello` storage rows) have their tables at the end."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import SECRET, GatewayFactory, classic_api
from http_client import fetch
from proxy_peers import SquidPeer, start_all, stop_all
from redis.asyncio import Redis
from redis_peers import RedisPeer, RedisTls
from upstream_peer import UpstreamPeer

from bascule.config.gateway import GatewaySettings, StorageSettings
from bascule.config.outbound import BypassEntry, ProxyRoute, ServiceProfile, ServiceType, TlsClientSettings
from bascule.config.outbound_defaults import default_profile
from bascule.control.admin_health import STORAGE_FAILED_OUTPUT, health_report
from bascule.outbound.client_tls import TlsMaterial
from bascule.outbound.redis_stream import RedisStreamOpener, Streams, redis_stream_opener
from bascule.runtime.build import build_snapshot
from bascule.storage.redis import (
    LOG_INTERVAL,
    OutageTracker,
    RedisKeyValueStore,
    StorageError,
    StorageUnavailable,
    redis_address,
)

PASSWORD = "redis-pw-5e1f9c"
KEY = {"X-Tyk-Authorization": SECRET}


@dataclass
class Pki:
    ca: trustme.CA
    client: trustme.LeafCert
    stranger: trustme.LeafCert
    ca_file: Path
    cert_file: Path
    key_file: Path
    stranger_cert_file: Path
    stranger_key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("redis-pki")
    ca, stranger_ca = trustme.CA(), trustme.CA()
    client = ca.issue_cert("gateway.bascule.test", common_name="gateway.bascule.test")
    stranger = stranger_ca.issue_cert("gateway.bascule.test")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    for name, leaf in (("client", client), ("stranger", stranger)):
        leaf.cert_chain_pems[0].write_to_path(str(d / f"{name}.pem"))
        leaf.private_key_pem.write_to_path(str(d / f"{name}-key.pem"))
    return Pki(
        ca,
        client,
        stranger,
        d / "ca.pem",
        d / "client.pem",
        d / "client-key.pem",
        d / "stranger.pem",
        d / "stranger-key.pem",
    )


@pytest.fixture(scope="module")
def plain_redis() -> Iterator[RedisPeer]:
    peer = RedisPeer(users=(f"alice on >{PASSWORD} ~* &* +@all", f"reader on >{PASSWORD} ~* +get +ping")).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def tls_redis(pki: Pki) -> Iterator[RedisPeer]:
    peer = RedisPeer(tls=RedisTls(pki.ca, pki.ca.issue_cert("127.0.0.1", "localhost"))).start()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def squid() -> Iterator[SquidPeer]:
    peer = SquidPeer("squid-redis")
    start_all(peer)
    yield peer
    stop_all(peer)


def profile(tls: TlsClientSettings | None = None, proxy: ProxyRoute | None = None) -> ServiceProfile:
    return replace(default_profile(ServiceType.STORAGE), tls=tls or TlsClientSettings(), proxy=proxy or ProxyRoute())


def settings(port: int, use_ssl: bool = False, timeout: float = 2.0, **more: Any) -> StorageSettings:
    return replace(StorageSettings(kind="redis", host="127.0.0.1", port=port, use_ssl=use_ssl, timeout=timeout), **more)


class CountingOpener:
    """The app's opener, counting dial attempts (the opener is a collaborator, STYLE rule 7)."""

    def __init__(self, inner: RedisStreamOpener) -> None:
        self.inner = inner
        self.calls = 0

    async def __call__(self, host: str, port: int, timeout: float) -> Streams:
        self.calls += 1
        return await self.inner(host, port, timeout)


@pytest.fixture
async def stores() -> AsyncIterator[list[RedisKeyValueStore]]:
    made: list[RedisKeyValueStore] = []
    yield made
    for store in made:
        await store.close()


def open_store(made: list[RedisKeyValueStore], storage: StorageSettings, service: ServiceProfile) -> RedisKeyValueStore:
    store = RedisKeyValueStore(storage, redis_stream_opener(service, storage.use_ssl))
    made.append(store)
    return store


# --- plain Redis ------------------------------------------------------------------------------------------


async def test_username_password_and_database(
    plain_redis: RedisPeer, stores: list[RedisKeyValueStore], caplog: pytest.LogCaptureFixture
) -> None:
    storage = settings(plain_redis.port, username="alice", password=PASSWORD, database=3)
    store = open_store(stores, storage, profile())
    await store.set("k", b"in db 3")
    raw = Redis(host="127.0.0.1", port=plain_redis.port, username="alice", password=PASSWORD, db=3)
    assert await raw.get("k") == b"in db 3"
    await raw.aclose()
    assert (await store.health()).status == "pass"

    wrong = open_store(stores, replace(storage, password="not-the-password"), profile())
    with pytest.raises(StorageUnavailable, match=r"WRONGPASS|invalid username-password"):
        await wrong.get("k")
    assert PASSWORD not in caplog.text
    assert "not-the-password" not in caplog.text


async def test_the_first_of_addrs_is_used(
    plain_redis: RedisPeer, stores: list[RedisKeyValueStore], caplog: pytest.LogCaptureFixture
) -> None:
    addrs = (f"127.0.0.1:{plain_redis.port}", "127.0.0.1:1")
    storage = settings(1, host="unused.invalid", addrs=addrs, username="alice", password=PASSWORD)
    store = open_store(stores, storage, profile())
    await store.set("a", b"1")
    assert store.address == f"127.0.0.1:{plain_redis.port}"
    assert "Redis Cluster and Sentinel are not supported yet" in caplog.text


async def test_a_refused_command_is_a_storage_error_not_an_outage(
    plain_redis: RedisPeer, stores: list[RedisKeyValueStore], caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(stores, settings(plain_redis.port, username="reader", password=PASSWORD), profile())
    with pytest.raises(StorageError, match="no permissions to run the 'set' command") as refused:
        await store.set("k", b"v")
    assert not isinstance(refused.value, StorageUnavailable)
    assert await store.get("missing") is None  # no backoff: the server is there
    assert (await store.health()).status == "pass"
    assert "unavailable" not in caplog.text


async def test_the_pool_never_opens_more_than_max_connections(plain_redis: RedisPeer) -> None:
    opener = CountingOpener(RedisStreamOpener(profile(), False))
    storage = settings(plain_redis.port, username="alice", password=PASSWORD)
    store = RedisKeyValueStore(storage, opener, max_connections=3)
    try:
        results = await asyncio.gather(*(store.get(f"absent-{i}") for i in range(40)))
        assert results == [None] * 40
        assert 1 <= opener.calls <= 3
    finally:
        await store.close()


# --- TLS with client certificates (--tls-auth-clients yes) -----------------------------------------------


async def test_tls_with_the_right_client_certificate_from_files_or_the_store(
    tls_redis: RedisPeer, pki: Pki, stores: list[RedisKeyValueStore]
) -> None:
    files = TlsClientSettings(cert_file=pki.cert_file, key_file=pki.key_file, ca_file=pki.ca_file)
    store = open_store(stores, settings(tls_redis.port, use_ssl=True), profile(files))
    await store.set("tls", b"files")
    assert await store.get("tls") == b"files"

    material = TlsMaterial(
        pki.client.cert_chain_pems[0].bytes(), pki.client.private_key_pem.bytes(), pki.ca.cert_pem.bytes()
    )
    by_id = TlsClientSettings(cert_id="client-id", ca_cert_ids=("ca-id",))
    from_store = RedisKeyValueStore(
        settings(tls_redis.port, use_ssl=True), RedisStreamOpener(profile(by_id), True, material)
    )
    stores.append(from_store)
    assert await from_store.get("tls") == b"files"


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("none", "TLS: TLSV13_ALERT_CERTIFICATE_REQUIRED (the server requires a client certificate)"),
        ("stranger", "TLS: TLSV1_ALERT_UNKNOWN_CA (the server does not trust the client certificate's issuer)"),
    ],
)
async def test_tls_without_an_accepted_client_certificate_fails_clearly_without_a_dial_storm(
    tls_redis: RedisPeer, pki: Pki, client: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    tls = TlsClientSettings(ca_file=pki.ca_file)
    if client == "stranger":
        tls = replace(tls, cert_file=pki.stranger_cert_file, key_file=pki.stranger_key_file)
    opener = CountingOpener(RedisStreamOpener(profile(tls), True))
    store = RedisKeyValueStore(settings(tls_redis.port, use_ssl=True), opener)
    try:
        with pytest.raises(StorageUnavailable, match=f"^redis at 127.0.0.1:{tls_redis.port}: ") as failure:
            await store.get("tls")
        assert expected in str(failure.value)
        health = await store.health()
        assert health.status == "fail"
        started = time.monotonic()
        while time.monotonic() - started < 0.5:
            with pytest.raises(StorageUnavailable):
                await store.get("tls")
            await asyncio.sleep(0.01)
        assert opener.calls <= 8  # backoff 0.05 s doubling: about 4 rounds in 0.5 s, not one per call
        warnings = [r for r in caplog.records if r.name == "bascule.storage" and r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert expected in warnings[0].getMessage()
    finally:
        await store.close()


async def test_tls_refuses_a_server_the_profile_does_not_trust(tls_redis: RedisPeer, pki: Pki) -> None:
    tls = TlsClientSettings(cert_file=pki.cert_file, key_file=pki.key_file)  # system roots only
    store = RedisKeyValueStore(settings(tls_redis.port, use_ssl=True), redis_stream_opener(profile(tls), True))
    try:
        with pytest.raises(StorageUnavailable, match="TLS: certificate verify failed: "):
            await store.get("x")
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("service", "cause"),
    [
        (profile(TlsClientSettings(cert_id="not-in-any-store")), "Certificate not found in store: not-in-any-store"),
        (replace(profile(), problems=("invalid proxy URL in https_proxy",)), "invalid proxy URL in https_proxy"),
    ],
)
async def test_an_unusable_storage_profile_fails_closed(
    tls_redis: RedisPeer, service: ServiceProfile, cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    opener = redis_stream_opener(service, True)
    store = RedisKeyValueStore(settings(tls_redis.port, use_ssl=True), opener)
    try:
        with pytest.raises(StorageUnavailable, match=f"external service storage is not usable: .*{cause}"):
            await store.get("x")
    finally:
        await store.close()
    assert f"[ExternalServices] storage: Redis connections are refused: {cause}" in caplog.text.replace(
        "Failed to configure TLS: ", ""
    )


# --- through a forward proxy ------------------------------------------------------------------------------


async def test_tls_through_a_connect_tunnel(tls_redis: RedisPeer, pki: Pki, squid: SquidPeer) -> None:
    tls = TlsClientSettings(cert_file=pki.cert_file, key_file=pki.key_file, ca_file=pki.ca_file)
    tunnelled = profile(tls, ProxyRoute(http_proxy=squid.endpoint()))
    store = RedisKeyValueStore(settings(tls_redis.port, use_ssl=True), redis_stream_opener(tunnelled, True))
    await store.set("tunnel", b"through squid")
    assert await store.get("tunnel") == b"through squid"
    await store.close()
    lines = await squid.wait_for_log(f"CONNECT 127.0.0.1:{tls_redis.port}")
    assert lines and "TCP_TUNNEL/200" in lines[0]


async def test_a_bypassed_redis_goes_direct(plain_redis: RedisPeer, squid: SquidPeer) -> None:
    route = ProxyRoute(http_proxy=squid.endpoint(), bypass=(BypassEntry("127.0.0.1"),))
    storage = settings(plain_redis.port, username="alice", password=PASSWORD)
    store = RedisKeyValueStore(storage, redis_stream_opener(profile(proxy=route), False))
    await store.set("direct", b"1")
    await store.close()
    await asyncio.sleep(0.2)
    assert not [line for line in squid.log_lines() if f"127.0.0.1:{plain_redis.port}" in line]


# --- outages ----------------------------------------------------------------------------------------------


async def test_redis_killed_and_restarted_is_reconnected(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bascule.storage")
    peer = RedisPeer().start()
    store = RedisKeyValueStore(settings(peer.port), redis_stream_opener(profile(), False))
    try:
        await store.set("before", b"1")
        peer.kill()
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(StorageUnavailable):
                await store.get("before")
        assert time.monotonic() - started < 1.0  # refused at once, then refused without dialling
        assert (await store.health()).status == "fail"
        peer.start()  # same port, empty (nothing persisted)
        deadline = time.monotonic() + 5
        while True:
            try:
                await store.set("after", b"2")
                break
            except StorageUnavailable:
                assert time.monotonic() < deadline, "no reconnect within 5 s"
                await asyncio.sleep(0.05)
        assert await store.get("after") == b"2"
        assert (await store.health()).status == "pass"
    finally:
        await store.close()
        peer.stop()
    elapsed = time.monotonic() - started
    lines = [r.getMessage() for r in caplog.records if r.name == "bascule.storage"]
    outage_lines = [line for line in lines if "unavailable" in line]
    assert 1 <= len(outage_lines) <= 1 + int(elapsed / LOG_INTERVAL), lines  # the first, then one per 5 s
    assert len([line for line in lines if "reachable again" in line]) == 1, lines


async def test_a_server_that_never_answers_costs_one_timeout_then_fails_fast() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the kernel and are never read
        port = silent.getsockname()[1]
        store = RedisKeyValueStore(settings(port, timeout=0.3), redis_stream_opener(profile(), False))
        try:
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match=r"no answer within 0\.3s|Timeout"):
                await store.get("x")
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match="next attempt in"):
                await store.get("x")
            assert time.monotonic() - started < 0.05
        finally:
            await store.close()


# --- gateways ---------------------------------------------------------------------------------------------


def redis_storage(port: int) -> StorageSettings:
    return settings(port, username="alice", password=PASSWORD)


async def test_two_gateways_sharing_one_redis_see_the_same_certificates(
    gateway_factory: GatewayFactory, plain_redis: RedisPeer, pki: Pki
) -> None:
    first = await gateway_factory([], storage=redis_storage(plain_redis.port))
    second = await gateway_factory([], storage=redis_storage(plain_redis.port))
    pem = pki.ca.issue_cert("shared.bascule.test").cert_chain_pems[0].bytes()
    added = await fetch(first.ports["main"], "POST", "/tyk/certs?org_id=shared", headers=KEY, body=pem)
    assert added.status == 200, added.body
    cert_id = added.json()["id"]
    shown = await fetch(second.ports["main"], "GET", f"/tyk/certs/{cert_id}", headers=KEY)
    assert shown.status == 200
    assert shown.json()["id"] == cert_id
    listed = await fetch(second.ports["main"], "GET", "/tyk/certs?org_id=shared", headers=KEY)
    assert cert_id in listed.json()["certs"]
    removed = await fetch(second.ports["main"], "DELETE", f"/tyk/certs/{cert_id}", headers=KEY)
    assert removed.status == 200
    gone = await fetch(first.ports["main"], "GET", f"/tyk/certs/{cert_id}", headers=KEY)
    assert gone.status == 404


async def test_keyless_traffic_is_unaffected_while_redis_is_down(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, pki: Pki
) -> None:
    peer = RedisPeer().start()
    try:
        gateway = await gateway_factory([classic_api("open", "/open/", upstream.url)], storage=settings(peer.port))
        port = gateway.ports["main"]
        assert (await fetch(port, "GET", "/open/echo")).status == 200
        assert (await gateway.storage_health()).status == "pass"
        peer.kill()
        statuses = [(await fetch(port, "GET", f"/open/echo/{i}")).status for i in range(50)]
        assert statuses == [200] * 50
        health = await gateway.storage_health()
        assert (health.kind, health.status) == ("redis", "fail")
        started = time.monotonic()
        pem = pki.ca.issue_cert("down.bascule.test").cert_chain_pems[0].bytes()
        upload = await fetch(port, "POST", "/tyk/certs", headers=KEY, body=pem)
        assert upload.status >= 500
        assert time.monotonic() - started < 3.0  # storage calls fail within storage.timeout, never hang
        assert [(await fetch(port, "GET", "/open/echo")).status for _ in range(5)] == [200] * 5
    finally:
        peer.stop()


# --- pure tables ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("addrs", "expected"),
    [
        ((), ("localhost", 6379)),
        (("redis-a:7000", "redis-b:7001"), ("redis-a", 7000)),
        (("redis-a",), ("redis-a", 6379)),
        (("[::1]:7000",), ("::1", 7000)),
        (("[::1]",), ("::1", 6379)),
        (("::1",), ("::1", 6379)),
        ((" 10.0.0.1:6380 ",), ("10.0.0.1", 6380)),
    ],
)
def test_redis_address(addrs: tuple[str, ...], expected: tuple[str, int]) -> None:
    assert redis_address(StorageSettings(kind="redis", addrs=addrs)) == expected


@pytest.mark.parametrize("entry", [":6379", "host:0", "host:70000", "host:port", "[::1]:x"])
def test_redis_address_refuses(entry: str) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        redis_address(StorageSettings(kind="redis", addrs=(entry,)))


def test_outage_tracker_backs_off_and_throttles_its_log_lines() -> None:
    tracker = OutageTracker(first_delay=0.05, max_delay=0.4, log_interval=5.0)
    assert tracker.may_try(0.0)
    assert tracker.failed(0.0, "refused") == "refused (1 failed attempt; next in 0.05s)"
    assert tracker.failed(0.01, "refused") is None  # ran together with the first: no second doubling
    assert (tracker.delay, tracker.may_try(0.04), tracker.may_try(0.05)) == (0.05, False, True)
    waits = []
    now = 0.05
    for _ in range(5):
        assert tracker.failed(now, "refused") is None
        waits.append(tracker.delay)
        now = tracker.retry_at
    assert waits == [0.1, 0.2, 0.4, 0.4, 0.4]
    assert tracker.failed(5.0, "timed out") == "timed out (7 failed attempts; next in 0.4s)"
    assert tracker.succeeded(6.5) == "reachable again after 6.5s"
    assert tracker.succeeded(7.0) is None
    assert tracker.may_try(6.5)
    assert tracker.failed(8.0, "refused") == "refused (1 failed attempt; next in 0.05s)"


@pytest.mark.parametrize(
    ("kind", "status", "overall"),
    [("memory", "pass", "pass"), ("redis", "pass", "pass"), ("redis", "fail", "warn")],
)
def test_hello_rates_a_storage_failure_as_warn(kind: str, status: str, overall: str) -> None:
    report = health_report(build_snapshot(GatewaySettings(), []), "1", kind, status)
    assert report["status"] == overall
    details = report["details"]
    assert isinstance(details, dict)
    expected = {"status": status, "componentType": "datastore", "kind": kind}
    if status == "fail":
        expected["output"] = STORAGE_FAILED_OUTPUT
    assert details["storage"] == expected
