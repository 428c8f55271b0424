"""`client_tls`: contexts from settings, checked by real handshakes over memory BIOs (no sockets)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from bascule.config.outbound import TlsClientSettings, TlsVersion
from bascule.errors import TlsSetupError
from bascule.outbound.client_tls import TlsMaterial, build_client_context, build_proxy_context

CA = trustme.CA()
STRANGER = trustme.CA()
SERVER = CA.issue_cert("127.0.0.1", "service.example")
CLIENT = CA.issue_cert("client.example", common_name="client.example")
CLIENT_PEM = CLIENT.cert_chain_pems[0].bytes()
CLIENT_KEY = CLIENT.private_key_pem.bytes()
TRUST = TlsMaterial(ca_pem=CA.cert_pem.bytes())
MTLS = TlsMaterial(CLIENT_PEM, CLIENT_KEY, CA.cert_pem.bytes())


def server_context(
    leaf: trustme.LeafCert = SERVER, require_client: bool = False, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    if require_client:
        CA.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    if max_version is not None:
        context.maximum_version = max_version
    return context


def handshake(client: ssl.SSLContext, server: ssl.SSLContext, host: str = "service.example") -> ssl.SSLObject:
    """Both sides over memory BIOs; returns the server's end. Raises what either side raised."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(to_client, to_server, server_hostname=host)
    server_end = server.wrap_bio(to_server, to_client, server_side=True)
    done: set[int] = set()
    for _ in range(20):
        for index, end in enumerate((client_end, server_end)):
            try:
                end.do_handshake()
                done.add(index)
            except ssl.SSLWantReadError:
                pass
        if done == {0, 1}:
            return server_end
    raise AssertionError("handshake did not finish")


def client_cn(server_end: ssl.SSLObject) -> str | None:
    cert = server_end.getpeercert()
    if not cert:
        return None
    return next((str(v) for rdn in cert["subject"] for k, v in rdn if k == "commonName"), None)


def test_defaults_verify_with_the_system_store() -> None:
    context = build_client_context(TlsClientSettings())
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert (context.minimum_version, context.maximum_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, server_context())  # trustme's CA is in no system store


@pytest.mark.parametrize("source", ["store", "file"])
def test_ca_only_replaces_the_system_store(tmp_path: Path, source: str) -> None:
    ca_file = tmp_path / "ca.pem"
    CA.cert_pem.write_to_path(str(ca_file))
    settings = TlsClientSettings(ca_file=None if source == "store" else ca_file)
    context = build_client_context(settings, TRUST if source == "store" else None)
    assert context.cert_store_stats()["x509_ca"] == 1
    assert client_cn(handshake(context, server_context())) is None  # verified, no client certificate sent
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, server_context(STRANGER.issue_cert("service.example")))
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, server_context(), host="other.example")


@pytest.mark.parametrize("source", ["store", "files"])
def test_client_certificate_is_presented(tmp_path: Path, source: str) -> None:
    if source == "store":
        context = build_client_context(TlsClientSettings(cert_id="c1", ca_cert_ids=("ca",)), MTLS)
    else:
        (tmp_path / "c.pem").write_bytes(CLIENT_PEM)
        (tmp_path / "k.pem").write_bytes(CLIENT_KEY)
        settings = TlsClientSettings(cert_file=tmp_path / "c.pem", key_file=tmp_path / "k.pem")
        context = build_client_context(settings, TRUST)
    assert client_cn(handshake(context, server_context(require_client=True))) == "client.example"


def test_store_material_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    build_client_context(TlsClientSettings(cert_id="c1"), MTLS)
    assert list(tmp_path.iterdir()) == []


def test_insecure_skip_verify_still_sends_the_client_certificate() -> None:
    settings = TlsClientSettings(cert_id="c1", insecure_skip_verify=True)
    context = build_client_context(settings, TlsMaterial(CLIENT_PEM, CLIENT_KEY))
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    stranger_server = server_context(STRANGER.issue_cert("elsewhere.example"), require_client=True)
    assert client_cn(handshake(context, stranger_server)) == "client.example"


