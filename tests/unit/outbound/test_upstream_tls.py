"""`upstream_tls`: real handshakes against in-process TLS servers (trustme CAs, 127.0.0.1, port 0), through
`ProxyConnector.open(..., target_tls=...)`, on both asyncio's loop and uvloop (the pin and CN checks live in
`sslobject_class`, which each loop must honour)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import ssl
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import trustme
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bascule.config.tls import HostCertificate, HostPins, UpstreamTls
from bascule.errors import PinMismatch, TlsSetupError, UpstreamConnectError, UpstreamTlsError
from bascule.outbound.client_tls import load_chain_from_memory
from bascule.outbound.material_book import EMPTY_BOOK, CertificateMaterial, MaterialBook
from bascule.outbound.proxy_connect import ProxyConnector, Target
from bascule.outbound.upstream_tls import PolicyCache, UpstreamTlsPolicy
from bascule.tls_material import material_from_pem

T = TypeVar("T")
HOST = "127.0.0.1"
REQUEST = b"GET / HTTP/1.1\r\nHost: upstream\r\n\r\n"

CA = trustme.CA()
SERVER = CA.issue_cert(HOST, common_name=HOST)
CHILD_CA = CA.create_child_ca()
CHILD_SERVER = CHILD_CA.issue_cert(HOST)
CLIENT_CA = trustme.CA()
RSA_CA = trustme.CA(key_type=trustme.KeyType.RSA)
RSA_SERVER = RSA_CA.issue_cert(HOST, key_type=trustme.KeyType.RSA)


def material(pem: bytes) -> CertificateMaterial:
    return material_from_pem(pem)


def self_signed(common_name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate whose only SAN is an e-mail address (Tyk case 56), and its key (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("ops@example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


SELF_SIGNED = self_signed(HOST)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, T]], T]:
    factory = asyncio.new_event_loop if request.param == "asyncio" else uvloop.new_event_loop

    def runner(coro: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)

    return runner


@pytest.fixture
def trusted_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Put the trustme roots where the system store is read from (`SSL_CERT_FILE`)."""
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(CA.cert_pem.bytes() + RSA_CA.cert_pem.bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    yield


@dataclass
class Upstream:
    """A TLS server that records the application bytes it received and the client certificate's CN."""

    context: ssl.SSLContext
    received: bytearray = field(default_factory=bytearray)
    peer_cns: list[str] = field(default_factory=list)
    ciphers: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        self.peer_cns += [value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"]
        self.ciphers.append(writer.get_extra_info("cipher")[0])
        try:
            self.received += await reader.read(65536)
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            writer.close()
            self.done.set()


def server_context(
    leaf: trustme.LeafCert | None = SERVER, *, require_client: bool = False, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if leaf is not None:
        leaf.configure_cert(context)
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        CLIENT_CA.configure_trust(context)
    if max_version is not None:
        context.maximum_version = max_version
    return context


class Answer(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data and not self.answered.done():
            self.answered.set_result(bytes(self.data))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_result(bytes(self.data))


async def exchange(upstream: Upstream, policy_for_port: Callable[[int], UpstreamTlsPolicy], host: str = HOST) -> bytes:
    """Dial the upstream through `ProxyConnector(None, None)` with the policy's context; send one request."""
    server = await asyncio.start_server(upstream.handle, HOST, 0, ssl=upstream.context)
    port = server.sockets[0].getsockname()[1]
    try:
        policy = policy_for_port(port)
        connector = ProxyConnector(None, None)
        try:
            opened = await connector.open(
                Target("https", host, port), None, Answer, 5, target_tls=policy.context_for(host, port)
            )
        except BaseException:
            try:  # a server handler that ran must have finished; one that never ran received nothing
                async with asyncio.timeout(0.3):
                    await upstream.done.wait()
            except TimeoutError:
                pass
            raise
        protocol = opened.protocol
        assert protocol.transport is not None
        protocol.transport.write(REQUEST)
        try:
            async with asyncio.timeout(5):
                return await protocol.answered
        finally:
            protocol.transport.close()
    finally:
        server.close()
        await server.wait_closed()


def book(**refs: bytes) -> MaterialBook:
    return MaterialBook({name: material(pem) for name, pem in refs.items()})


def fixed(settings: UpstreamTls, material_book: MaterialBook = EMPTY_BOOK) -> Callable[[int], UpstreamTlsPolicy]:
    return lambda port: UpstreamTlsPolicy(settings, material_book, "api1")


def test_the_system_store_does_not_trust_a_private_ca(run: Callable[[Coroutine[Any, Any, bytes]], bytes]) -> None:
    upstream = Upstream(server_context())
    with pytest.raises(UpstreamTlsError, match="certificate verify failed") as caught:
        run(exchange(upstream, fixed(UpstreamTls())))
    assert isinstance(caught.value, UpstreamConnectError)  # the 502 class
    assert upstream.received == b""


@pytest.mark.usefixtures("trusted_ca")
def test_ssl_cert_file_is_trusted(run: Callable[[Coroutine[Any, Any, bytes]], bytes]) -> None:
    upstream = Upstream(server_context())
    assert run(exchange(upstream, fixed(UpstreamTls()))).startswith(b"HTTP/1.1 204")
    assert bytes(upstream.received) == REQUEST


def test_insecure_skips_verification_and_warns_once(
    run: Callable[[Coroutine[Any, Any, bytes]], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    upstream = Upstream(server_context())
    with caplog.at_level(logging.WARNING, "bascule.outbound"):
        assert run(exchange(upstream, fixed(UpstreamTls(insecure_skip_verify=True)))).startswith(b"HTTP/1.1 204")
    assert [r.getMessage() for r in caplog.records] == [
        "api api1: upstream TLS certificates are not verified (insecure_skip_verify)"
    ]


@pytest.mark.usefixtures("trusted_ca")
def test_a_wrong_pin_fails_the_handshake_before_any_request_byte(
    run: Callable[[Coroutine[Any, Any, bytes]], bytes],
) -> None:
    upstream = Upstream(server_context())
    settings = UpstreamTls(pins=(HostPins(HOST, ("other",)),))
    pins = book(other=trustme.CA().cert_pem.bytes())
    with pytest.raises(PinMismatch) as caught:
        run(exchange(upstream, fixed(settings, pins)))
    assert upstream.received == b""
    error = caught.value
    assert isinstance(error, ssl.SSLError) and isinstance(error, UpstreamTlsError)
    assert error.host == HOST and error.expected == pins.entries["other"].spki_sha256
    assert set(error.observed) == material(SERVER.cert_chain_pems[0].bytes()).spki_sha256
    assert HOST in str(error) and next(iter(error.expected)) in str(error) and error.observed[0] in str(error)


@pytest.mark.usefixtures("trusted_ca")
@pytest.mark.parametrize(
    ("leaf", "pinned"),
    [(SERVER, SERVER.cert_chain_pems[0].bytes()), (CHILD_SERVER, CHILD_CA.cert_pem.bytes())],
    ids=["leaf", "intermediate"],
)
def test_a_matching_pin_passes(
    run: Callable[[Coroutine[Any, Any, bytes]], bytes], leaf: trustme.LeafCert, pinned: bytes
) -> None:
    upstream = Upstream(server_context(leaf))
    settings = UpstreamTls(pins=(HostPins("*", ("wrong",)), HostPins(HOST, ("right",))))
    pins = book(right=pinned, wrong=trustme.CA().cert_pem.bytes())
    assert run(exchange(upstream, fixed(settings, pins))).startswith(b"HTTP/1.1 204")
    assert bytes(upstream.received) == REQUEST


def test_a_pin_adds_to_verification(run: Callable[[Coroutine[Any, Any, bytes]], bytes]) -> None:
    """DECISIONS §17: a matching pin does not make an untrusted chain acceptable."""
    upstream = Upstream(server_context())
    settings = UpstreamTls(pins=(HostPins(HOST, ("right",)),))
    with pytest.raises(UpstreamTlsError, match="certificate verify failed"):
        run(exchange(upstream, fixed(settings, book(right=SERVER.cert_chain_pems[0].bytes()))))


def self_signed_server() -> ssl.SSLContext:
    context = server_context(None)
    load_chain_from_memory(context, *SELF_SIGNED)
    return context


def test_with_insecure_the_pin_alone_decides(run: Callable[[Coroutine[Any, Any, bytes]], bytes]) -> None:
    settings = UpstreamTls(insecure_skip_verify=True, pins=(HostPins(HOST, ("right",)),))
    upstream = Upstream(self_signed_server())
    assert run(exchange(upstream, fixed(settings, book(right=SELF_SIGNED[0])))).startswith(b"HTTP/1.1 204")
    wrong = Upstream(self_signed_server())
    with pytest.raises(PinMismatch):
        run(exchange(wrong, fixed(settings, book(right=SERVER.cert_chain_pems[0].bytes()))))
    assert wrong.received == b""


@pytest.mark.usefixtures("trusted_ca")
def test_the_client_certificate_is_chosen_by_the_upstream_host(
    run: Callable[[Coroutine[Any, Any, bytes]], bytes],
) -> None:
    star = CLIENT_CA.issue_cert("star.client", common_name="star")
    exact = CLIENT_CA.issue_cert("exact.client", common_name="exact")
    material_book = book(
        star=star.private_key_and_cert_chain_pem.bytes(), exact=exact.private_key_and_cert_chain_pem.bytes()
    )
    upstream = Upstream(server_context(require_client=True))

    def policy(port: int) -> UpstreamTlsPolicy:
        entries = (HostCertificate(f"{HOST}:{port}", "exact"), HostCertificate("*", "star"))
        return UpstreamTlsPolicy(UpstreamTls(client_certificates=entries), material_book)

    run(exchange(upstream, policy))
    assert upstream.peer_cns == ["exact"]
    other = Upstream(server_context(require_client=True))
    run(exchange(other, lambda port: policy(port + 1)))  # another port: only `*` matches
    assert other.peer_cns == ["star"]


@pytest.mark.usefixtures("trusted_ca")
def test_version_mismatch_fails(run: Callable[[Coroutine[Any, Any, bytes]], bytes]) -> None:
    upstream = Upstream(server_context(max_version=ssl.TLSVersion.TLSv1_2))
    with pytest.raises(UpstreamTlsError):
        run(exchange(upstream, fixed(UpstreamTls(min_version="1.3"))))
    assert upstream.received == b""


@pytest.mark.usefixtures("trusted_ca")
@pytest.mark.parametrize(
    ("ciphers", "works"),
    [
        (("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",), True),
        (("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",), False),
        (("TLS_AES_256_GCM_SHA384",), False),  # TLS 1.3 only: a TLS 1.2 upstream fails (Tyk case 58)
    ],
)
def test_ciphers_restrict_tls12(
    run: Callable[[Coroutine[Any, Any, bytes]], bytes], ciphers: tuple[str, ...], works: bool
) -> None:
    context = server_context(RSA_SERVER, max_version=ssl.TLSVersion.TLSv1_2)
    context.set_ciphers("ECDHE-RSA-AES256-GCM-SHA384")
    upstream = Upstream(context)
    if works:
        run(exchange(upstream, fixed(UpstreamTls(ciphers=ciphers))))
        assert upstream.ciphers == ["ECDHE-RSA-AES256-GCM-SHA384"]
    else:
        with pytest.raises(UpstreamTlsError):
            run(exchange(upstream, fixed(UpstreamTls(ciphers=ciphers))))


def test_tls13_suites_cannot_be_restricted_only_required() -> None:
    policy = UpstreamTlsPolicy(UpstreamTls(ciphers=("TLS_AES_256_GCM_SHA384",)), MaterialBook())
    assert policy.context_for(HOST, 443).minimum_version == ssl.TLSVersion.TLSv1_3
    with pytest.raises(TlsSetupError, match=re.escape("TLS 1.3 only")):
        UpstreamTlsPolicy(UpstreamTls(max_version="1.2", ciphers=("TLS_AES_256_GCM_SHA384",)), MaterialBook())
    with pytest.raises(TlsSetupError, match="unknown cipher 'NOT-A-CIPHER'"):
        UpstreamTlsPolicy(UpstreamTls(ciphers=("NOT-A-CIPHER",)), MaterialBook())


def test_defaults() -> None:
    context = UpstreamTlsPolicy(UpstreamTls(), MaterialBook()).context_for(HOST, 443)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.sslobject_class is ssl.SSLObject  # no hook without pins or CN check
    with pytest.raises(TlsSetupError, match="above"):
        UpstreamTlsPolicy(UpstreamTls(min_version="1.3", max_version="1.2"), MaterialBook())


@pytest.mark.usefixtures("trusted_ca")
@pytest.mark.parametrize(("common_name", "works"), [(HOST, True), ("localhost", False)])
def test_common_name_check_ignores_sans(
    run: Callable[[Coroutine[Any, Any, bytes]], bytes], common_name: str, works: bool
) -> None:
    upstream = Upstream(server_context(CA.issue_cert(HOST, common_name=common_name)))
    settings = UpstreamTls(force_common_name_check=True)
    if works:
        run(exchange(upstream, fixed(settings)))
    else:
        with pytest.raises(UpstreamTlsError, match=r"common name 'localhost' does not match host '127\.0\.0\.1'"):
            run(exchange(upstream, fixed(settings)))
        assert upstream.received == b""


def test_common_name_check_with_insecure_accepts_a_cn_only_self_signed_upstream(
    run: Callable[[Coroutine[Any, Any, bytes]], bytes],
) -> None:
    """Tyk case 56: CN `127.0.0.1`, SAN an e-mail only."""
    settings = UpstreamTls(insecure_skip_verify=True, force_common_name_check=True)
    run(exchange(Upstream(self_signed_server()), fixed(settings)))
    with pytest.raises(UpstreamTlsError, match="certificate verify failed"):
        run(exchange(Upstream(self_signed_server()), fixed(UpstreamTls(force_common_name_check=True))))


def test_missing_material_fails_closed() -> None:
    problems = MaterialBook(problems={"gone": "Certificate not found in store"})
    with pytest.raises(TlsSetupError, match="client certificate 'gone': Certificate not found in store"):
        UpstreamTlsPolicy(UpstreamTls(client_certificates=(HostCertificate("*", "gone"),)), problems)
    with pytest.raises(TlsSetupError, match=r"pinned public key 'gone' for 'a\.example': Certificate not found"):
        UpstreamTlsPolicy(UpstreamTls(pins=(HostPins("a.example", ("gone",)),)), problems)
    keyless = book(cert=SERVER.cert_chain_pems[0].bytes())
    with pytest.raises(TlsSetupError, match="needs a certificate and its private key"):
        UpstreamTlsPolicy(UpstreamTls(client_certificates=(HostCertificate("*", "cert"),)), keyless)


def test_contexts_are_built_once_per_client_certificate() -> None:
    leaf = CLIENT_CA.issue_cert("c.client").private_key_and_cert_chain_pem.bytes()
    entries = (HostCertificate("*.example", "c"), HostCertificate("a.example:8443", "c"))
    policy = UpstreamTlsPolicy(UpstreamTls(client_certificates=entries), book(c=leaf))
    assert policy.context_for("a.example", 8443) is policy.context_for("b.example", 443)
    assert policy.context_for("other.test", 443) is not policy.context_for("a.example", 443)


def test_policy_cache_keeps_policies_across_reloads(caplog: pytest.LogCaptureFixture) -> None:
    pem = SERVER.cert_chain_pems[0].bytes()
    settings = UpstreamTls(insecure_skip_verify=True, pins=(HostPins("*", ("p",)),))
    first = PolicyCache()
    with caplog.at_level(logging.WARNING, "bascule.outbound"):
        policy = first.policy_for(settings, book(p=pem), "a")
        assert first.policy_for(settings, book(p=pem), "b") is policy  # same settings and material
        second = first.successor()
        assert second.policy_for(settings, book(p=pem), "a") is policy  # a reload keeps it
        changed = second.policy_for(settings, book(p=CA.cert_pem.bytes()), "a")
    assert changed is not policy
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["api a", "api b"]
    third = second.successor()
    assert third.policy_for(UpstreamTls(), MaterialBook()) is not policy
    assert third.successor().policy_for(settings, book(p=pem), "a") is not policy  # dropped by `third`
