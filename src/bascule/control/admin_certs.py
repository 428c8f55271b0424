"""The `/tyk/certs` endpoints: the certificate store over the control API, in Tyk's bodies.

Rules (tyk-behaviour §3.12; one test each in `tests/unit/control/test_admin_certs.py`):

* `POST /tyk/certs?org_id=<org>` with a PEM body: 200 `{"id", "status": "ok", "message": "Certificate
  added"}`; a refused upload (duplicate, expired, malformed, ...) is 403 with the reason as `message`.
* `GET /tyk/certs?org_id=<org>`: `{"certs": [ids]}` (`[]`, never Tyk's `null`, when there are none);
  with `mode=detailed` each id becomes `{id, issuer_cn, subject_cn, dns_names, has_private, not_before,
  not_after, is_ca}` (ids whose record is gone are left out).
* `GET /tyk/certs/<id>`: `{id, fingerprint, has_private, issuer, subject, not_before, not_after,
  dns_names, is_ca}`; unknown: 404 `Certificate with given SHA256 fingerprint not found`. Several ids
  joined by commas: an array, `null` for each unknown one. `issuer` and `subject` are shaped as Go's
  `pkix.Name` (what Tyk writes); times are RFC 3339 in UTC, Go's zero time for a public key.
* `DELETE /tyk/certs/<id>` (optionally `?org_id=`): 200 `{"status": "ok", "message": "removed"}`, known
  or not, as Tyk.
* Without a store every `/tyk/certs` call is 501. No body ever contains private key material: these
  handlers never ask the store for keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qs

from bascule.control.admin_replies import AdminCall, Reply, error_reply
from bascule.storage.certificate_pem import CertificateRejected, NameAttribute
from bascule.storage.certificates import CertificateStore, StoredCertificate

CERTIFICATE_NOT_FOUND = "Certificate with given SHA256 fingerprint not found"
NO_CERTIFICATE_STORE = "the certificate store is not available on this gateway"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"

_GO_NAME_LISTS: Mapping[str, str] = {
    "2.5.4.6": "Country",
    "2.5.4.10": "Organization",
    "2.5.4.11": "OrganizationalUnit",
    "2.5.4.7": "Locality",
    "2.5.4.8": "Province",
    "2.5.4.9": "StreetAddress",
    "2.5.4.17": "PostalCode",
}
"""Go's `pkix.Name` list fields by attribute OID, in the struct's order (which is the JSON's)."""
_GO_NAME_STRINGS: Mapping[str, str] = {"2.5.4.5": "SerialNumber", "2.5.4.3": "CommonName"}


def go_time(moment: datetime | None) -> str:
    """Go's `time.Time` JSON for a UTC second-precision time (`2026-01-02T03:04:05Z`)."""
    if moment is None:
        return GO_ZERO_TIME
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def go_pkix_name(attributes: tuple[NameAttribute, ...], common_name: str = "") -> dict[str, object]:
    """A distinguished name as Go's `encoding/json` writes a `pkix.Name`: empty lists are `null`; a
    repeated string attribute keeps its last value; `Names` lists every attribute with its OID as
    integers; `ExtraNames` is always `null` (it is only for writing certificates)."""
    lists: dict[str, list[str]] = {}
    strings = {"SerialNumber": "", "CommonName": common_name}
    for attribute in attributes:
        if attribute.oid in _GO_NAME_LISTS:
            lists.setdefault(_GO_NAME_LISTS[attribute.oid], []).append(attribute.value)
        elif attribute.oid in _GO_NAME_STRINGS:
            strings[_GO_NAME_STRINGS[attribute.oid]] = attribute.value
    names = [{"Type": [int(arc) for arc in a.oid.split(".")], "Value": a.value} for a in attributes]
    body: dict[str, object] = {field: lists.get(field) for field in _GO_NAME_LISTS.values()}
    body.update(strings)
    body["Names"] = names or None
    body["ExtraNames"] = None
    return body


def basics_body(certificate: StoredCertificate) -> dict[str, object]:
    """An entry of `GET /tyk/certs?mode=detailed` (Tyk's `CertificateBasics`, plus `is_ca`)."""
    meta = certificate.metadata
    return {
        "id": certificate.id,
        "issuer_cn": meta.issuer_cn,
        "subject_cn": meta.subject_cn,
        "dns_names": list(meta.dns_names),
        "has_private": certificate.has_private,
        "not_before": go_time(meta.not_before),
        "not_after": go_time(meta.not_after),
        "is_ca": meta.is_ca,
    }


def meta_body(certificate: StoredCertificate) -> dict[str, object]:
    """The answer to `GET /tyk/certs/<id>` (Tyk's `CertificateMeta`, plus `is_ca`)."""
    meta = certificate.metadata
    return {
        "id": certificate.id,
        "fingerprint": certificate.fingerprint,
        "has_private": certificate.has_private,
        "issuer": go_pkix_name(meta.issuer),
        "subject": go_pkix_name(meta.subject, meta.subject_cn),
        "not_before": go_time(meta.not_before),
        "not_after": go_time(meta.not_after),
        "dns_names": list(meta.dns_names),
        "is_ca": meta.is_ca,
    }


def _query_value(query: str, name: str) -> str:
    """The first value of `name`, as Go's `URL.Query().Get`; empty when absent."""
    return parse_qs(query, keep_blank_values=True).get(name, [""])[0]


class CertificateEndpoints:
    """Handlers for `/tyk/certs` and `/tyk/certs/{id}` (see the module rules)."""

    def __init__(self, store: CertificateStore | None) -> None:
        self._store = store

    async def create(self, call: AdminCall) -> Reply:
        store = self._store
        if store is None:
            return error_reply(501, NO_CERTIFICATE_STORE)
        try:
            cert_id = await store.add(call.body, _query_value(call.query, "org_id"))
        except CertificateRejected as refusal:
            return error_reply(403, refusal.message)
        return Reply(200, {"id": cert_id, "status": "ok", "message": "Certificate added"})

    async def index(self, call: AdminCall) -> Reply:
        store = self._store
        if store is None:
            return error_reply(501, NO_CERTIFICATE_STORE)
        cert_ids = await store.list(_query_value(call.query, "org_id"))
        if _query_value(call.query, "mode") != "detailed":
            return Reply(200, {"certs": cert_ids})
        found = await store.get_many(cert_ids)
        return Reply(200, {"certs": [basics_body(c) for c in found if c is not None]})

    async def show(self, call: AdminCall) -> Reply:
        store = self._store
        if store is None:
            return error_reply(501, NO_CERTIFICATE_STORE)
        cert_ids = call.params["id"].split(",")
        found = await store.get_many(cert_ids)
        if len(cert_ids) > 1:
            return Reply(200, [None if c is None else meta_body(c) for c in found])
        if found[0] is None:
            return error_reply(404, CERTIFICATE_NOT_FOUND)
        return Reply(200, meta_body(found[0]))

    async def delete(self, call: AdminCall) -> Reply:
        store = self._store
        if store is None:
            return error_reply(501, NO_CERTIFICATE_STORE)
        org_id = _query_value(call.query, "org_id")
        await store.delete(call.params["id"], org_id or None)
        return Reply(200, {"status": "ok", "message": "removed"})
