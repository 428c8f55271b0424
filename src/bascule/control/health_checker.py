"""Uptime checks in the background (DECISIONS §15, tyk-behaviour §3.6), one checker per poller group.

Each round (every `uptime_tests.config.time_wait` seconds, measured from the start of the last round):

1. **Who checks.** One node per poller group: the one holding the storage lock
   `host-checker:PollerActiveInstanceID[.<group>]` (Tyk's key) with its node id. The holder refreshes it
   each round; a node that finds it free takes it. Its lifetime is three rounds (at least 3 s), so a dead
   checker is replaced within that. With in-memory storage the one node always holds it. When storage
   cannot be reached, each node checks for itself (logged once per outage): correctness before economy.
2. **Checking** (the holder): every check of every loaded API (listed, or found by the uptime tests' own
   discovery endpoint: `DiscoveryPoller.checks_for`), de-duplicated by URL, `checker_pool_size`
   at a time (0: 50), through the `health` service (`uptime_probe.run_check`). A host passes a round when
   all its checks pass. `core.host_health` turns rounds into states: down after `failure_trigger_sample_size`
   failed rounds in a row, up after as many good ones.
3. **Telling.** The holder writes every host's state to `bascule-host-states[.<group>]` (JSON, lifetime three
   rounds) and fills its own `HostBoard`; the other nodes copy that document into theirs each round (no
   document: no host is down — a checker that died must not leave hosts marked down for ever). Each flip
   publishes `HostDown` or `HostUp` once (Tyk repeats HostDown every round) for every API checking the
   host, and logs one line. With `enable_uptime_analytics`, one JSON record per check is appended to
   `host-checker:tyk-uptime-analytics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bascule.config.gateway import UptimeSettings
from bascule.config.upstream_checks import UptimeCheck
from bascule.control.uptime_probe import CheckResult, run_check
from bascule.core.host_health import HostHealthTracker, Transition
from bascule.errors import UpstreamTlsError
from bascule.outbound.dial_plan import DialPlan
from bascule.outbound.service_client import ServiceClient
from bascule.runtime.events import HOST_DOWN, HOST_UP, Event, EventBus
from bascule.runtime.host_board import HostBoard, HostReport
from bascule.runtime.snapshot import Snapshot, SnapshotHolder, UpstreamPlan
from bascule.storage.kv import KeyValueStore
from bascule.storage.redis import StorageError

log = logging.getLogger("bascule.health")

LOCK_KEY = "host-checker:PollerActiveInstanceID"
STATE_KEY = "bascule-host-states"
ANALYTICS_KEY = "host-checker:tyk-uptime-analytics"
DEFAULT_CONCURRENCY = 50
MIN_LOCK_TTL = 3.0


@dataclass(frozen=True, slots=True)
class CheckedBy:
    """The APIs that list one check (by URL), for events."""

    check: UptimeCheck
    apis: tuple[tuple[str, str], ...]
    """(api_id, org_id) of each."""


DiscoveredChecks = Callable[[str], tuple[UptimeCheck, ...]]


def _no_discovered_checks(api_id: str) -> tuple[UptimeCheck, ...]:
    return ()


def collect_checks(snapshot: Snapshot, discovered: DiscoveredChecks = _no_discovered_checks) -> dict[str, CheckedBy]:
    """Every check of every loaded API, listed or discovered, by URL (the first of a URL wins its settings)."""
    found: dict[str, CheckedBy] = {}
    for runtime in snapshot.apis.values():
        settings = runtime.settings
        uptime = settings.checks.uptime
        if uptime is None:
            continue
        for check in (*uptime.checks, *discovered(settings.api_id)):
            known = found.get(check.url)
            api = (settings.api_id, settings.org_id)
            found[check.url] = CheckedBy(check, (*known.apis, api)) if known else CheckedBy(check, (api,))
    return found


def upstream_tls_context(checked: CheckedBy, snapshot: Snapshot) -> ssl.SSLContext | None:
    """For a check speaking TLS to one of an API's upstream hosts (its `host:port` among the API's targets,
    static, balanced or discovered): that API's TLS context, when the API has its own. None: the `health`
    service's. The first such API listing the check decides."""
    check = checked.check
    if not (check.kind == "tls" or check.url.lower().startswith("https://")):
        return None
    host, _, port = check.host.rpartition(":")
    for api_id, _ in checked.apis:
        plan = snapshot.dials.get(api_id)
        runtime = snapshot.apis.get(api_id)
        if not isinstance(plan, DialPlan) or (plan.tls is None and not plan.error) or runtime is None:
            continue
        if check.host in _upstream_hosts(runtime.upstream):
            return plan.context_for(host.strip("[]"), int(port), check.url)
    return None


