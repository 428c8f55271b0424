"""Compiling settings into a `Snapshot`: every parse, regex and balancer is made here, once."""

from __future__ import annotations

from collections.abc import Sequence

from bascule.config.apis import ApiSettings
from bascule.config.gateway import GatewaySettings
from bascule.core.balancing import SmoothWeightedRoundRobin
from bascule.core.routes import RouteEntry, RouteTable, listen_path_pattern
from bascule.core.upstream_url import normalise_host, parse_target
from bascule.errors import ConfigProblem
from bascule.runtime.discovered_targets import DiscoveredTargets
from bascule.runtime.host_board import HostBoard
from bascule.runtime.snapshot import ApiRuntime, Snapshot, UpstreamPlan


def build_upstream_plan(api: ApiSettings, board: HostBoard | None = None) -> UpstreamPlan:
    """Parse the API's targets; raises ValueError naming the bad URL. `board` is given when the API skips
    unavailable hosts; a discovery cell is made (empty) when it discovers them."""
    static = parse_target(api.target_url)
    discovered = DiscoveredTargets(api.load_balancing) if api.checks.discovery is not None else None
    if not api.load_balancing:
        return UpstreamPlan(static=static, board=board, discovered=discovered)
    targets = tuple(parse_target(normalise_host(t.url, api.protocol)) for t in api.targets)
    weights = [t.weight for t in api.targets]
    balancer = SmoothWeightedRoundRobin(weights)
    return UpstreamPlan(static=static, targets=targets, balancer=balancer, board=board, discovered=discovered)


def build_api(api: ApiSettings, board: HostBoard | None = None) -> ApiRuntime:
    return ApiRuntime(
        settings=api,
        upstream=build_upstream_plan(api, board),
        strip_pattern=listen_path_pattern(api.listen_path),
    )


def build_snapshot(
    gateway: GatewaySettings,
    apis: Sequence[ApiSettings],
    problems: Sequence[ConfigProblem] = (),
    generation: int = 0,
    board: HostBoard | None = None,
) -> Snapshot:
    """Build everything the request path needs. An API that cannot be built is disabled with its reason;
    the others load. `board` is the gateway's host board (None: no API skips hosts, as with uptime tests
    disabled gateway-wide)."""
    if not gateway.uptime.enabled:
        board = None
    runtimes: dict[str, ApiRuntime] = {}
    disabled: dict[str, str] = {}
    found = list(problems)
    for api in apis:
        if not api.active:
            continue
        try:
            skips = board if api.checks.skip_unavailable_hosts else None
            runtimes[api.api_id] = build_api(api, skips)
        except ValueError as exc:
            disabled[api.api_id] = str(exc)
            found.append(ConfigProblem(api.source, "$", f"API {api.api_id!r} disabled: {exc}"))
    entries = [
        RouteEntry(api_id=r.settings.api_id, listen_path=r.settings.listen_path, domain=r.settings.domain, target=r)
        for r in runtimes.values()
    ]
    routes = RouteTable(entries, strict=gateway.http_server.enable_strict_routes)
    return Snapshot(
        gateway=gateway,
        apis=runtimes,
        routes=routes,
        problems=tuple(found),
        generation=generation,
        disabled=disabled,
        definitions={api.api_id: api for api in apis},
    )
