"""`KeyValueStore` on Redis (`storage.type: redis`), with redis-py's asyncio client (pinned to 5.3).

Connection (DECISIONS §11; tests in `tests/integration/test_redis_storage.py`):

* One server: `storage.addrs[0]` when `addrs` is given (`host:port`, `[v6]:port`, or a host alone on
  `storage.port`), else `storage.host` / `storage.port`. Redis Cluster and Sentinel (`enable_cluster`,
  `master_name`, the other `addrs`) are not supported yet: a warning names the address used.
* `username` / `password` (AUTH, redis-py's), `database` (SELECT), `timeout` (`storage.timeout`, default
  5 s) for connect, each read and write, a free pool slot, and each whole call. At most `max_connections`
  connections (Tyk's `optimisation_max_active` default, 500).
* The byte stream of every connection comes from the injected `StreamOpener` (`redis_connection`); the app
  passes `bascule.outbound.redis_stream.redis_stream_opener(...)`, which applies the storage profile's proxy
  (CONNECT tunnel) and TLS (`storage.use_ssl`, with `external_services.storage.mtls` or the legacy fields).
  There is no other path to Redis, so no Redis client of the gateway can miss the TLS settings
  (reliability §1.1 #3).
* Each method is the one Redis command named in `storage.kv`; `WRONGTYPE` becomes `WrongKeyKind`.

Failure (reliability §2.4 D1, D2):

* A call that cannot reach Redis (refused, reset, TLS refused, proxy refused, no answer within `timeout`)
  raises `StorageUnavailable` with the cause, never hangs: the whole call is bounded by `timeout`.
  Other Redis errors raise `StorageError`. Nothing here retries a command.
* Reconnecting is automatic and lazy: redis-py's pool drops a broken connection and the next call dials
  again, so no restart is needed when Redis is back. Between failed attempts the store backs off
  (`OutageTracker`: 0.05 s doubling to 2 s): calls during the wait fail at once, without dialling, so a
  dead or black-holed Redis costs no connection storm and no pile of waiting calls.
* Log lines while Redis is unreachable: the first failure, then at most one every 5 s with the number of
  failed attempts since the last line; one line when Redis answers again. They name `host:port` and the
  cause, never the password (redis-py's messages do not carry it, and it is not in any repr).
* Nothing on the proxy path touches storage, so keyless API traffic does not notice a Redis outage.

Health (`health`, for `/hello`): `PING` within min(1 s, `timeout`); `pass`, or `fail` with the cause. While
backing off it answers `fail` without dialling. How `/hello` rates it is `bascule.control.admin_health`'s.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bascule.config.gateway import StorageSettings
from bascule.storage.kv import WrongKeyKind
from bascule.storage.redis_connection import OpenedStreamConnection, StreamOpener

log = logging.getLogger("bascule.storage")

DEFAULT_MAX_CONNECTIONS = 500
"""Tyk's `storage.optimisation_max_active` default."""
HEALTH_TIMEOUT = 1.0
FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 2.0
LOG_INTERVAL = 5.0
SCAN_COUNT = 1000
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")
TLS_HINTS: Mapping[str, str] = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused the client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the client certificate's issuer",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the server refused the client certificate",
}
"""OpenSSL alert reasons seen on a Redis connection -> what they mean for the operator."""


_REFRESH_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _expiry(ttl: float | None) -> tuple[str | int, ...]:
    return () if ttl is None else ("PX", max(1, round(ttl * 1000)))


class StorageError(Exception):
    """A storage call that failed; the message names the server and the cause, never a password."""


class StorageUnavailable(StorageError):
    """Redis could not be reached, or did not answer in time."""


@dataclass(frozen=True, slots=True)
class StorageHealth:
    """What `/hello` reports about storage: `kind` is `memory` or `redis`."""

    kind: str
    status: Literal["pass", "fail"]
    reason: str = ""
    """Why it failed (for logs; it names the server, so `/hello` does not show it)."""


