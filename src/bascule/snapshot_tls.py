"""Preparing a snapshot's TLS before it is swapped in (the `Reloader`'s `prepare` step, and at start):
certificate references resolved, upstream TLS policies and dial plans built, client-certificate allow-lists
turned into leaf hashes.

* APIs whose `upstream_tls` differs from the default (their own trust, versions, ciphers, client
  certificates, pins, CN check or `proxy_url`) get a plan; so does every API when the environment names
  proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`: chosen per upstream host, loopback never proxied, as
  Go's transport does in Tyk). Otherwise an API dials directly with the default verified context.
* Policies come from a `PolicyCache` generation per preparation, plans are kept per (policy, proxy): a reload
  that keeps an API's settings and material keeps its plan, and so its pooled connections.
* An API whose policy cannot be built (a certificate or pin that does not resolve) gets a failing plan: its
  requests answer 502 and the reason is logged once per preparation (fail closed, never a dial without the
  configured certificate or pins).
* `use_mutual_tls_auth` APIs get the SHA-256 of each allowed certificate's leaf (`Snapshot.client_certificates`);
  a reference that does not resolve allows nothing (logged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace

from bascule.config.outbound import ProxyEndpoint, ProxyRoute
from bascule.config.tls import UpstreamTls
from bascule.core.proxy_route import parse_proxy_url
from bascule.errors import TlsSetupError
from bascule.outbound.dial_plan import DialPlan
from bascule.outbound.material_book import EMPTY_BOOK, MaterialBook
from bascule.outbound.upstream_tls import PolicyCache, UpstreamTlsPolicy
from bascule.runtime.snapshot import Snapshot
from bascule.storage.certificates import CertificateStore
from bascule.tls_material import resolve_material

log = logging.getLogger("bascule.upstream")

DEFAULT_UPSTREAM_TLS = UpstreamTls()


def _references(settings: UpstreamTls) -> list[str]:
    return [entry.certificate for entry in settings.client_certificates] + [
        ref for pins in settings.pins for ref in pins.public_keys
    ]


def _proxy(url: str) -> ProxyEndpoint | None:
    if not url:
        return None
    parsed = parse_proxy_url(url)
    return ProxyEndpoint(parsed.scheme, parsed.host, parsed.port, parsed.username, parsed.password)


class SnapshotTls:
    def __init__(self, store: CertificateStore | None) -> None:
        self._store = store
        self._book: MaterialBook = EMPTY_BOOK
        self._policies = PolicyCache()
        self._plans: dict[tuple[UpstreamTlsPolicy | None, ProxyEndpoint | None], DialPlan] = {}

    async def prepare(self, snapshot: Snapshot) -> Snapshot:
        wanted = {
            api_id: runtime.settings.upstream_tls
            for api_id, runtime in snapshot.apis.items()
            if runtime.settings.upstream_tls != DEFAULT_UPSTREAM_TLS
        }
        client_auth = {
            api_id: runtime.settings.client_certificate_auth.allowed
            for api_id, runtime in snapshot.apis.items()
            if runtime.settings.client_certificate_auth is not None
        }
        route = snapshot.gateway.upstream_proxy
        environment_proxies = route.http_proxy is not None or route.https_proxy is not None
        if not wanted and not client_auth and not environment_proxies:
            return snapshot
        refs = [ref for settings in wanted.values() for ref in _references(settings)]
        refs += [ref for allowed in client_auth.values() for ref in allowed]
        book = await resolve_material(refs, self._store, previous=self._book)
        allowed_leaves = {api_id: _leaves(api_id, allowed, book) for api_id, allowed in client_auth.items()}
        environment = route if environment_proxies else None
        # Building contexts loads trust stores and certificate chains: CPU work kept off the event loop.
        # `prepare` is never run twice at once (the reloader serialises builds), so the caches are not shared.
        dials = await asyncio.to_thread(self._plans_for, list(snapshot.apis), wanted, book, environment)
        self._book = book
        return replace(snapshot, dials=dials, client_certificates=allowed_leaves)

    def _plans_for(
        self,
        api_ids: list[str],
        wanted: Mapping[str, UpstreamTls],
        book: MaterialBook,
        environment: ProxyRoute | None,
    ) -> dict[str, DialPlan]:
        policies = self._policies.successor()
        plans: dict[tuple[UpstreamTlsPolicy | None, ProxyEndpoint | None], DialPlan] = {}
        dials: dict[str, DialPlan] = {}
        for api_id in api_ids:
            settings = wanted.get(api_id)
            policy: UpstreamTlsPolicy | None = None
            proxy: ProxyEndpoint | None = None
            if settings is None and environment is None:
                continue
            if settings is not None:
                try:
                    proxy = _proxy(settings.proxy_url)
                    policy = policies.policy_for(settings, book, api_id)
                except (TlsSetupError, ValueError) as exc:
                    log.error("API %s: upstream TLS cannot be set up, its requests fail until fixed: %s", api_id, exc)
                    dials[api_id] = DialPlan(error=str(exc))
                    continue
            key = (policy, proxy)
            plan = plans.get(key) or self._plans.get(key) or DialPlan(policy, proxy, None if proxy else environment)
            dials[api_id] = plans[key] = plan
        self._policies, self._plans = policies, plans
        return dials


def _leaves(api_id: str, allowed: tuple[str, ...], book: MaterialBook) -> frozenset[str]:
    found: set[str] = set()
    for ref in allowed:
        material = book.get(ref)
        if material is None or not material.leaf_sha256:
            log.error("API %s: allowed client certificate %s does not resolve: %s", api_id, ref[:64], book.problem(ref))
        else:
            found.add(material.leaf_sha256)
    return frozenset(found)
