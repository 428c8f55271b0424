"""Hot reload: read the API definitions again, build a new snapshot off to the side, swap it in.

Reloads are serialised (one build at a time) and coalesced: requests for a reload that arrive while one
is building are all answered by the next build. A definition file that has become broken keeps its last
good version serving (its problem is logged); a new broken file is skipped; the others load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bascule.config.apis import ApiSettings
from bascule.config.gateway import GatewaySettings
from bascule.errors import ConfigProblem
from bascule.runtime.build import build_snapshot
from bascule.runtime.host_board import HostBoard
from bascule.runtime.snapshot import Snapshot, SnapshotHolder

log = logging.getLogger("bascule.reload")


@dataclass(frozen=True, slots=True)
class LoadedDefinitions:
    apis: tuple[ApiSettings, ...]
    problems: tuple[ConfigProblem, ...]


DefinitionSource = Callable[[GatewaySettings], LoadedDefinitions]


def keep_last_good(
    loaded: LoadedDefinitions, previous: Sequence[ApiSettings]
) -> tuple[list[ApiSettings], list[ConfigProblem]]:
    """The APIs to serve: the loaded ones, plus the previous version of any whose file is now broken."""
    apis = list(loaded.apis)
    loaded_ids = {api.api_id for api in apis}
    broken_files = {p.file for p in loaded.problems if p.file is not None}
    problems = list(loaded.problems)
    for api in previous:
        if api.source in broken_files and api.api_id not in loaded_ids:
            apis.append(api)
            problems.append(ConfigProblem(api.source, "$", f"keeping the last good version of API {api.api_id!r}"))
    return apis, problems


SnapshotPreparer = Callable[[Snapshot], Awaitable[Snapshot]]
"""Async work between building a snapshot and swapping it in (resolving certificate references, building
TLS policies); it returns the snapshot to serve."""


async def _as_built(snapshot: Snapshot) -> Snapshot:
    return snapshot


class Reloader:
    def __init__(
        self,
        holder: SnapshotHolder,
        source: DefinitionSource,
        board: HostBoard | None = None,
        prepare: SnapshotPreparer = _as_built,
    ) -> None:
        self._holder = holder
        self._source = source
        self._board = board
        self._prepare = prepare
        self._lock = asyncio.Lock()
        self._generation = holder.current.generation
        self._served: tuple[ApiSettings, ...] = tuple(holder.current.definitions.values())
        self._pending: asyncio.Future[Snapshot] | None = None

    async def reload(self) -> Snapshot:
        """Build and swap a new snapshot; concurrent callers share the next build."""
        if self._pending is not None and not self._pending.done():
            return await asyncio.shield(self._pending)
        pending: asyncio.Future[Snapshot] = asyncio.get_running_loop().create_future()
        self._pending = pending
        async with self._lock:
            try:
                built, served = await asyncio.to_thread(self._build)
                snapshot = await self._prepare(built)
            except BaseException as exc:
                # Cancelled or failed: whoever shares this build must not wait for ever.
                if not isinstance(exc, asyncio.CancelledError):
                    log.exception("reload failed; the running configuration keeps serving")
                pending.set_exception(exc if isinstance(exc, Exception) else RuntimeError("reload cancelled"))
                pending.exception()  # retrieved: callers that wait see it, nobody else is warned
                raise
            self._holder.swap(snapshot)
            self._served = served  # the baseline for "keep the last good" moves only with a swap
            pending.set_result(snapshot)
        log.info("reloaded: %d APIs serving (generation %d)", len(snapshot.apis), snapshot.generation)
        for problem in snapshot.problems:
            log.warning("%s", problem)
        return snapshot

    def _build(self) -> tuple[Snapshot, tuple[ApiSettings, ...]]:
        gateway = self._holder.current.gateway
        loaded = self._source(gateway)
        apis, problems = keep_last_good(loaded, self._served)
        self._generation += 1
        snapshot = build_snapshot(gateway, apis, problems, generation=self._generation, board=self._board)
        return snapshot, tuple(apis)
