"""The composition root: builds the first snapshot, the outbound pool, the listeners and the control
tasks, and runs them until SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bascule.compat.tyk.load_apis import load_api_definitions
from bascule.config.gateway import GatewaySettings
from bascule.config.outbound import ServiceType
from bascule.config.tls import ListenerTls
from bascule.control.admin_api import ControlApi, control_api_enabled
from bascule.control.discovery_poller import DiscoveryPoller
from bascule.control.event_handlers import EventHandlers
from bascule.control.health_checker import HealthChecker
from bascule.control.reloader import LoadedDefinitions, Reloader
from bascule.inbound.http1 import Http1ServerProtocol
from bascule.inbound.registry import ConnectionRegistry
from bascule.inbound.tls_listener import listener_context, refresh_listener
from bascule.messages import InboundRequest, RequestHandler, ResponseWriter, run_as_task
from bascule.middleware.authenticate import Authenticator
from bascule.middleware.introspection import TokenIntrospector
from bascule.middleware.jwks_cache import JwksCache
from bascule.observability.analytics import AnalyticsRecorder
from bascule.outbound.pool import ConnectionPool
from bascule.outbound.proxy_connect import ProxyConnector
from bascule.outbound.redis_stream import redis_stream_opener
from bascule.outbound.service_client import ServiceClient
from bascule.outbound.tls import verified_client_context
from bascule.proxy.http import HttpProxy
from bascule.runtime.build import build_snapshot
from bascule.runtime.events import EventBus
from bascule.runtime.host_board import HostBoard
from bascule.runtime.snapshot import Snapshot, SnapshotHolder
from bascule.service_clients import build_service_clients
from bascule.snapshot_tls import SnapshotTls
from bascule.storage.certificate_sealing import encoding_secret
from bascule.storage.certificates import CertificateStore
from bascule.storage.memory import MemoryKeyValueStore
from bascule.storage.redis import MEMORY_HEALTH, RedisKeyValueStore, StorageHealth

log = logging.getLogger("bascule")


def read_definitions(gateway: GatewaySettings) -> LoadedDefinitions:
    loaded = load_api_definitions(gateway.app_path, gateway)
    return LoadedDefinitions(apis=tuple(loaded.apis), problems=tuple(loaded.problems))


def build_storage(settings: GatewaySettings) -> MemoryKeyValueStore | RedisKeyValueStore:
    """`storage.type: redis`: Redis through the storage profile's proxy and TLS (DECISIONS §11); else in memory.

    No store material is given to the storage TLS: a `cert_id` for storage would have to be read from the
    store that lives in that very Redis, so it is refused (fail closed, `redis_stream_opener` logs why)."""
    storage = settings.storage
    if storage.kind != "redis":
        return MemoryKeyValueStore()
    profile = settings.external_services[ServiceType.STORAGE]
    return RedisKeyValueStore(storage, redis_stream_opener(profile, storage.use_ssl, material=None))


def control_first(control: RequestHandler, proxy: RequestHandler, health_path: str) -> RequestHandler:
    """One listener for both: `/tyk/...` and the health endpoint go to the control API, the rest to APIs.
    `/tyk-foo/` is an API path (§5 case 52): only the `/tyk/` segment is the control API's."""
    health = "/" + health_path.strip("/")

    def dispatch(request: InboundRequest, writer: ResponseWriter) -> None:
        path = request.path
        if path.startswith("/tyk/") or path in ("/tyk", health):
            control(request, writer)
        else:
            proxy(request, writer)

    return dispatch


