from __future__ import annotations

from dataclasses import replace

import trustme

from bascule.config.outbound import ServiceType, TlsClientSettings
from bascule.config.outbound_defaults import default_profile
from bascule.service_clients import build_service_clients, store_material
from bascule.storage.certificates import CertificateStore
from bascule.storage.memory import MemoryKeyValueStore


async def test_store_ids_become_pem_material() -> None:
    store = CertificateStore(MemoryKeyValueStore(), "a-secret-for-tests")
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example")
    cert_id = await store.add(leaf.cert_chain_pems[0].bytes() + leaf.private_key_pem.bytes())
    ca_id = await store.add(ca.cert_pem.bytes())
    profile = replace(default_profile(ServiceType.OAUTH), tls=TlsClientSettings(cert_id=cert_id, ca_cert_ids=(ca_id,)))
    material = await store_material(store, profile)
    assert material is not None
    assert b"BEGIN CERTIFICATE" in material.cert_pem
    assert b"PRIVATE KEY" in material.key_pem
    assert material.ca_pem.strip() == ca.cert_pem.bytes().strip()


async def test_no_store_ids_no_material_and_one_client_per_service() -> None:
    store = CertificateStore(MemoryKeyValueStore(), "a-secret-for-tests")
    assert await store_material(store, default_profile(ServiceType.HEALTH)) is None
    clients = await build_service_clients({s: default_profile(s) for s in ServiceType}, store)
    assert set(clients) == set(ServiceType)
    for client in clients.values():
        await client.close()
