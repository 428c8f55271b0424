"""The gateway's TLS listeners (issue 5 point 1; tyk-behaviour §3.10 inbound certificate selection, §5 case 60):
real TLS clients against the real listener, certificates from a trustme CA that no system store trusts."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import shutil
import ssl
import warnings
from pathlib import Path

import pytest
import trustme
from conftest import GatewayFactory, classic_api
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from upstream_peer import UpstreamPeer

from bascule.config.apis import ApiSettings
from bascule.config.gateway import HttpServerSettings
from bascule.config.tls import ClientCertificateAuth, ListenerTls, ServerCertificate
from bascule.errors import ConfigError
from bascule.inbound.http1 import Http1ServerProtocol
from bascule.inbound.registry import ConnectionRegistry
from bascule.inbound.tls_listener import (
    ServedCertificate,
    build_server_context,
    certificate_names,
    listener_context,
    served_certificates,
)
from bascule.messages import InboundRequest, ResponseWriter
from bascule.outbound.material_book import CertificateMaterial
from bascule.tls_material import resolve_material

_NOW = datetime.datetime.now(datetime.UTC)
_LIFESPAN = {"not_before": _NOW - datetime.timedelta(days=1), "not_after": _NOW + datetime.timedelta(days=89)}


_REFUSED = (ssl.SSLError, ConnectionError)
"""How a refused handshake reaches a client on uvloop: an SSL error, or a reset."""


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_certificate(ca: trustme.CA, tmp_path: Path, *names: str, domain: str = "") -> ServerCertificate:
    leaf = ca.issue_cert(*names, **_LIFESPAN)  # 90 days: Mozilla's lifespan limit is 366
    chain = tmp_path / f"{names[0].replace('*', 'star')}.pem"
    key = tmp_path / f"{names[0].replace('*', 'star')}.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return ServerCertificate(str(chain), str(key), domain)


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    return context


async def _handshake(port: int, context: ssl.SSLContext, server_name: str | None) -> tuple[list[str], str, str]:
    """Connect, and return the served leaf's names, the TLS version and the ALPN protocol."""
    if server_name is None:
        context.check_hostname = False
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_name or "")
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        leaf = x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True))
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return san.get_values_for_type(x509.DNSName), ssl_object.version(), ssl_object.selected_alpn_protocol()
    finally:
        writer.close()
        await writer.wait_closed()


async def _https_get(port: int, context: ssl.SSLContext, server_name: str, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_name)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    if not raw:
        raise ConnectionResetError("closed without a response")
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
def two_domains(ca: trustme.CA, tmp_path: Path) -> ListenerTls:
    return ListenerTls(
        certificates=(
            _server_certificate(ca, tmp_path, "alpha.test"),
            _server_certificate(ca, tmp_path, "beta.test", "*.wild.test"),
        )
    )


async def test_https_request_through_the_gateway(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, ca: trustme.CA, two_domains: ListenerTls
) -> None:
    gw = await gateway_factory([classic_api("a", "/a/", upstream.url)], listener_tls=two_domains)
    status, _ = await _https_get(gw.ports["main"], _client_context(ca), "alpha.test", "/a/x")
    assert status == 200
    assert upstream.requests[-1].target == "/x"
    assert upstream.requests[-1].header("X-Forwarded-Proto") == "https"


@pytest.mark.parametrize(
    ("server_name", "served"),
    [
        ("alpha.test", ["alpha.test"]),
        ("beta.test", ["beta.test", "*.wild.test"]),
        ("api.wild.test", ["beta.test", "*.wild.test"]),  # one-label wildcard
        ("BETA.test", ["beta.test", "*.wild.test"]),  # names compare case-insensitively
        (None, ["alpha.test"]),  # no SNI: the first certificate
        ("unknown.test", ["alpha.test"]),  # no match: the first certificate
        ("a.b.wild.test", ["alpha.test"]),  # a wildcard covers one label only
    ],
)
async def test_sni_chooses_the_certificate(
    gateway_factory: GatewayFactory,
    ca: trustme.CA,
    two_domains: ListenerTls,
    server_name: str | None,
    served: list[str],
) -> None:
    gw = await gateway_factory([], listener_tls=two_domains)
    context = _client_context(ca)
    context.check_hostname = False  # the unmatched names are served the default certificate on purpose
    context.set_alpn_protocols(["h2", "http/1.1"])  # no h2 until bascule speaks HTTP/2
    names, _, alpn = await _handshake(gw.ports["main"], context, server_name)
    assert names == served
    assert alpn == "http/1.1"


