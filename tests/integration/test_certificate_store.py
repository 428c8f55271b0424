"""The certificate store over the control API on a real listener, and a stored client certificate proving
itself in a real mTLS handshake (tyk-behaviour §3.12).

`app.Gateway` does not build a store yet, so the control API is wired here the way the app wires it
(the same handler, listener protocol and settings), with `certificates=` given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from conftest import SECRET
from http_client import Response, fetch

from bascule.app import read_definitions
from bascule.config.gateway import GatewaySettings
from bascule.control.admin_api import ControlApi
from bascule.control.reloader import Reloader
from bascule.inbound.http1 import Http1ServerProtocol
from bascule.inbound.registry import ConnectionRegistry
from bascule.messages import run_as_task
from bascule.runtime.build import build_snapshot
from bascule.runtime.snapshot import SnapshotHolder
from bascule.storage.certificate_sealing import encoding_secret
from bascule.storage.certificate_tls import load_ca_certificates, load_client_certificate
from bascule.storage.certificates import CertificateStore
from bascule.storage.memory import MemoryKeyValueStore

KEY = {"X-Tyk-Authorization": SECRET}
ENCODING_SECRET = "private-certificate-encoding-secret"


@dataclass
class ControlPlane:
    port: int
    store: CertificateStore
    kv: MemoryKeyValueStore

    async def call(self, method: str, target: str, body: bytes | None = None) -> Response:
        return await fetch(self.port, method, target, headers=KEY, body=body)


@pytest.fixture
async def control(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    app_path = tmp_path / "apps"
    app_path.mkdir()
    security = {"private_certificate_encoding_secret": ENCODING_SECRET}
    settings = GatewaySettings(listen_address="127.0.0.1", secret=SECRET, app_path=app_path, raw={"security": security})
    holder = SnapshotHolder(build_snapshot(settings, (), (), generation=1))
    kv = MemoryKeyValueStore()
    store = CertificateStore(kv, encoding_secret(settings))
    handler = run_as_task(ControlApi(holder, Reloader(holder, read_definitions), certificates=store))
    registry = ConnectionRegistry()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Http1ServerProtocol(handler, settings.http_server, registry), "127.0.0.1", 0
    )
    yield ControlPlane(server.sockets[0].getsockname()[1], store, kv)
    server.close()
    await registry.drain(1)


@dataclass
class MtlsPeer:
    """A TLS server on 127.0.0.1 that requires a client certificate and answers with its CN."""

    port: int
    seen: list[str]


@pytest.fixture
async def mtls_peer(ca: trustme.CA) -> AsyncIterator[MtlsPeer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    seen: list[str] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        common_name = next((value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"), "")
        seen.append(common_name)
        writer.write(f"hello {common_name}\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    yield MtlsPeer(server.sockets[0].getsockname()[1], seen)
    server.close()
    await server.wait_closed()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def open_memory_files() -> list[str]:
    """The anonymous memory files this process holds open (sockets may come and go meanwhile)."""
    links = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [link for link in links if link.startswith("/memfd:")]


async def talk(port: int, context: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    try:
        async with asyncio.timeout(5):
            return await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


async def test_store_over_the_control_api_then_mtls_from_memory(
    control: ControlPlane, mtls_peer: MtlsPeer, ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ca.issue_cert("client.test", common_name="client.test")
    added = await control.call("POST", "/tyk/certs?org_id=acme", client.private_key_and_cert_chain_pem.bytes())
    assert added.status == 200
    client_id = added.json()["id"]
    assert added.json() == {"id": client_id, "status": "ok", "message": "Certificate added"}
    assert client_id.startswith("acme") and len(client_id) == len("acme") + 64
    duplicate = await control.call("POST", "/tyk/certs?org_id=acme", client.private_key_and_cert_chain_pem.bytes())
    assert (duplicate.status, duplicate.json()["message"]) == (403, f"Certificate with {client_id} id already exists")
    ca_id = (await control.call("POST", "/tyk/certs?org_id=acme", ca.cert_pem.bytes())).json()["id"]

    record = await control.kv.get(f"cert-raw-{client_id}")
    assert record is not None
    assert client.private_key_pem.bytes() not in record
    assert b"BASCULE ENCRYPTED PRIVATE KEY" in record

    listed = await control.call("GET", "/tyk/certs?org_id=acme")
    assert listed.json() == {"certs": [client_id, ca_id]}
    detailed = (await control.call("GET", "/tyk/certs?org_id=acme&mode=detailed")).json()["certs"]
    assert [(c["id"], c["subject_cn"], c["has_private"], c["is_ca"]) for c in detailed] == [
        (client_id, "client.test", True, False),
        (ca_id, "", False, True),
    ]
    one = await control.call("GET", f"/tyk/certs/{client_id}")
    assert one.status == 200
    assert one.json()["fingerprint"] == client_id.removeprefix("acme")
    assert one.json()["subject"]["CommonName"] == "client.test"
    several = (await control.call("GET", f"/tyk/certs/{client_id},acme{'0' * 64}")).json()
    assert [None if c is None else c["id"] for c in several] == [client_id, None]
    for response in (listed, one):
        assert b"PRIVATE" not in response.body

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    stored = await control.store.get(client_id, with_private_key=True)
    authority = await control.store.get(ca_id)
    assert stored is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_client_certificate(context, stored)
    assert load_ca_certificates(context, [authority]) == 1
    assert open_memory_files() == []  # closed as soon as the context had read it
    assert list(scratch.iterdir()) == []
    assert await talk(mtls_peer.port, context) == b"hello client.test\n"
    assert mtls_peer.seen == ["client.test"]

    removed = await control.call("DELETE", f"/tyk/certs/{client_id}")
    assert (removed.status, removed.json()) == (200, {"status": "ok", "message": "removed"})
    assert (await control.call("GET", "/tyk/certs?org_id=acme")).json() == {"certs": [ca_id]}
    gone = await control.call("GET", f"/tyk/certs/{client_id}")
    assert (gone.status, gone.json()["message"]) == (404, "Certificate with given SHA256 fingerprint not found")
    assert list(scratch.iterdir()) == []


async def test_the_peer_refuses_a_client_without_the_stored_certificate(
    control: ControlPlane, mtls_peer: MtlsPeer, ca: trustme.CA
) -> None:
    ca_id = (await control.call("POST", "/tyk/certs", ca.cert_pem.bytes())).json()["id"]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_ca_certificates(context, [await control.store.get(ca_id)])
    answer = b""
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        answer = await talk(mtls_peer.port, context)
    assert answer == b""
    assert mtls_peer.seen == []
