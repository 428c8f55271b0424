"""Stored certificates into SSL contexts (storage/certificate_tls.py): the key goes through an anonymous
memory file, never a directory; the handshakes here run over memory BIOs, no sockets."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import pytest
import trustme

from bascule.storage.certificate_pem import PrivateKeyUnavailable
from bascule.storage.certificate_tls import ca_certificates_pem, load_ca_certificates, load_client_certificate
from bascule.storage.certificates import CertificateStore, StoredCertificate
from bascule.storage.memory import MemoryKeyValueStore


class SpyContext(ssl.SSLContext):
    """Records what the path handed to `load_cert_chain` pointed at while it was open."""

    seen: list[tuple[str, str]]

    def load_cert_chain(self, *args: Any, **kwargs: Any) -> None:
        path = str(args[0])
        self.seen = [*getattr(self, "seen", []), (path, os.readlink(path))]
        super().load_cert_chain(*args, **kwargs)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def stored(ca: trustme.CA) -> tuple[StoredCertificate, StoredCertificate]:
    store = CertificateStore(MemoryKeyValueStore(), "secret")
    leaf = ca.issue_cert("client.test", common_name="client.test")
    client_id = await store.add(leaf.private_key_and_cert_chain_pem.bytes(), "org")
    ca_id = await store.add(ca.cert_pem.bytes(), "org")
    client = await store.get(client_id, with_private_key=True)
    authority = await store.get(ca_id)
    assert client is not None and authority is not None
    return client, authority


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> ssl.SSLObject:
    """A full TLS handshake between two contexts over memory BIOs; the server side, once done."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(client_in, client_out, server_hostname="localhost")
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side in (("client", client_side), ("server", server_side)):
            try:
                side.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if all(done.values()):
            return server_side
    raise AssertionError("the handshake did not finish")


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


async def test_the_client_certificate_authenticates_a_handshake(
    ca: trustme.CA,
    stored: tuple[StoredCertificate, StoredCertificate],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_cert, authority = stored
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    before = open_fds()
    context = SpyContext(ssl.PROTOCOL_TLS_CLIENT)
    load_client_certificate(context, client_cert)
    assert load_ca_certificates(context, [authority]) == 1
    assert open_fds() == before  # the memory file is closed
    assert list(scratch.iterdir()) == []
    [(path, target)] = context.seen
    assert path.startswith("/proc/self/fd/")
    assert target.startswith("/memfd:bascule-cert-")
    server_side = handshake(context, server_context(ca))
    peer = server_side.getpeercert()
    assert peer is not None
    assert ((("commonName", "client.test"),)) in peer["subject"]


def test_without_the_client_certificate_the_server_refuses(
    ca: trustme.CA, stored: tuple[StoredCertificate, StoredCertificate]
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    load_ca_certificates(context, [stored[1]])
    with pytest.raises(ssl.SSLError, match=r"PEER_DID_NOT_RETURN_A_CERTIFICATE|peer did not return a certificate"):
        handshake(context, server_context(ca))


def test_an_entry_without_its_key_is_refused(stored: tuple[StoredCertificate, StoredCertificate]) -> None:
    _, authority = stored
    with pytest.raises(PrivateKeyUnavailable, match=authority.id):
        load_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), authority)


def test_without_memfd_there_is_no_fallback_to_a_file(
    stored: tuple[StoredCertificate, StoredCertificate], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "memfd_create")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(PrivateKeyUnavailable, match="memfd_create"):
        load_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), stored[0])
    assert list(tmp_path.iterdir()) == []


def test_a_failed_load_still_closes_the_memory_file(stored: tuple[StoredCertificate, StoredCertificate]) -> None:
    client_cert, authority = stored
    mismatched = StoredCertificate(
        client_cert.id,
        client_cert.fingerprint,
        client_cert.der,
        authority.certificate_pem,  # the CA's certificate with the client's key
        False,
        True,
        client_cert.metadata,
        client_cert.private_key_pem,
    )
    before = open_fds()
    with pytest.raises(ssl.SSLError):
        load_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), mismatched)
    assert open_fds() == before


def test_ca_certificates_skip_unknown_ids_and_public_keys(
    ca: trustme.CA, stored: tuple[StoredCertificate, StoredCertificate]
) -> None:
    client_cert, authority = stored
    public_key = StoredCertificate("pk", "00", b"spki", b"", True, False, authority.metadata)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert load_ca_certificates(context, [None, public_key]) == 0
    assert context.get_ca_certs() == []
    assert load_ca_certificates(context, [authority, None, client_cert]) == 2
    assert len(context.get_ca_certs()) == 1  # only CA certificates are listed; the leaf is trusted too


async def test_ca_pem_for_the_outbound_layer_holds_the_same_leaves(
    ca: trustme.CA, stored: tuple[StoredCertificate, StoredCertificate]
) -> None:
    _, authority = stored
    public_key = StoredCertificate("pk", "00", b"spki", b"", True, False, authority.metadata)
    assert ca_certificates_pem([None, public_key]) == b""
    pem = ca_certificates_pem([authority, None, public_key])
    assert pem == ca.cert_pem.bytes()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=pem.decode("ascii"))
    assert len(context.get_ca_certs()) == 1
    store = CertificateStore(MemoryKeyValueStore(), "secret")
    chained = ca.create_child_ca().issue_cert("chained.test")
    entry = await store.get(await store.add(b"".join(p.bytes() for p in chained.cert_chain_pems)))
    assert entry is not None
    assert entry.certificate_pem.count(b"BEGIN CERTIFICATE") == 2
    assert ca_certificates_pem([entry]) == chained.cert_chain_pems[0].bytes()  # the leaf only, as Tyk's pool
