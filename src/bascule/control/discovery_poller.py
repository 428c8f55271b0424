"""Service discovery in the background (DECISIONS §16, tyk-behaviour §3.5): one watch per API.

* A watch queries the API's `query_endpoint` through the `discovery` service (proxy, mTLS, timeout), with
  `Accept: application/json` (Eureka answers XML otherwise), parses the answer with `core.discovery`,
  gives each host a scheme (`normalise_host` with the API's protocol) and puts the list in the API's
  `DiscoveredTargets` cell, which requests read. One query per `cache_timeout` (0: the gateway's
  `service_discovery.default_cache_timeout`, 120 s), however many requests arrive; requests never wait
  for a query.
* A query that fails, times out, answers malformed JSON or no host changes nothing: the last good list
  keeps serving (logged), and the static `target_url` serves only while there has never been a good list.
  A failed query is retried sooner: after 1 s, doubling, at most `cache_timeout`. An unexpected error in a
  query (a bug) is logged with its traceback and handled as a failure: the watch never ends on its own.
* Reloads: `reconcile` runs on every snapshot swap. An API whose discovery settings (and protocol and
  load balancing) did not change keeps its watch, and its last good list is copied into the new
  snapshot's cell at once; others get a new watch; watches of APIs gone are stopped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bascule.config.apis import ApiSettings
from bascule.config.upstream_checks import ServiceDiscovery
from bascule.core.discovery import DiscoveryParseError, discovered_hosts
from bascule.core.upstream_url import UpstreamTarget, normalise_host, parse_target
from bascule.errors import ExternalServiceUnavailable, ProxyError
from bascule.observability.redaction import redact_url
from bascule.outbound.service_client import ServiceClient
from bascule.runtime.discovered_targets import DiscoveredTargets
from bascule.runtime.snapshot import Snapshot

log = logging.getLogger("bascule.discovery")

FIRST_RETRY = 1.0


@dataclass(frozen=True, slots=True)
class WatchKey:
    discovery: ServiceDiscovery
    protocol: str
    load_balancing: bool


class _Watch:
    """The query loop of one API."""

    def __init__(self, api_id: str, key: WatchKey, cell: DiscoveredTargets, client: ServiceClient, ttl: float) -> None:
        self.api_id = api_id
        self.key = key
        self.cell = cell
        self._client = client
        self._ttl = ttl
        self.last_good: tuple[UpstreamTarget, ...] = ()
        self.queries = 0
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"discovery-{api_id}")

    def attach(self, cell: DiscoveredTargets) -> None:
        self.cell = cell
        if self.last_good:
            cell.update(self.last_good)

    async def _run(self) -> None:
        retry = FIRST_RETRY
        while True:
            try:
                found = await self.query()
            except Exception:  # a watch that ended here would silently never refresh its list again
                log.exception("[SERVICE DISCOVERY] API %s: query failed unexpectedly; %s", self.api_id, self._kept())
                found = ()
            if found:
                self.last_good = found
                self.cell.update(found)
                retry = FIRST_RETRY
                await asyncio.sleep(self._ttl)
            else:
                await asyncio.sleep(min(retry, self._ttl))
                retry = min(retry * 2, self._ttl)

    async def query(self) -> tuple[UpstreamTarget, ...]:
        """The hosts the endpoint names now, or () after logging why there are none."""
        discovery = self.key.discovery
        endpoint = redact_url(discovery.query_endpoint)
        self.queries += 1
        try:
            answer = await self._client.request(
                "GET", discovery.query_endpoint, [("Accept", "application/json")], timeout=None
            )
            hosts = discovered_hosts(
                answer.body.decode("utf-8", "replace"),
                data_path=discovery.data_path,
                parent_data_path=discovery.parent_data_path,
                port_data_path=discovery.port_data_path,
                use_nested_query=discovery.use_nested_query,
                use_target_list=discovery.use_target_list,
                endpoint_returns_list=discovery.endpoint_returns_list,
                target_path=discovery.target_path,
            )
        except (DiscoveryParseError, ProxyError, OSError, ExternalServiceUnavailable, ValueError) as exc:
            self._keep_last_good(f"query to {endpoint} failed: {exc}")
            return ()
        targets: list[UpstreamTarget] = []
        for host in hosts:
            try:
                targets.append(parse_target(normalise_host(host, self.key.protocol)))
            except ValueError as exc:
                log.warning("[SERVICE DISCOVERY] API %s: skipping host %r: %s", self.api_id, host, exc)
        if not targets:
            self._keep_last_good(f"{endpoint} returned an empty host list")
        return tuple(targets)

    def _keep_last_good(self, why: str) -> None:
        log.warning("[SERVICE DISCOVERY] API %s: %s; %s", self.api_id, why, self._kept())

    def _kept(self) -> str:
        return "keeping the last good list" if self.last_good else "using the static target_url"


class DiscoveryPoller:
    """The watches of all loaded APIs; `reconcile` is a `SnapshotHolder` listener."""

    def __init__(self, client: ServiceClient, default_ttl: float) -> None:
        self._client = client
        self._default_ttl = default_ttl
        self._watches: dict[str, _Watch] = {}

    def reconcile(self, snapshot: Snapshot) -> None:
        wanted: dict[str, tuple[ApiSettings, DiscoveredTargets]] = {}
        for api_id, runtime in snapshot.apis.items():
            cell = runtime.upstream.discovered
            if cell is not None and runtime.settings.checks.discovery is not None:
                wanted[api_id] = (runtime.settings, cell)
        for api_id in [known for known in self._watches if known not in wanted]:
            self._watches.pop(api_id).task.cancel()
        for api_id, (settings, cell) in wanted.items():
            discovery = settings.checks.discovery
            assert discovery is not None
            key = WatchKey(discovery, settings.protocol, settings.load_balancing)
            watch = self._watches.get(api_id)
            if watch is not None and watch.key == key:
                watch.attach(cell)
                continue
            if watch is not None:
                watch.task.cancel()
            ttl = discovery.cache_timeout if discovery.cache_timeout > 0 else self._default_ttl
            self._watches[api_id] = _Watch(api_id, key, cell, self._client, ttl)

    def queries(self, api_id: str) -> int:
        watch = self._watches.get(api_id)
        return watch.queries if watch is not None else 0

    async def stop(self) -> None:
        watches, self._watches = list(self._watches.values()), {}
        for watch in watches:
            watch.task.cancel()
        await asyncio.gather(*(watch.task for watch in watches), return_exceptions=True)