@pytest.mark.parametrize(
    ("low", "high", "server_max", "expected"),
    [
        ("1.3", "1.3", ssl.TLSVersion.TLSv1_2, None),
        ("1.2", "1.2", None, "TLSv1.2"),
        ("1.2", "1.3", ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
        ("1.0", "1.3", None, "TLSv1.3"),
    ],
)
def test_versions_are_enforced(
    low: TlsVersion, high: TlsVersion, server_max: ssl.TLSVersion | None, expected: str | None
) -> None:
    context = build_client_context(TlsClientSettings(min_version=low, max_version=high), TRUST)
    server = server_context(max_version=server_max)
    if expected is None:
        with pytest.raises(ssl.SSLError):
            handshake(context, server)
    else:
        assert handshake(context, server).version() == expected


def test_min_above_max_is_refused() -> None:
    with pytest.raises(TlsSetupError, match="above tls_max_version"):
        build_client_context(TlsClientSettings(min_version="1.3", max_version="1.2"))


@pytest.mark.parametrize(
    ("settings", "material", "message"),
    [
        (TlsClientSettings(cert_id="missing"), None, "Certificate not found in store: missing"),
        (TlsClientSettings(ca_cert_ids=("a", "b")), None, "Certificate not found in store: a, b"),
        (TlsClientSettings(cert_file=Path("/x.pem")), None, "both cert_file and key_file must be specified"),
        (TlsClientSettings(), TlsMaterial(cert_pem=CLIENT_PEM), "needs both certificate and key"),
        (TlsClientSettings(), TlsMaterial(ca_pem=b"not a pem"), "Failed to load CA certificates from the store"),
    ],
)
def test_unusable_settings(settings: TlsClientSettings, material: TlsMaterial | None, message: str) -> None:
    with pytest.raises(TlsSetupError, match=message):
        build_client_context(settings, material)


def test_file_errors_never_name_the_key_path(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_bytes(CLIENT_PEM)
    key = tmp_path / "very-secret-key-path.pem"
    for settings in (
        TlsClientSettings(cert_file=tmp_path / "c.pem", key_file=key),
        TlsClientSettings(cert_file=tmp_path / "missing.pem", key_file=key),
    ):
        with pytest.raises(TlsSetupError, match="Failed to load client certificate") as caught:
            build_client_context(settings)
        assert str(key) not in str(caught.value)


def test_mismatched_and_encrypted_keys_are_refused() -> None:
    other_key = STRANGER.issue_cert("x.example").private_key_pem.bytes()
    with pytest.raises(TlsSetupError, match="Failed to load client certificate from the store"):
        build_client_context(TlsClientSettings(), TlsMaterial(CLIENT_PEM, other_key))
    key = serialization.load_pem_private_key(CLIENT_KEY, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(TlsSetupError, match="encrypted private keys are not supported"):
        build_client_context(TlsClientSettings(), TlsMaterial(CLIENT_PEM, encrypted))


def test_alpn_is_http11_unless_told() -> None:
    server = server_context()
    server.set_alpn_protocols(["h2", "http/1.1"])
    assert handshake(build_client_context(TlsClientSettings(), TRUST), server).selected_alpn_protocol() == "http/1.1"
    assert handshake(build_client_context(TlsClientSettings(), TRUST, alpn=()), server).selected_alpn_protocol() is None


def test_proxy_context_always_verifies_and_trusts_the_profile_ca() -> None:
    settings = TlsClientSettings(cert_id="c1", insecure_skip_verify=True)
    context = build_proxy_context(settings, MTLS)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert client_cn(handshake(context, server_context())) is None  # trusted via the profile CA; no client cert
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, server_context(STRANGER.issue_cert("service.example")))
