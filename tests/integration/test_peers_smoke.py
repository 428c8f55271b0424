"""The peers of the uptime-check, service-discovery and webhook tests answer what they claim to.

Each test drives one peer with a plain client (`http_client`, asyncio streams), so a failing gateway test
can rule the peer out.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time

import pytest
import trustme
from check_peers import ProxyHeader, TcpCheckPeer, TlsStream, WebhookReceiver, next_reply, parse_proxy_v1
from discovery_peers import ConsulCatalog, EtcdPeer, EurekaServer
from http_client import RawClient, Response, fetch
from upstream_peer import UpstreamPeer


async def _get(port: int, target: str, **headers: str) -> Response:
    async with asyncio.timeout(5):
        return await fetch(port, "GET", target, headers=headers)


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


def _client_context(ca: trustme.CA, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if cert is not None:
        cert.configure_cert(context)
    return context


# etcd


async def test_etcd_serves_v2_keys_and_comes_back_on_the_same_port_with_its_data() -> None:
    async with EtcdPeer() as etcd:
        answer = await etcd.put("services/users", json.dumps({"hostname": "127.0.0.1", "port": 8080}))
        assert answer["action"] == "set"
        url = etcd.url_for("/services/users")
        assert url == f"http://127.0.0.1:{etcd.client_port}/v2/keys/services/users"
        node = (await _get(etcd.client_port, "/v2/keys/services/users")).json()["node"]
        assert json.loads(node["value"]) == {"hostname": "127.0.0.1", "port": 8080}

        await etcd.stop()
        assert await _refused(etcd.client_port)
        port = etcd.client_port
        await etcd.start()
        assert etcd.client_port == port
        assert (await _get(port, "/v2/keys/services/users")).json()["node"]["key"] == "/services/users"
        await etcd.delete("services/users")
        assert (await _get(port, "/v2/keys/services/users")).status == 404
    assert not etcd.workdir.exists()


# Consul


async def test_consul_lists_services_as_the_catalog_api_does() -> None:
    async with ConsulCatalog(services={"users": [("127.0.0.1", 8001), ("127.0.0.2", 8002)]}) as consul:
        response = await _get(consul.port, "/v1/catalog/service/users")
        items = response.json()
        assert [(item["ServiceAddress"], item["ServicePort"]) for item in items] == [
            ("127.0.0.1", 8001),
            ("127.0.0.2", 8002),
        ]
        assert {
            "ID",
            "Node",
            "Address",
            "Datacenter",
            "TaggedAddresses",
            "NodeMeta",
            "ServiceID",
            "ServiceName",
        } <= set(items[0])
        assert {"ServiceTags", "ServiceMeta", "CreateIndex", "ModifyIndex"} <= set(items[0])
        assert items[1]["Address"] == "127.0.0.2" and items[1]["ServiceName"] == "users"
        assert response.header("X-Consul-Index")
        assert (await _get(consul.port, "/v1/catalog/service/nobody")).json() == []
        assert consul.queries == {"users": 1, "nobody": 1}


async def test_consul_modes_empty_malformed_slow_and_down() -> None:
    async with ConsulCatalog(services={"users": [("127.0.0.1", 8001)]}) as consul:
        consul.mode = "empty"
        assert (await _get(consul.port, "/v1/catalog/service/users")).json() == []
        consul.mode = "malformed"
        with pytest.raises(json.JSONDecodeError):
            (await _get(consul.port, "/v1/catalog/service/users")).json()
        consul.mode = "normal"
        consul.delay = 0.3
        started = time.monotonic()
        assert len((await _get(consul.port, "/v1/catalog/service/users")).json()) == 1
        assert time.monotonic() - started >= 0.3
        consul.delay = 0
        assert consul.queries["users"] == 3

        kept_alive = await RawClient.connect(consul.port)
        await kept_alive.request("GET", "/v1/catalog/service/users")
        await consul.stop()
        assert await kept_alive.is_closed()
        await kept_alive.close()
        assert await _refused(consul.port)
        await consul.start()
        assert (await _get(consul.port, "/v1/catalog/service/users")).status == 200
        await consul.wait_for_queries("users", 5)


# Eureka


async def test_eureka_answers_json_only_when_asked_for_it() -> None:
    async with EurekaServer(services={"users": [("127.0.0.1", 8080)]}) as eureka:
        response = await _get(eureka.port, "/eureka/apps/USERS", Accept="application/json")
        application = response.json()["application"]
        assert application["name"] == "USERS"
        [instance] = application["instance"]
        assert instance["hostName"] == "127.0.0.1" and instance["status"] == "UP"
        assert instance["port"] == {"$": 8080, "@enabled": "true"}
        assert instance["securePort"]["@enabled"] == "false"

        xml = await _get(eureka.port, "/eureka/apps/users")
        assert xml.header("Content-Type") == "application/xml"
        assert xml.body.startswith(b"<application><name>USERS</name>")
        with pytest.raises(json.JSONDecodeError):
            xml.json()

        assert (await _get(eureka.port, "/eureka/v2/apps/nobody", Accept="application/json")).status == 404
        eureka.mode = "empty"
        assert (await _get(eureka.port, "/eureka/apps/USERS", Accept="application/json")).json() == {
            "application": {"name": "USERS", "instance": []}
        }
        assert eureka.queries == {"USERS": 3, "NOBODY": 1}
        assert eureka.requests[1].header("Accept") is None


# Webhooks


async def test_webhook_receiver_records_requests_and_answers_its_status() -> None:
    async with WebhookReceiver(status=500) as receiver:
        client = await RawClient.connect(receiver.port)
        response = await client.request("POST", "/hook?x=1", headers={"X-Event": "HostDown"}, body=b'{"a": 1}')
        await client.close()
        assert response.status == 500
        [seen] = await receiver.wait_for(1)
        assert (seen.method, seen.path, seen.body) == ("POST", "/hook", b'{"a": 1}')
        assert seen.header("x-event") == "HostDown"
        with pytest.raises(TimeoutError, match="2 requests"):
            await receiver.wait_for(2, timeout=0.1)

        chunked = await RawClient.connect(receiver.port)
        await chunked.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        assert (await chunked.read_response()).status == 500
        await chunked.close()
        assert (await receiver.wait_for(2))[1].body == b"abc"


async def test_webhook_receiver_with_client_certificates() -> None:
    ca, client_ca = trustme.CA(), trustme.CA()
    async with WebhookReceiver(tls=ca, require_client_cert=client_ca) as receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        cert = client_ca.issue_cert("gateway@test", common_name="gateway")
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", receiver.port, ssl=_client_context(ca, cert), server_hostname="127.0.0.1"
        )
        client = RawClient(reader, writer)
        assert (await client.request("PUT", "/hook", body=b"x")).status == 200
        await client.close()
        [seen] = await receiver.wait_for(1)
        assert seen.client_cn == "gateway"

        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            async with asyncio.timeout(5):
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", receiver.port, ssl=_client_context(ca), server_hostname="127.0.0.1"
                )
                try:
                    await RawClient(reader, writer).request("PUT", "/hook", body=b"y")
                finally:
                    writer.transport.abort()
        assert len(receiver.requests) == 1


# TCP checks


async def _exchange(port: int, send: bytes, expect: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async with asyncio.timeout(5):
            writer.write(send)
            return await reader.readexactly(expect)
    finally:
        writer.transport.abort()


async def test_tcp_check_peer_answers_ping_and_goes_down_and_up_on_its_port() -> None:
    async with TcpCheckPeer() as peer:
        assert peer.url == f"tcp://127.0.0.1:{peer.port}"
        assert await _exchange(peer.port, b"ping", 4) == b"pong"
        assert await _exchange(peer.port, b"pingping", 8) == b"pongpong"
        sessions = await peer.wait_for(2)
        assert sessions[0].received == b"ping" and sessions[0].sent == b"pong" and not sessions[0].error
        await peer.stop()
        assert await _refused(peer.port)
        await peer.start()
        peer.replies = {b"ping": b"nope"}
        assert await _exchange(peer.port, b"ping", 4) == b"nope"
        assert peer.connections == 3


async def test_tcp_check_peer_reads_a_proxy_protocol_line_first() -> None:
    async with TcpCheckPeer(expect_proxy_protocol=True) as peer:
        line = b"PROXY TCP4 192.0.2.1 127.0.0.1 50000 %d\r\n" % peer.port
        assert await _exchange(peer.port, line + b"ping", 4) == b"pong"
        [session] = await peer.wait_for(1)
        assert session.proxy_header == ProxyHeader("TCP4", "192.0.2.1", "127.0.0.1", 50000, peer.port)
        assert session.received == b"ping"

        with pytest.raises(asyncio.IncompleteReadError):
            await _exchange(peer.port, b"ping\r\n", 4)
        [_, refused] = await peer.wait_for(2)
        assert refused.error.startswith("proxy protocol: no PROXY v1 line")


async def test_tls_check_peer_after_a_proxy_line_sent_with_the_client_hello() -> None:
    ca = trustme.CA()
    async with TcpCheckPeer(tls=ca, expect_proxy_protocol=True) as peer:
        assert peer.url.startswith("tls://")
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", peer.port)
            writer.write(b"PROXY TCP6 2001:db8::1 ::1 40000 443\r\n")  # still buffered with the ClientHello
            client = TlsStream(reader, writer, _client_context(ca), server_hostname="127.0.0.1")
            await client.handshake()
            await client.send(b"ping")
            assert await client.receive() == b"pong"
            writer.close()
            await writer.wait_closed()
        [session] = await peer.wait_for(1)
        assert session.tls and session.proxy_header == ProxyHeader("TCP6", "2001:db8::1", "::1", 40000, 443)


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",  # leading zero
        b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",  # family mismatch
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n",
        b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",  # two spaces
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY TCP6 2001:DB8::1 ::1 1 2\r\n",  # not canonical
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
    ],
)
def test_proxy_v1_parser_rejects(line: bytes) -> None:
    with pytest.raises(ValueError):
        parse_proxy_v1(line)


def test_proxy_v1_parser_accepts_unknown_and_replies_pick_the_earliest_message() -> None:
    assert parse_proxy_v1(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n") == ProxyHeader("UNKNOWN")
    assert next_reply(b"xxpingpi", {b"ping": b"pong"}) == (b"pong", b"pi")
    assert next_reply(b"hello", {b"ping": b"pong"}) == (None, b"hello")


# Upstreams going down


async def test_upstream_restarts_on_the_same_port() -> None:
    upstream = await UpstreamPeer().start()
    try:
        port = upstream.port
        kept_alive = await RawClient.connect(port)
        assert (await kept_alive.request("GET", "/echo")).status == 200
        await upstream.stop()
        assert await kept_alive.is_closed()
        await kept_alive.close()
        assert await _refused(port)
        await upstream.restart()
        assert upstream.port == port
        assert (await _get(port, "/status/204")).status == 204
    finally:
        await upstream.stop()