MEMORY_HEALTH = StorageHealth("memory", "pass")
"""The in-memory store is always there."""


def redis_address(settings: StorageSettings) -> tuple[str, int]:
    """The server to use (see the module rules); ValueError for an `addrs` entry that does not parse."""
    if not settings.addrs:
        return settings.host, settings.port
    entry = settings.addrs[0].strip()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:
        host, port_text = entry, ""
    if not host or (port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536)):
        raise ValueError(f"storage.addrs: {entry!r} is not host:port")
    return host, int(port_text) if port_text else settings.port


def show_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe_failure(exc: BaseException, timeout: float) -> str:
    """The cause of a failed call, for a log line: a TLS alert explained, a timeout with its budget."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"TLS: certificate verify failed: {seen.verify_message or seen.reason}"
        if isinstance(seen, ssl.SSLError) and seen.reason:
            hint = TLS_HINTS.get(seen.reason)
            return f"TLS: {seen.reason}" + (f" ({hint})" if hint else "")
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, TimeoutError | RedisTimeoutError):
        return f"no answer within {timeout:g}s"
    inner = exc.__cause__ or exc
    return str(exc) or str(inner) or type(inner).__name__


@dataclass(slots=True)
class OutageTracker:
    """Backoff between attempts and throttled log lines while Redis is unreachable; pure, `now` passed in.

    * `may_try(now)`: False while waiting after a failure.
    * `failed(now, reason)`: an attempt failed. The first failure after a wait has passed sets the next
      wait: `first_delay`, doubled each time, at most `max_delay` (failures of calls that ran together
      count once). Returns the text to log, or None: the first failure of an outage, then at most one
      per `log_interval`, counting the failed attempts since the previous line.
    * `succeeded(now)`: returns the recovery text after an outage (None otherwise) and forgets it.
    """

    first_delay: float = FIRST_RETRY_DELAY
    max_delay: float = MAX_RETRY_DELAY
    log_interval: float = LOG_INTERVAL
    down_since: float | None = None
    retry_at: float = 0.0
    delay: float = 0.0
    reason: str = ""
    logged_at: float | None = None
    unlogged: int = 0

    def may_try(self, now: float) -> bool:
        return now >= self.retry_at

    def failed(self, now: float, reason: str) -> str | None:
        if self.down_since is None:
            self.down_since = now
        self.reason = reason
        if now >= self.retry_at:
            self.delay = min(self.delay * 2, self.max_delay) if self.delay else self.first_delay
            self.retry_at = now + self.delay
        self.unlogged += 1
        if self.logged_at is not None and now - self.logged_at < self.log_interval:
            return None
        attempts, self.unlogged, self.logged_at = self.unlogged, 0, now
        return f"{reason} ({attempts} failed attempt{'s' if attempts > 1 else ''}; next in {self.delay:g}s)"

    def succeeded(self, now: float) -> str | None:
        if self.down_since is None:
            return None
        text = f"reachable again after {now - self.down_since:.1f}s"
        self.down_since, self.logged_at, self.retry_at, self.delay, self.unlogged = None, None, 0.0, 0.0, 0
        return text


class RedisKeyValueStore:
    """`KeyValueStore` on one Redis server (see the module rules). `close` when done."""

    kind = "redis"

    def __init__(
        self,
        settings: StorageSettings,
        open_stream: StreamOpener,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        host, port = redis_address(settings)
        self.address = show_address(host, port)
        if len(settings.addrs) > 1:
            log.warning(
                "storage: %d addrs given; bascule uses the first, %s (Redis Cluster and Sentinel are not "
                "supported yet)",
                len(settings.addrs),
                self.address,
            )
        self._timeout = settings.timeout
        self._clock = clock
        self._outage = OutageTracker()
        pool = BlockingConnectionPool(
            max_connections=max_connections,
            timeout=settings.timeout,  # type: ignore[arg-type]  # typed int, used as a float (asyncio.timeout)
            connection_class=OpenedStreamConnection,
            open_stream=open_stream,
            host=host,
            port=port,
            username=settings.username or None,
            password=settings.password or None,
            db=settings.database,
            socket_timeout=settings.timeout,
            socket_connect_timeout=settings.timeout,
            lib_name=None,  # no CLIENT SETINFO on each connect (Redis < 7.2 refuses it anyway)
            lib_version=None,
        )
        self._client = Redis.from_pool(pool)
        self._send: Callable[..., Awaitable[Any]] = self._client.execute_command  # redis-py leaves it untyped

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._client.aclose()

    async def get(self, key: str) -> bytes | None:
        value = await self._execute("value", key, "GET", key)
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._execute("value", key, "SET", key, bytes(value), *_expiry(ttl))

    async def add(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        return bool(await self._execute("value", key, "SET", key, bytes(value), "NX", *_expiry(ttl)))

    async def refresh(self, key: str, value: bytes, ttl: float) -> bool:
        milliseconds = max(1, round(ttl * 1000))
        return bool(await self._execute("value", key, "EVAL", _REFRESH_SCRIPT, 1, key, bytes(value), milliseconds))

    async def release(self, key: str, value: bytes) -> bool:
        return bool(await self._execute("value", key, "EVAL", _RELEASE_SCRIPT, 1, key, bytes(value)))

    async def delete(self, key: str) -> bool:
        return int(await self._execute("value", key, "DEL", key)) > 0

    async def keys(self, prefix: str) -> list[str]:
        pattern = _GLOB_SPECIALS.sub(r"\\\1", prefix) + "*"
        found: set[str] = set()  # SCAN may return a key twice
        cursor = 0
        while True:
            cursor, batch = await self._execute("value", prefix, "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
            found.update(key.decode("utf-8") for key in batch)
            if int(cursor) == 0:
                return sorted(found)

    async def list_append(self, key: str, item: bytes) -> None:
        await self._execute("list", key, "RPUSH", key, bytes(item))

    async def list_remove(self, key: str, item: bytes) -> int:
        return int(await self._execute("list", key, "LREM", key, 0, bytes(item)))

    async def list_items(self, key: str) -> list[bytes]:
        return [bytes(item) for item in await self._execute("list", key, "LRANGE", key, 0, -1)]

    async def health(self) -> StorageHealth:
        """`pass` when Redis answers PING within min(HEALTH_TIMEOUT, timeout), else `fail` with the cause."""
        try:
            await self._execute("value", "", "PING", timeout=min(HEALTH_TIMEOUT, self._timeout))
        except StorageError as exc:
            return StorageHealth(self.kind, "fail", str(exc))
        return StorageHealth(self.kind, "pass")

    async def _execute(self, kind: str, key: str, *command: str | bytes | int, timeout: float | None = None) -> Any:
        """Run one command within the deadline; errors translated (see the module rules)."""
        budget = timeout if timeout is not None else self._timeout
        outage = self._outage
        if not outage.may_try(self._clock()):
            wait = outage.retry_at - self._clock()
            raise StorageUnavailable(
                f"redis at {self.address} is unavailable ({outage.reason}); next attempt in {wait:.2f}s"
            )
        try:
            async with asyncio.timeout(budget):
                result = await self._send(*command)
        except ResponseError as exc:
            if str(exc).startswith("WRONGTYPE"):
                raise WrongKeyKind(key, kind) from None
            raise StorageError(f"redis at {self.address}: {exc}") from exc
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:  # OSError: TimeoutError included
            reason = describe_failure(exc, budget)
            line = outage.failed(self._clock(), reason)
            if line is not None:
                log.warning("storage: redis at %s unavailable: %s", self.address, line)
            raise StorageUnavailable(f"redis at {self.address}: {reason}") from exc
        except RedisError as exc:
            raise StorageError(f"redis at {self.address}: {exc}") from exc
        recovered = outage.succeeded(self._clock()) if outage.down_since is not None else None
        if recovered is not None:
            log.info("storage: redis at %s %s", self.address, recovered)
        return result
