"""The `/tyk/certs` endpoints (control/admin_certs.py): Tyk's bodies and statuses, one rule each, over an
in-memory store; plus the routes as the control API serves them (tyk-behaviour §3.12)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bascule.bodies import BodyStream
from bascule.config.gateway import GatewaySettings
from bascule.control.admin_api import ControlApi
from bascule.control.admin_certs import (
    CERTIFICATE_NOT_FOUND,
    NO_CERTIFICATE_STORE,
    CertificateEndpoints,
    go_pkix_name,
    go_time,
)
from bascule.control.admin_replies import AdminCall, Reply
from bascule.control.reloader import LoadedDefinitions, Reloader
from bascule.messages import InboundRequest, RawChannel
from bascule.runtime.build import build_snapshot
from bascule.runtime.snapshot import SnapshotHolder
from bascule.storage.certificate_pem import NameAttribute
from bascule.storage.certificates import CertificateStore
from bascule.storage.memory import MemoryKeyValueStore

SECRET = "control-secret"
DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("api.test", "www.api.test", common_name="api.test")


@pytest.fixture
def endpoints() -> CertificateEndpoints:
    return CertificateEndpoints(CertificateStore(MemoryKeyValueStore(), "encoding-secret"))


def fingerprint(pem: bytes) -> str:
    return hashlib.sha256(x509.load_pem_x509_certificate(pem).public_bytes(DER)).hexdigest()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def add(endpoints: CertificateEndpoints, pem: bytes, org: str = "org1") -> str:
    reply = await endpoints.create(AdminCall(query=f"org_id={org}", body=pem))
    assert reply.status == 200, reply.body
    assert isinstance(reply.body, dict)
    return str(reply.body["id"])


async def test_post_answers_the_id_as_tyk(endpoints: CertificateEndpoints, leaf: trustme.LeafCert) -> None:
    reply = await endpoints.create(AdminCall(query="org_id=org1", body=leaf.private_key_and_cert_chain_pem.bytes()))
    expected = "org1" + fingerprint(leaf.cert_chain_pems[0].bytes())
    assert (reply.status, reply.body) == (200, {"id": expected, "status": "ok", "message": "Certificate added"})


async def test_post_refusals_are_403_with_the_reason(endpoints: CertificateEndpoints, leaf: trustme.LeafCert) -> None:
    cert_id = await add(endpoints, leaf.private_key_and_cert_chain_pem.bytes())
    duplicate = await endpoints.create(AdminCall(query="org_id=org1", body=leaf.cert_chain_pems[0].bytes()))
    assert (duplicate.status, duplicate.body) == (
        403,
        {"status": "error", "message": f"Certificate with {cert_id} id already exists"},
    )
    garbage = await endpoints.create(AdminCall(body=b"hello"))
    assert (garbage.status, garbage.body) == (
        403,
        {"status": "error", "message": "Failed to decode certificate. It should be PEM encoded."},
    )


async def test_post_refuses_an_expired_certificate(endpoints: CertificateEndpoints, ca: trustme.CA) -> None:
    old = ca.issue_cert(
        "old.test", not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=datetime(2021, 1, 1, tzinfo=UTC)
    )
    reply = await endpoints.create(AdminCall(body=old.private_key_and_cert_chain_pem.bytes()))
    assert (reply.status, reply.body) == (403, {"status": "error", "message": "certificate is expired"})


async def test_list_by_org_and_everything_without(endpoints: CertificateEndpoints, ca: trustme.CA) -> None:
    assert (await endpoints.index(AdminCall(query="org_id=org1"))).body == {"certs": []}
    first = await add(endpoints, ca.issue_cert("a.test").cert_chain_pems[0].bytes())
    second = await add(endpoints, ca.issue_cert("b.test").cert_chain_pems[0].bytes())
    other = await add(endpoints, ca.cert_pem.bytes(), org="org2")
    assert (await endpoints.index(AdminCall(query="org_id=org1"))).body == {"certs": [first, second]}
    assert (await endpoints.index(AdminCall())).body == {"certs": sorted([first, second, other])}


async def test_detailed_list(endpoints: CertificateEndpoints, ca: trustme.CA, leaf: trustme.LeafCert) -> None:
    leaf_id = await add(endpoints, leaf.private_key_and_cert_chain_pem.bytes())
    ca_id = await add(endpoints, ca.cert_pem.bytes())
    reply = await endpoints.index(AdminCall(query="org_id=org1&mode=detailed"))
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    assert reply.body == {
        "certs": [
            {
                "id": leaf_id,
                "issuer_cn": "",
                "subject_cn": "api.test",
                "dns_names": ["api.test", "www.api.test"],
                "has_private": True,
                "not_before": rfc3339(cert.not_valid_before_utc),
                "not_after": rfc3339(cert.not_valid_after_utc),
                "is_ca": False,
            },
            {
                "id": ca_id,
                "issuer_cn": "",
                "subject_cn": "",
                "dns_names": [],
                "has_private": False,
                "not_before": rfc3339(ca_cert.not_valid_before_utc),
                "not_after": rfc3339(ca_cert.not_valid_after_utc),
                "is_ca": True,
            },
        ]
    }


def go_name(cert_name: x509.Name, common_name: str = "") -> dict[str, Any]:
    """Go's pkix.Name JSON for a trustme name (O and OU, plus CN for leaves), built independently."""

    def values(oid: x509.ObjectIdentifier) -> list[str] | None:
        found = [str(a.value) for a in cert_name.get_attributes_for_oid(oid)]
        return found or None

    return {
        "Country": None,
        "Organization": values(x509.NameOID.ORGANIZATION_NAME),
        "OrganizationalUnit": values(x509.NameOID.ORGANIZATIONAL_UNIT_NAME),
        "Locality": None,
        "Province": None,
        "StreetAddress": None,
        "PostalCode": None,
        "SerialNumber": "",
        "CommonName": common_name,
        "Names": [
            {"Type": [int(arc) for arc in a.oid.dotted_string.split(".")], "Value": str(a.value)} for a in cert_name
        ],
        "ExtraNames": None,
    }