async def test_configured_domain_selects_a_certificate(
    gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    tls = ListenerTls(
        certificates=(
            _server_certificate(ca, tmp_path, "alpha.test"),
            _server_certificate(ca, tmp_path, "gamma.test", domain="legacy.test"),
        )
    )
    gw = await gateway_factory([], listener_tls=tls)
    context = _client_context(ca)
    context.check_hostname = False
    names, _, _ = await _handshake(gw.ports["main"], context, "legacy.test")
    assert names == ["gamma.test"]


async def test_tls_1_1_client_is_refused(
    gateway_factory: GatewayFactory, ca: trustme.CA, two_domains: ListenerTls
) -> None:
    gw = await gateway_factory([], listener_tls=two_domains)
    context = _client_context(ca)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would offer TLS 1.1; the server must refuse it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(_REFUSED):
        await _handshake(gw.ports["main"], context, "alpha.test")
    _, version, _ = await _handshake(gw.ports["main"], _client_context(ca), "alpha.test")
    assert version == "TLSv1.3"


async def test_max_version_caps_the_protocol(gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path) -> None:
    tls = ListenerTls(certificates=(_server_certificate(ca, tmp_path, "alpha.test"),), max_version="1.2")
    gw = await gateway_factory([], listener_tls=tls)
    _, version, _ = await _handshake(gw.ports["main"], _client_context(ca), "alpha.test")
    assert version == "TLSv1.2"


async def test_min_version_refuses_older_clients(
    gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path
) -> None:
    tls = ListenerTls(certificates=(_server_certificate(ca, tmp_path, "alpha.test"),), min_version="1.3")
    gw = await gateway_factory([], listener_tls=tls)
    old = _client_context(ca)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(_REFUSED):
        await _handshake(gw.ports["main"], old, "alpha.test")
    _, version, _ = await _handshake(gw.ports["main"], _client_context(ca), "alpha.test")
    assert version == "TLSv1.3"


async def test_tls_1_2_uses_an_intermediate_cipher_and_p256(
    gateway_factory: GatewayFactory, ca: trustme.CA, two_domains: ListenerTls
) -> None:
    gw = await gateway_factory([], listener_tls=two_domains)
    weak = _client_context(ca)
    weak.maximum_version = ssl.TLSVersion.TLSv1_2
    weak.set_ciphers("AES128-SHA:AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA")  # none is in the intermediate list
    with pytest.raises(_REFUSED):
        await _handshake(gw.ports["main"], weak, "alpha.test")
    x448_only = _client_context(ca)
    x448_only.set_ecdh_curve("secp521r1")  # OpenSSL offers it by default; Mozilla's list does not
    with pytest.raises(_REFUSED):
        await _handshake(gw.ports["main"], x448_only, "alpha.test")


async def test_use_ssl_without_a_usable_certificate_refuses_to_start(tmp_path: Path) -> None:
    tls = ListenerTls(certificates=(ServerCertificate(str(tmp_path / "missing.pem"), str(tmp_path / "k.pem")),))
    with pytest.raises(ConfigError, match="no server certificate can be served"):
        await listener_context(tls, (), None)


async def test_min_above_max_refuses_to_start(ca: trustme.CA, tmp_path: Path) -> None:
    tls = ListenerTls(
        certificates=(_server_certificate(ca, tmp_path, "alpha.test"),), min_version="1.3", max_version="1.2"
    )
    with pytest.raises(ConfigError, match=r"min_version 1\.3 is above max_version 1\.2"):
        await listener_context(tls, (), None)


def _mutual_api(allowed: str) -> ApiSettings:
    return ApiSettings(
        api_id="m",
        name="m",
        org_id="o",
        active=True,
        keyless=True,
        listen_path="/m/",
        strip_listen_path=True,
        target_url="http://127.0.0.1:1",
        client_certificate_auth=ClientCertificateAuth(allowed=(allowed,)),
    )


async def _echo_peer(request: InboundRequest, writer: ResponseWriter) -> None:
    body = {"peer": request.peer_certificate_sha256, "scheme": request.scheme.decode()}
    writer.send_simple(200, json.dumps(body).encode())


async def test_client_certificate_is_surfaced(ca: trustme.CA, tmp_path: Path) -> None:
    """The protocol records the client leaf's SHA-256 once per connection; the proxy enforces allow-lists."""
    client_ca = trustme.CA()
    allowed = client_ca.issue_cert("client.test", **_LIFESPAN)
    allowed_pem = allowed.cert_chain_pems[0].bytes().decode()
    tls = ListenerTls(certificates=(_server_certificate(ca, tmp_path, "alpha.test"),))
    context = await listener_context(tls, (_mutual_api(allowed_pem),), None)
    assert context is not None

    def handler(request: InboundRequest, writer: ResponseWriter) -> None:
        asyncio.get_running_loop().create_task(_echo_peer(request, writer))

    loop = asyncio.get_running_loop()
    registry = ConnectionRegistry()
    server = await loop.create_server(
        lambda: Http1ServerProtocol(handler, HttpServerSettings(), registry, b"https"), "127.0.0.1", 0, ssl=context
    )
    port = server.sockets[0].getsockname()[1]
    try:
        with_cert = _client_context(ca)
        allowed.configure_cert(with_cert)
        _, body = await _https_get(port, with_cert, "alpha.test", "/")
        leaf_der = x509.load_pem_x509_certificate(allowed_pem.encode()).public_bytes(Encoding.DER)
        assert json.loads(body) == {"peer": hashlib.sha256(leaf_der).hexdigest(), "scheme": "https"}
        _, body = await _https_get(port, _client_context(ca), "alpha.test", "/")
        assert json.loads(body) == {"peer": "", "scheme": "https"}
        stranger = _client_context(ca)
        trustme.CA().issue_cert("stranger.test", **_LIFESPAN).configure_cert(stranger)
        with pytest.raises(_REFUSED):  # a certificate that does not verify: the server alerts, nothing is answered
            await _https_get(port, stranger, "alpha.test", "/")
    finally:
        server.close()
        await server.wait_closed()


async def test_mutual_tls_apis_admit_only_their_allowed_certificates(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, ca: trustme.CA, tmp_path: Path
) -> None:
    client_ca = trustme.CA()
    allowed = client_ca.issue_cert("client.test", **_LIFESPAN)
    allowed_file = tmp_path / "allowed-client.pem"
    allowed_file.write_bytes(allowed.cert_chain_pems[0].bytes())
    api = classic_api("mutual", "/mutual/", upstream.url)
    api.update(use_mutual_tls_auth=True, client_certificates=[str(allowed_file)])
    tls = ListenerTls(certificates=(_server_certificate(ca, tmp_path, "alpha.test"),))
    gateway = await gateway_factory([api, classic_api("open", "/open/", upstream.url)], listener_tls=tls)
    port = gateway.ports["main"]
    with_cert = _client_context(ca)
    allowed.configure_cert(with_cert)
    assert (await _https_get(port, with_cert, "alpha.test", "/mutual/x"))[0] == 200
    status, body = await _https_get(port, _client_context(ca), "alpha.test", "/mutual/x")
    assert (status, json.loads(body)) == (403, {"error": "Client TLS certificate is required"})
    assert (await _https_get(port, _client_context(ca), "alpha.test", "/open/x"))[0] == 200


async def test_without_mutual_apis_no_client_certificate_is_requested(ca: trustme.CA, tmp_path: Path) -> None:
    tls = ListenerTls(certificates=(_server_certificate(ca, tmp_path, "alpha.test"),))
    book = await resolve_material([(c.certificate, c.key) for c in tls.certificates], None)
    served, problems = served_certificates(tls, (), book)
    assert problems == []
    assert build_server_context(tls, served).verify_mode == ssl.CERT_NONE


def test_certificate_names_come_from_domain_cn_and_sans(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("x.test", "*.y.test", common_name="CN.test")
    material = CertificateMaterial(leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes())
    assert certificate_names(ServedCertificate(material, "legacy.test")) == [
        "legacy.test",
        "cn.test",
        "x.test",
        "*.y.test",
    ]


def _webpki_certificate(ca: trustme.CA, tmp_path: Path, name: str) -> ServerCertificate:
    """A leaf that strict (webpki) validators accept, as sslyze's is: trustme marks the SAN critical beside
    a non-empty subject, which RFC 5280 forbids."""
    issuer = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    issuer_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_LIFESPAN["not_before"])
        .not_valid_after(_LIFESPAN["not_after"])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    chain, key_file = tmp_path / "webpki.pem", tmp_path / "webpki.key"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ServerCertificate(str(chain), str(key_file))


@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("sslyze") is None, reason="sslyze not on PATH (scripts/test puts it there)")
async def test_sslyze_mozilla_intermediate(gateway_factory: GatewayFactory, ca: trustme.CA, tmp_path: Path) -> None:
    tls = ListenerTls(certificates=(_webpki_certificate(ca, tmp_path, "alpha.test"),))
    gw = await gateway_factory([], listener_tls=tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    scan = await asyncio.create_subprocess_exec(
        "sslyze",
        "--mozilla_config=intermediate",
        f"--certinfo_ca_file={ca_file}",
        f"alpha.test:{gw.ports['main']}{{127.0.0.1}}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await scan.communicate()
    report = output.decode(errors="replace")
    assert scan.returncode == 0, report
    assert "OK - Compliant." in report, report


@pytest.mark.skipif(shutil.which("testssl.sh") is None, reason="testssl.sh not installed")
async def test_testssl_finds_no_high_severity(
    gateway_factory: GatewayFactory, ca: trustme.CA, two_domains: ListenerTls
) -> None:  # pragma: no cover - only where testssl.sh is installed
    gw = await gateway_factory([], listener_tls=two_domains)
    scan = await asyncio.create_subprocess_exec(
        "testssl.sh", "--quiet", "--severity", "HIGH", f"127.0.0.1:{gw.ports['main']}", stdout=asyncio.subprocess.PIPE
    )
    output, _ = await scan.communicate()
    assert b"HIGH" not in output and b"CRITICAL" not in output, output.decode(errors="replace")


async def test_a_reload_serves_the_certificates_of_new_apis(
    gateway_factory: GatewayFactory, upstream: UpstreamPeer, ca: trustme.CA, tmp_path: Path
) -> None:
    tls = ListenerTls(certificates=(_server_certificate(ca, tmp_path, "alpha.test"),))
    gateway = await gateway_factory([classic_api("open", "/open/", upstream.url)], listener_tls=tls)
    port = gateway.ports["main"]
    beta = _server_certificate(ca, tmp_path, "beta.test")
    bundle = tmp_path / "beta-bundle.pem"
    bundle.write_bytes(Path(beta.certificate).read_bytes() + Path(beta.key).read_bytes())
    api = classic_api("beta", "/beta/", upstream.url)
    api["certificates"] = [str(bundle)]
    (gateway.settings.app_path / "beta.json").write_text(json.dumps(api))
    await gateway.reloader.reload()
    lenient = _client_context(ca)
    lenient.check_hostname = False  # until the refresh lands, beta.test is answered with alpha's certificate
    for _ in range(100):  # the listener's table is refreshed in the background after the swap
        names, _, _ = await _handshake(port, lenient, "beta.test")
        if names == ["beta.test"]:
            break
        await asyncio.sleep(0.02)
    assert names == ["beta.test"]
    assert (await _handshake(port, _client_context(ca), "alpha.test"))[0] == ["alpha.test"]
