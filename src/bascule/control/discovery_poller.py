"""Service discovery in the background (DECISIONS §16, tyk-behaviour §3.5): one watch per API and purpose.

* A target watch queries the API's `query_endpoint` through the `discovery` service (proxy, mTLS, timeout),
  with `Accept: application/json` (Eureka answers XML otherwise), parses the answer with `core.discovery`,
  gives each host a scheme (`normalise_host` with the API's protocol) and puts the list in the API's
  `DiscoveredTargets` cell, which requests read. One query per `cache_timeout` (0: the gateway's
  `service_discovery.default_cache_timeout`, 120 s), however many requests arrive; requests never wait
  for a query.
* A check watch (uptime tests' `config.service_discovery`) queries the same way; the value at `data_path` is an
  array of Tyk check objects (or a string holding one, as Tyk requires), translated like a definition's
  `check_list`; the health checker adds them to the API's own checks (`checks_for`). Tyk drops that list at
  load (a bug); bascule uses it.
* A query that fails, times out, answers malformed JSON or nothing usable changes nothing: the last good list
  keeps serving (logged); for targets, the static `target_url` serves only while there has never been a good
  list. A failed query is retried sooner: after 1 s, doubling, at most `cache_timeout`. An unexpected error in
  a query is logged with its traceback and treated as a failed query: a watch never ends on its own.
* Reloads: `reconcile` runs on every snapshot swap. A watch whose settings (and, for targets, protocol and
  load balancing) did not change is kept, and a target watch's last good list is copied into the new
  snapshot's cell at once; others get a new watch; watches of APIs gone are stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bascule.compat.tyk.translate_upstream_checks import translate_discovered_checks
from bascule.config.upstream_checks import ServiceDiscovery, UptimeCheck
from bascule.core.discovery import DiscoveryParseError, discovered_check_objects, discovered_hosts
from bascule.core.upstream_url import UpstreamTarget, normalise_host, parse_target
from bascule.errors import ConfigProblem, ExternalServiceUnavailable, ProxyError
from bascule.observability.redaction import redact_url
from bascule.outbound.service_client import ServiceClient
from bascule.runtime.discovered_targets import DiscoveredTargets
from bascule.runtime.snapshot import Snapshot

log = logging.getLogger("bascule.discovery")

FIRST_RETRY = 1.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WatchKey:
    discovery: ServiceDiscovery
    protocol: str
    load_balancing: bool


class _Watch(Generic[T]):
    """The query loop of one API: `_interpret` turns an answer into what it found."""

    what = "list"

    def __init__(
        self, api_id: str, key: Hashable, discovery: ServiceDiscovery, client: ServiceClient, ttl: float
    ) -> None:
        self.api_id = api_id
        self.key = key
        self.discovery = discovery
        self._client = client
        self._ttl = ttl
        self.last_good: tuple[T, ...] = ()
        self.queries = 0
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"discovery-{api_id}")

    def _interpret(self, body: str) -> tuple[T, ...]:
        raise NotImplementedError

    def _found(self, found: tuple[T, ...]) -> None:
        self.last_good = found

    async def _run(self) -> None:
        retry = FIRST_RETRY
        while True:
            try:
                found = await self.query()
            except Exception:  # a watch that ended here would silently never refresh its list again
                log.exception("[SERVICE DISCOVERY] API %s: query failed unexpectedly; %s", self.api_id, self._kept())
                found = ()
            if found:
                self._found(found)
                retry = FIRST_RETRY
                await asyncio.sleep(self._ttl)
            else:
                await asyncio.sleep(min(retry, self._ttl))
                retry = min(retry * 2, self._ttl)

    async def query(self) -> tuple[T, ...]:
        """What the endpoint names now, or () after logging why there is nothing."""
        endpoint = redact_url(self.discovery.query_endpoint)
        self.queries += 1
        try:
            answer = await self._client.request(
                "GET", self.discovery.query_endpoint, [("Accept", "application/json")], timeout=None
            )
            found = self._interpret(answer.body.decode("utf-8", "replace"))
        except (DiscoveryParseError, ProxyError, OSError, ExternalServiceUnavailable, ValueError) as exc:
            self._keep_last_good(f"query to {endpoint} failed: {exc}")
            return ()
        if not found:
            self._keep_last_good(f"{endpoint} returned an empty {self.what}")
        return found

    def _keep_last_good(self, why: str) -> None:
        log.warning("[SERVICE DISCOVERY] API %s: %s; %s", self.api_id, why, self._kept())

    def _kept(self) -> str:
        return f"keeping the last good {self.what}" if self.last_good else self._fallback()

    def _fallback(self) -> str:
        return "nothing to fall back on"


W = TypeVar("W", bound=_Watch[Any])


class _TargetWatch(_Watch[UpstreamTarget]):
    what = "host list"

    def __init__(self, api_id: str, key: WatchKey, cell: DiscoveredTargets, client: ServiceClient, ttl: float) -> None:
        self.cell = cell
        self.protocol = key.protocol
        super().__init__(api_id, key, key.discovery, client, ttl)

    def attach(self, cell: DiscoveredTargets) -> None:
        self.cell = cell
        if self.last_good:
            cell.update(self.last_good)

    def _found(self, found: tuple[UpstreamTarget, ...]) -> None:
        super()._found(found)
        self.cell.update(found)

    def _fallback(self) -> str:
        return "using the static target_url"

    def _interpret(self, body: str) -> tuple[UpstreamTarget, ...]:
        discovery = self.discovery
        hosts = discovered_hosts(
            body,
            data_path=discovery.data_path,
            parent_data_path=discovery.parent_data_path,
            port_data_path=discovery.port_data_path,
            use_nested_query=discovery.use_nested_query,
            use_target_list=discovery.use_target_list,
            endpoint_returns_list=discovery.endpoint_returns_list,
            target_path=discovery.target_path,
        )
        targets: list[UpstreamTarget] = []
        for host in hosts:
            try:
                targets.append(parse_target(normalise_host(host, self.protocol)))
            except ValueError as exc:
                log.warning("[SERVICE DISCOVERY] API %s: skipping host %r: %s", self.api_id, host, exc)
        return tuple(targets)


class _Problems:
    def __init__(self) -> None:
        self.found: list[ConfigProblem] = []

    def add(self, json_path: str, message: str) -> None:
        self.found.append(ConfigProblem(None, json_path, message))


class _CheckWatch(_Watch[UptimeCheck]):
    what = "check list"

    def _fallback(self) -> str:
        return "checking only the listed hosts"

    def _interpret(self, body: str) -> tuple[UptimeCheck, ...]:
        problems = _Problems()
        checks = translate_discovered_checks(
            discovered_check_objects(body, data_path=self.discovery.data_path), problems
        )
        for problem in problems.found:
            log.warning(
                "[SERVICE DISCOVERY] API %s: discovered check %s: %s", self.api_id, problem.json_path, problem.message
            )
        return checks


class DiscoveryPoller:
    """The watches of all loaded APIs; `reconcile` is a `SnapshotHolder` listener."""

    def __init__(self, client: ServiceClient, default_ttl: float) -> None:
        self._client = client
        self._default_ttl = default_ttl
        self._watches: dict[str, _TargetWatch] = {}
        self._check_watches: dict[str, _CheckWatch] = {}

    def _ttl(self, discovery: ServiceDiscovery) -> float:
        return discovery.cache_timeout if discovery.cache_timeout > 0 else self._default_ttl

    def reconcile(self, snapshot: Snapshot) -> None:
        targets: dict[str, tuple[WatchKey, DiscoveredTargets]] = {}
        checks: dict[str, ServiceDiscovery] = {}
        for api_id, runtime in snapshot.apis.items():
            settings = runtime.settings
            cell, discovery = runtime.upstream.discovered, settings.checks.discovery
            if cell is not None and discovery is not None:
                targets[api_id] = (WatchKey(discovery, settings.protocol, settings.load_balancing), cell)
            uptime = settings.checks.uptime
            if uptime is not None and uptime.discovery is not None:
                checks[api_id] = uptime.discovery
        for api_id, (key, cell) in targets.items():
            watch = self._watches.get(api_id)
            if watch is not None and watch.key == key:
                watch.attach(cell)
            else:
                self._replace(
                    self._watches, api_id, _TargetWatch(api_id, key, cell, self._client, self._ttl(key.discovery))
                )
        for api_id, discovery in checks.items():
            found = self._check_watches.get(api_id)
            if found is None or found.key != discovery:
                fresh = _CheckWatch(api_id, discovery, discovery, self._client, self._ttl(discovery))
                self._replace(self._check_watches, api_id, fresh)
        self._drop(self._watches, targets)
        self._drop(self._check_watches, checks)

    @staticmethod
    def _replace(watches: dict[str, W], api_id: str, watch: W) -> None:
        old = watches.get(api_id)
        if old is not None:
            old.task.cancel()
        watches[api_id] = watch

    @staticmethod
    def _drop(watches: dict[str, W], wanted: Collection[str]) -> None:
        for api_id in [known for known in watches if known not in wanted]:
            watches.pop(api_id).task.cancel()

    def checks_for(self, api_id: str) -> tuple[UptimeCheck, ...]:
        """The uptime checks discovery last found for `api_id` (empty when none)."""
        watch = self._check_watches.get(api_id)
        return watch.last_good if watch is not None else ()

    def queries(self, api_id: str) -> int:
        watch = self._watches.get(api_id)
        return watch.queries if watch is not None else 0

    async def stop(self) -> None:
        watches: list[_Watch[Any]] = [*self._watches.values(), *self._check_watches.values()]
        self._watches, self._check_watches = {}, {}
        for watch in watches:
            watch.task.cancel()
        await asyncio.gather(*(watch.task for watch in watches), return_exceptions=True)