async def test_get_one(endpoints: CertificateEndpoints, leaf: trustme.LeafCert) -> None:
    cert_id = await add(endpoints, leaf.private_key_and_cert_chain_pem.bytes())
    reply = await endpoints.show(AdminCall(params={"id": cert_id}))
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    assert reply.status == 200
    assert reply.body == {
        "id": cert_id,
        "fingerprint": fingerprint(leaf.cert_chain_pems[0].bytes()),
        "has_private": True,
        "issuer": go_name(cert.issuer),
        "subject": go_name(cert.subject, "api.test"),
        "not_before": rfc3339(cert.not_valid_before_utc),
        "not_after": rfc3339(cert.not_valid_after_utc),
        "dns_names": ["api.test", "www.api.test"],
        "is_ca": False,
    }
    assert list(reply.body["issuer"]) == list(go_name(cert.issuer))  # Go's field order


async def test_get_unknown_is_404(endpoints: CertificateEndpoints) -> None:
    reply = await endpoints.show(AdminCall(params={"id": "org1" + "00" * 32}))
    assert (reply.status, reply.body) == (404, {"status": "error", "message": CERTIFICATE_NOT_FOUND})
    assert CERTIFICATE_NOT_FOUND == "Certificate with given SHA256 fingerprint not found"


async def test_get_several_gives_an_array_with_null_for_unknown(
    endpoints: CertificateEndpoints, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    leaf_id = await add(endpoints, leaf.private_key_and_cert_chain_pem.bytes())
    ca_id = await add(endpoints, ca.cert_pem.bytes())
    reply = await endpoints.show(AdminCall(params={"id": f"{leaf_id},missing,{ca_id}"}))
    assert reply.status == 200
    assert isinstance(reply.body, list)
    assert [None if entry is None else entry["id"] for entry in reply.body] == [leaf_id, None, ca_id]
    assert reply.body[2]["is_ca"] is True
    everything_unknown = await endpoints.show(AdminCall(params={"id": "a,b"}))
    assert (everything_unknown.status, everything_unknown.body) == (200, [None, None])


async def test_a_public_key_is_described_as_tyk_does(endpoints: CertificateEndpoints) -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki_hash = hashlib.sha256(public.public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    cert_id = await add(endpoints, pem)
    assert cert_id == "org1" + spki_hash
    body = (await endpoints.show(AdminCall(params={"id": cert_id}))).body
    assert isinstance(body, dict)
    assert body["fingerprint"] == spki_hash
    assert body["subject"]["CommonName"] == f"Public Key: {spki_hash}"
    assert body["subject"]["Names"] is None
    assert body["issuer"]["CommonName"] == ""
    assert (body["not_before"], body["not_after"]) == ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z")


async def test_delete_answers_removed_known_or_not(endpoints: CertificateEndpoints, leaf: trustme.LeafCert) -> None:
    cert_id = await add(endpoints, leaf.private_key_and_cert_chain_pem.bytes())
    for _ in range(2):
        reply = await endpoints.delete(AdminCall(params={"id": cert_id}))
        assert (reply.status, reply.body) == (200, {"status": "ok", "message": "removed"})
    assert (await endpoints.show(AdminCall(params={"id": cert_id}))).status == 404
    assert (await endpoints.index(AdminCall(query="org_id=org1"))).body == {"certs": []}


async def test_delete_with_an_explicit_org(endpoints: CertificateEndpoints, leaf: trustme.LeafCert) -> None:
    cert_id = await add(endpoints, leaf.cert_chain_pems[0].bytes(), org="tenant")
    await endpoints.delete(AdminCall(params={"id": cert_id}, query="org_id=tenant"))
    assert (await endpoints.index(AdminCall(query="org_id=tenant"))).body == {"certs": []}


async def test_no_answer_carries_private_key_material(endpoints: CertificateEndpoints, leaf: trustme.LeafCert) -> None:
    key_lines = leaf.private_key_pem.bytes().splitlines()[1:-1]
    cert_id = await add(endpoints, leaf.private_key_and_cert_chain_pem.bytes())
    replies = [
        await endpoints.index(AdminCall(query="org_id=org1")),
        await endpoints.index(AdminCall(query="org_id=org1&mode=detailed")),
        await endpoints.show(AdminCall(params={"id": cert_id})),
        await endpoints.show(AdminCall(params={"id": f"{cert_id},{cert_id}"})),
    ]
    for reply in replies:
        text = json.dumps(reply.body).encode()
        assert b"PRIVATE" not in text
        assert not any(line in text for line in key_lines)


def test_go_time_and_go_zero_time() -> None:
    assert go_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert go_time(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00Z"
    assert go_time(None) == "0001-01-01T00:00:00Z"


def test_go_pkix_name_lists_strings_and_last_value_wins() -> None:
    attributes = (
        NameAttribute("2.5.4.6", "FR"),
        NameAttribute("2.5.4.3", "first"),
        NameAttribute("2.5.4.10", "Org A"),
        NameAttribute("2.5.4.10", "Org B"),
        NameAttribute("2.5.4.3", "second"),
        NameAttribute("2.5.4.5", "42"),
        NameAttribute("1.2.840.113549.1.9.1", "ops@example.test"),
    )
    name = go_pkix_name(attributes)
    assert name["Country"] == ["FR"]
    assert name["Organization"] == ["Org A", "Org B"]
    assert (name["CommonName"], name["SerialNumber"]) == ("second", "42")
    names = name["Names"]
    assert isinstance(names, list)
    assert names[-1] == {"Type": [1, 2, 840, 113549, 1, 9, 1], "Value": "ops@example.test"}
    assert go_pkix_name(())["Names"] is None


# The routes, as the control API serves them.


class Writer:
    """Collects one response (a `ResponseWriter` test double, no socket)."""

    def __init__(self) -> None:
        self.status = 0
        self.body = b""
        self.started = False
        self.must_drain = False

    def send_continue(self) -> None:
        pass

    def send_head(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]], length: int | None) -> None:
        self.status, self.started = status, True

    def write(self, data: bytes) -> None:
        self.body += data

    async def drain(self) -> None:
        pass

    def end(self) -> None:
        pass

    def abandon(self) -> None:
        raise AssertionError("abandoned")

    def on_writable(self, callback: Callable[[bool], None]) -> None:
        pass

    def on_cancel(self, callback: Callable[[], None]) -> None:
        pass

    def send_simple(self, status: int, body: bytes) -> None:
        raise AssertionError("not used by the control API")

    def switch_protocols(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> RawChannel:
        raise AssertionError("not used by the control API")


def control_api(tmp_path: Path, store: CertificateStore | None) -> ControlApi:
    gateway = GatewaySettings(secret=SECRET, app_path=tmp_path)
    holder = SnapshotHolder(build_snapshot(gateway, (), (), generation=1))
    reloader = Reloader(holder, lambda _: LoadedDefinitions((), ()))
    return ControlApi(holder, reloader, certificates=store)


async def request(api: ControlApi, method: str, path: str, query: str = "", body: bytes | None = None) -> Reply:
    incoming = InboundRequest()
    incoming.method, incoming.path, incoming.query = method, path, query
    incoming.headers = [(b"X-Tyk-Authorization", SECRET.encode())]
    if body is not None:
        incoming.content_length = len(body)
        stream = BodyStream(lambda: None, lambda: None)
        stream.feed(body)
        stream.feed_eof()
        incoming.body = stream
    writer = Writer()
    await api(incoming, writer)
    return Reply(writer.status, json.loads(writer.body))


async def test_the_routes_are_served(tmp_path: Path, leaf: trustme.LeafCert) -> None:
    api = control_api(tmp_path, CertificateStore(MemoryKeyValueStore(), "encoding-secret"))
    added = await request(api, "POST", "/tyk/certs", "org_id=o", leaf.private_key_and_cert_chain_pem.bytes())
    assert added.status == 200
    assert isinstance(added.body, dict)
    cert_id = added.body["id"]
    assert (await request(api, "GET", "/tyk/certs/", "org_id=o")).body == {"certs": [cert_id]}
    assert (await request(api, "GET", f"/tyk/certs/{cert_id}")).status == 200
    assert (await request(api, "DELETE", f"/tyk/certs/{cert_id}")).body == {"status": "ok", "message": "removed"}
    not_allowed = await request(api, "PUT", "/tyk/certs", body=b"")
    assert not_allowed.status == 405


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/tyk/certs"), ("POST", "/tyk/certs"), ("GET", "/tyk/certs/abc"), ("DELETE", "/tyk/certs/abc")],
)
async def test_without_a_store_the_routes_are_501(tmp_path: Path, method: str, path: str) -> None:
    reply = await request(control_api(tmp_path, None), method, path, body=b"x" if method == "POST" else None)
    assert (reply.status, reply.body) == (501, {"status": "error", "message": NO_CERTIFICATE_STORE})