def _upstream_hosts(plan: UpstreamPlan) -> set[str]:
    hosts = {plan.static.host_port, *(target.host_port for target in plan.targets)}
    found = plan.discovered.current if plan.discovered is not None else None
    if found is not None:
        hosts.update(target.host_port for target in found.targets)
    return hosts


def _suffix(group: str) -> str:
    return f".{group}" if group else ""


class HealthChecker:
    def __init__(
        self,
        holder: SnapshotHolder,
        client: ServiceClient,
        storage: KeyValueStore,
        settings: UptimeSettings,
        board: HostBoard,
        bus: EventBus,
        node_id: str,
        *,
        wall_clock: Callable[[], float] = time.time,
        discovered: DiscoveredChecks = _no_discovered_checks,
    ) -> None:
        self._holder = holder
        self._discovered = discovered
        self._client = client
        self._storage = storage
        self._settings = settings
        self._board = board
        self._bus = bus
        self._node = node_id
        self._clock = wall_clock
        self._tracker = HostHealthTracker(settings.sample_size)
        self._semaphore = asyncio.Semaphore(settings.concurrency or DEFAULT_CONCURRENCY)
        self._lock_key = LOCK_KEY + _suffix(settings.poller_group)
        self._state_key = STATE_KEY + _suffix(settings.poller_group)
        self._lock_ttl = max(3 * settings.interval, MIN_LOCK_TTL)
        self._leading = False
        self._storage_down = False
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self._leading

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="health-checker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._leading:
            with contextlib.suppress(StorageError):  # the lock then expires by itself
                await self._storage.release(self._lock_key, self._node.encode())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await self.run_round()
            except Exception:
                log.exception("[HOST CHECKER] a round failed; the next one runs as planned")
            await asyncio.sleep(max(0.0, self._settings.interval - (loop.time() - began)))

    async def run_round(self) -> None:
        checks = collect_checks(self._holder.current, self._discovered)
        if not checks:
            self._board.clear()
            return
        if await self._lead():
            await self._check(checks)
        else:
            await self._follow()

    async def _lead(self) -> bool:
        me = self._node.encode()
        try:
            if self._leading and await self._storage.refresh(self._lock_key, me, self._lock_ttl):
                leading = True
            else:
                leading = await self._storage.add(self._lock_key, me, self._lock_ttl)
        except StorageError as exc:
            if not self._storage_down:
                log.warning("[HOST CHECKER] storage unavailable (%s): this node checks for itself", exc)
                self._storage_down = True
            return True
        self._storage_down = False
        if leading != self._leading:
            log.info("[HOST CHECKER] this node %s the checker of its poller group", "is" if leading else "is no longer")
            if not leading:
                self._tracker = HostHealthTracker(self._settings.sample_size)
        self._leading = leading
        return leading

    async def _check(self, checks: Mapping[str, CheckedBy]) -> None:
        urls = list(checks)
        snapshot = self._holder.current
        results = await asyncio.gather(*(self._bounded(checks[url], snapshot) for url in urls))
        by_host: dict[str, list[tuple[str, CheckResult]]] = {}
        for url, result in zip(urls, results, strict=True):
            by_host.setdefault(checks[url].check.host, []).append((url, result))
        now = self._clock()
        for host, outcomes in by_host.items():
            failed = [(url, result) for url, result in outcomes if not result.ok]
            url, result = failed[0] if failed else outcomes[0]
            transition = self._tracker.record(host, not failed, now, result.detail, result.latency)
            if transition is not None:
                self._announce(transition, url, result, checks[url].apis)
        self._tracker.forget(by_host)
        reports = [
            HostReport(
                host=state.host,
                up=state.up,
                since=state.since,
                last_ok=state.last_ok,
                last_detail=state.last_detail,
                last_latency=state.last_latency,
                checked_at=now,
                check_urls=tuple(url for url, _ in by_host[state.host]),
            )
            for state in self._tracker.states()
        ]
        self._board.replace(reports, self._node)
        await self._share(reports, urls, results)

    async def _bounded(self, checked: CheckedBy, snapshot: Snapshot) -> CheckResult:
        async with self._semaphore:
            try:
                context = upstream_tls_context(checked, snapshot)
            except UpstreamTlsError as exc:
                return CheckResult(False, str(exc), tcp_error=True)
            try:
                return await run_check(checked.check, self._client, context)
            except Exception as exc:  # one broken check must not void the round for every host
                log.exception("[HOST CHECKER] check of %s failed unexpectedly", checked.check.url)
                return CheckResult(False, f"{type(exc).__name__}: {exc}", tcp_error=True)

    def _announce(self, transition: Transition, url: str, result: CheckResult, apis: Sequence[tuple[str, str]]) -> None:
        name, message = (HOST_UP, "Uptime test succeeded") if transition.up else (HOST_DOWN, "Uptime test failed")
        log.warning("[HOST CHECKER MANAGER] Host is %s: %s (%s)", "UP" if transition.up else "DOWN", url, result.detail)
        for api_id, org_id in apis:
            latency = "" if result.latency is None else f"{result.latency * 1000:.0f}"
            host_info = {  # strings, as Go's templates print them
                "CheckURL": url,
                "ResponseCode": str(result.status),
                "IsTCPError": "true" if result.tcp_error else "false",
                "Latency": latency,
                "Detail": result.detail,
                "MetaData": {"target_url": url, "api_id": api_id, "host_name": transition.host},
            }
            meta = {"Message": message, "HostInfo": host_info}
            self._bus.publish(Event(name, api_id, org_id, message, transition.at, meta))

    async def _share(self, reports: Sequence[HostReport], urls: Sequence[str], results: Sequence[CheckResult]) -> None:
        document = json.dumps({"checked_by": self._node, "hosts": [_report_json(r) for r in reports]})
        try:
            await self._storage.set(self._state_key, document.encode(), ttl=self._lock_ttl)
            if self._settings.analytics:
                for url, result in zip(urls, results, strict=True):
                    await self._storage.list_append(ANALYTICS_KEY, _analytics_record(url, result, self._clock()))
        except StorageError as exc:
            log.debug("[HOST CHECKER] host states not shared: %s", exc)

    async def _follow(self) -> None:
        try:
            document = await self._storage.get(self._state_key)
        except StorageError as exc:
            log.debug("[HOST CHECKER] host states not read: %s", exc)
            return
        if document is None:
            self._board.clear()
            return
        try:
            parsed = json.loads(document)
            reports = [HostReport(**{**entry, "check_urls": tuple(entry["check_urls"])}) for entry in parsed["hosts"]]
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("[HOST CHECKER] ignoring a malformed host state document: %s", exc)
            return
        self._board.replace(reports, str(parsed.get("checked_by", "")))


def _report_json(report: HostReport) -> dict[str, object]:
    return {
        "host": report.host,
        "up": report.up,
        "since": report.since,
        "last_ok": report.last_ok,
        "last_detail": report.last_detail,
        "last_latency": report.last_latency,
        "checked_at": report.checked_at,
        "check_urls": list(report.check_urls),
    }


def _analytics_record(url: str, result: CheckResult, now: float) -> bytes:
    code = 521 if result.tcp_error else result.status  # Tyk's code for a TCP error
    record = {
        "URL": url,
        "ResponseCode": code,
        "TCPError": result.tcp_error,
        "ServerError": code > 200 and not 200 <= code < 300,
        "RequestTime": round((result.latency or 0.0) * 1000),
        "TimeStamp": now,
    }
    return json.dumps(record).encode()