@dataclass
class Gateway:
    """A running gateway; `start` opens the listeners, `stop` drains them."""

    settings: GatewaySettings
    holder: SnapshotHolder = field(init=False)
    reloader: Reloader = field(init=False)
    ports: Mapping[str, int] = field(default_factory=dict)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _registry: ConnectionRegistry = field(default_factory=ConnectionRegistry)
    _pool: ConnectionPool | None = None
    certificates: CertificateStore = field(init=False)
    analytics: AnalyticsRecorder | None = None
    service_clients: dict[ServiceType, ServiceClient] = field(default_factory=dict)
    storage: MemoryKeyValueStore | RedisKeyValueStore = field(init=False)
    node_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    board: HostBoard = field(init=False)
    """Which upstream hosts are down (the health checker's, or copied from the checking node)."""
    events: EventBus = field(default_factory=EventBus)
    health_checker: HealthChecker | None = None
    discovery: DiscoveryPoller | None = None
    _event_handlers: EventHandlers | None = None
    authenticator: Authenticator | None = None
    _jwks: JwksCache | None = None
    _introspector: TokenIntrospector | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.board = HostBoard(self.node_id)

    async def start(self) -> None:
        settings = self.settings
        loaded = await asyncio.to_thread(read_definitions, settings)
        snapshot = build_snapshot(settings, loaded.apis, loaded.problems, generation=1, board=self.board)
        for problem in snapshot.problems:
            log.warning("%s", problem)
        self._pool = ConnectionPool(ProxyConnector(verified_client_context(), None))
        self.storage = build_storage(settings)
        if settings.enable_analytics:
            self.analytics = AnalyticsRecorder(self._append_records)
            self.analytics.start()
        if isinstance(self.storage, RedisKeyValueStore) and (await self.storage.health()).status == "pass":
            log.info("storage: redis at %s", self.storage.address)  # when not, the store has logged why
        self.certificates = CertificateStore(self.storage, encoding_secret(settings))
        tls = SnapshotTls(self.certificates)  # upstream TLS, proxies and client-certificate lists, before each swap
        self.holder = SnapshotHolder(await tls.prepare(snapshot))
        self.reloader = Reloader(self.holder, read_definitions, self.board, tls.prepare)
        # One client per service type, built once from its resolved profile; the callers (JWKS, webhooks,
        # uptime checks, discovery) take theirs from here.
        self.service_clients = await build_service_clients(settings.external_services, self.certificates)
        self._start_upstream_checks()
        oauth = self.service_clients[ServiceType.OAUTH]
        self._jwks = JwksCache(oauth, settings.jwks_cache_timeout)
        self._introspector = TokenIntrospector(oauth)
        self.authenticator = Authenticator(self._jwks, self._introspector, self.events)
        proxy = HttpProxy(self.holder, self._pool, self.analytics, self.authenticator)
        control = run_as_task(
            ControlApi(
                self.holder,
                self.reloader,
                certificates=self.certificates,
                storage_health=self.storage_health,
                host_board=self.board,
            )
        )
        if not control_api_enabled(settings):
            log.warning("the control API is disabled: tyk.conf sets no secret (DECISIONS §20)")
        limits = settings.http_server
        loop = asyncio.get_running_loop()
        host = settings.listen_address or None
        separate_control = settings.control_api_port and settings.control_api_port != settings.listen_port
        main_handler = proxy if separate_control else control_first(control, proxy, settings.health_check_endpoint_name)
        ports: dict[str, int] = {}

        # TLS listeners (issue 5 point 1): None for plain HTTP; ConfigError when use_ssl has nothing to serve.
        server_tls = await listener_context(settings.listener_tls, loaded.apis, self.certificates)
        scheme = b"http" if server_tls is None else b"https"
        if server_tls is not None and settings.listener_tls is not None:
            self._follow_api_certificates(server_tls, settings.listener_tls)

        def serve(handler: RequestHandler) -> Http1ServerProtocol:
            return Http1ServerProtocol(handler, limits, self._registry, scheme)

        main = await loop.create_server(
            lambda: serve(main_handler), host, settings.listen_port, backlog=1024, ssl=server_tls
        )
        self._servers.append(main)
        ports["main"] = main.sockets[0].getsockname()[1]
        if separate_control:
            control_host = settings.control_api_hostname or host
            ctl = await loop.create_server(
                lambda: serve(control), control_host, settings.control_api_port, backlog=128, ssl=server_tls
            )
            self._servers.append(ctl)
            ports["control"] = ctl.sockets[0].getsockname()[1]
        self.ports = ports
        log.info(
            "bascule listening on %s:%d with %d APIs",
            settings.listen_address or "0.0.0.0",  # noqa: S104 - reporting, not binding
            ports["main"],
            len(snapshot.apis),
        )

    def _follow_api_certificates(self, listener: ssl.SSLContext, tls: ListenerTls) -> None:
        """After each swap, serve the certificates of the APIs now loaded (by SNI)."""
        refreshes: set[asyncio.Task[None]] = self._background

        def on_swap(snapshot: Snapshot) -> None:
            apis = tuple(snapshot.definitions.values())
            task = asyncio.get_running_loop().create_task(refresh_listener(listener, tls, apis, self.certificates))
            refreshes.add(task)
            task.add_done_callback(refreshes.discard)

        self.holder.subscribe(on_swap)

    def _start_upstream_checks(self) -> None:
        """Event handlers, discovery watches and the health checker: background work that keeps the
        upstream lists current and tells the world (issue 4)."""
        clients = self.service_clients
        self._event_handlers = EventHandlers(self.holder, clients[ServiceType.WEBHOOKS], self.storage)
        self.events.subscribe(self._event_handlers)
        self.holder.subscribe(self._event_handlers.review)
        self._event_handlers.review(self.holder.current)
        self.discovery = DiscoveryPoller(clients[ServiceType.DISCOVERY], self.settings.discovery_cache_timeout)
        self.holder.subscribe(self.discovery.reconcile)
        self.discovery.reconcile(self.holder.current)
        if self.settings.uptime.enabled:
            self.health_checker = HealthChecker(
                self.holder,
                clients[ServiceType.HEALTH],
                self.storage,
                self.settings.uptime,
                self.board,
                self.events,
                self.node_id,
                discovered=self.discovery.checks_for,
            )
            self.health_checker.start()

    async def _append_records(self, key: str, records: Sequence[bytes]) -> None:
        for record in records:
            await self.storage.list_append(key, record)

    async def stop(self, grace: float) -> None:
        """Stop accepting, let requests in flight finish for up to `grace` seconds, then close."""
        for server in self._servers:
            server.close()
        drained = await self._registry.drain(grace)
        if not drained:
            log.warning("graceful shutdown: connections still open after %.0fs were closed", grace)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.health_checker is not None:
            await self.health_checker.stop()
        if self.discovery is not None:
            await self.discovery.stop()
        if self._event_handlers is not None:
            await self._event_handlers.stop()
        if self._jwks is not None:
            await self._jwks.aclose()
        if self._introspector is not None:
            await self._introspector.aclose()
        if self._pool is not None:
            await self._pool.close()
        if self.analytics is not None:
            await self.analytics.stop()
        for client in self.service_clients.values():
            await client.close()
        if isinstance(self.storage, RedisKeyValueStore):
            await self.storage.close()

    async def storage_health(self) -> StorageHealth:
        """For `/hello`: Redis answers PING, or the in-memory store (always there)."""
        if isinstance(self.storage, RedisKeyValueStore):
            return await self.storage.health()
        return MEMORY_HEALTH


async def serve_forever(settings: GatewaySettings) -> None:
    gateway = Gateway(settings)
    await gateway.start()
    # What start-up built (modules, models, the first snapshot) lives for the whole run: keep it out of
    # the cyclic collector's scans, which the request path would otherwise pay for.
    gc.freeze()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    reloads: set[asyncio.Task[object]] = set()

    def on_reload_signal() -> None:
        task = loop.create_task(gateway.reloader.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_reload_signal)
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    await stopping.wait()
    log.info("shutting down: draining connections for up to %.0fs", settings.graceful_shutdown_timeout)
    await gateway.stop(settings.graceful_shutdown_timeout)
    log.info("stopped")
