"""One `ServiceClient` per external service, with certificate-store material resolved for it.

The outbound layer never sees the certificate store (they are siblings): this module, beside the
composition root, looks up each profile's `cert_id` and `ca_cert_ids` and hands PEM bytes to the client.
A store id that is not found gives the client no material for it, and the client then fails closed
("Certificate not found in store"), never falling back to a client without the certificate
(DECISIONS §10).
"""

from __future__ import annotations

from collections.abc import Mapping

from bascule.config.outbound import ServiceProfile, ServiceType
from bascule.outbound.client_tls import TlsMaterial
from bascule.outbound.service_client import ServiceClient
from bascule.storage.certificate_tls import ca_certificates_pem
from bascule.storage.certificates import CertificateStore


async def store_material(store: CertificateStore, profile: ServiceProfile) -> TlsMaterial | None:
    """The PEM material `profile` names by store id, or None when it names none."""
    tls = profile.tls
    if not tls.cert_id and not tls.ca_cert_ids:
        return None
    cert_pem = key_pem = b""
    if tls.cert_id:
        stored = await store.get(tls.cert_id, with_private_key=True)
        if stored is not None:
            cert_pem = stored.certificate_pem
            key_pem = stored.private_key_pem or b""
    ca_pem = ca_certificates_pem(await store.get_many(tls.ca_cert_ids)) if tls.ca_cert_ids else b""
    return TlsMaterial(cert_pem=cert_pem, key_pem=key_pem, ca_pem=ca_pem)


async def build_service_clients(
    profiles: Mapping[ServiceType, ServiceProfile], store: CertificateStore
) -> dict[ServiceType, ServiceClient]:
    return {
        service: ServiceClient(profile, await store_material(store, profile)) for service, profile in profiles.items()
    }
