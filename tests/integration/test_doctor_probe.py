"""`python -m bascule doctor --probe SERVICE URL` as a process, against real peers: squid (plain and with basic
auth, `proxy_peers`), HTTP and trustme HTTPS targets on 127.0.0.1 (loopback is proxied unless bypassed,
DECISIONS §8). Each case is one of the seed's FAQ troubleshooting cases, found in one command."""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from proxy_peers import SquidPeer, TargetServer, free_port, start_all, stop_all

PASSWORD = "doctor-pw-7c2e41"
TIMED = re.compile(r"\d+\.\dms")


@dataclass
class Pki:
    ca: trustme.CA
    ca_file: Path
    stranger: trustme.CA

    def server_context(self, ca: trustme.CA) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", common_name="127.0.0.1").configure_cert(context)
        return context


@dataclass
class Squids:
    plain: SquidPeer
    auth: SquidPeer


@dataclass
class Doctor:
    exit_code: int
    out: str
    err: str

    def phase(self, name: str) -> str:
        """The `phase <name> ...` line."""
        found = [line for line in self.out.splitlines() if re.match(rf"phase {re.escape(name)} +(ok|fail|skip) ", line)]
        assert len(found) == 1, self.out
        return found[0]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("doctor-pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, ca_file, trustme.CA())


@pytest.fixture(scope="module")
def squids() -> Iterator[Squids]:
    peers = Squids(SquidPeer("squid-doctor"), SquidPeer("squid-doctor-auth", users={"alice": PASSWORD}))
    try:
        start_all(peers.plain, peers.auth)
        yield peers
    finally:
        stop_all(peers.plain, peers.auth)


@pytest.fixture
async def http_target() -> AsyncIterator[TargetServer]:
    server = await TargetServer().start()
    yield server
    await server.stop()


@pytest.fixture
async def https_target(pki: Pki) -> AsyncIterator[TargetServer]:
    server = await TargetServer(tls=pki.server_context(pki.ca)).start()
    yield server
    await server.stop()


@pytest.fixture
async def stranger_target(pki: Pki) -> AsyncIterator[TargetServer]:
    """HTTPS with a certificate from a CA that no profile trusts."""
    server = await TargetServer(tls=pki.server_context(pki.stranger)).start()
    yield server
    await server.stop()


async def doctor(tmp_path: Path, document: dict[str, Any], *args: str) -> Doctor:
    conf = tmp_path / "tyk.conf"
    conf.write_text(json.dumps(document), encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("TYK_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bascule",
        "doctor",
        "--conf",
        str(conf),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
        cwd=tmp_path,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return Doctor(process.returncode, out.decode(), err.decode())


def webhooks_proxy(http_proxy: str, **mtls: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"proxy": {"enabled": True, "http_proxy": http_proxy}}
    if mtls:
        block["mtls"] = {"enabled": True, **mtls}
    return {"external_services": {"webhooks": block}}


async def test_probe_through_squid_reports_each_phase(
    tmp_path: Path, squids: Squids, http_target: TargetServer
) -> None:
    proxy = f"http://127.0.0.1:{squids.plain.port}"
    result = await doctor(tmp_path, webhooks_proxy(proxy), "--probe", "webhooks", http_target.url("/doctor"))
    assert result.exit_code == 0, result.out + result.err
    assert f"webhooks  http_proxy           service     {proxy}" in result.out
    assert f"route: via {proxy} (http_proxy, from service)" in result.out
    for name in ("dns", "proxy connect", "http"):
        assert TIMED.search(result.phase(name)) and " ok " in result.phase(name)
    assert "proxy 127.0.0.1 -> 127.0.0.1; the proxy resolves 127.0.0.1" in result.phase("dns")
    assert f"absolute-form request through {proxy}; answered 200" in result.phase("proxy request")
    assert "skip" in result.phase("tls") and result.phase("pin").endswith("not configured")
    assert re.search(r"HTTP/1.1 200 OK; first byte after \d+\.\dms$", result.phase("http"))
    assert result.out.splitlines()[-1] == "result: ok"
    assert await squids.plain.wait_for_log(f"GET http://127.0.0.1:{http_target.port}/doctor ")


async def test_probe_https_through_squid_tunnel_reports_the_tls_session_as_json(
    tmp_path: Path, squids: Squids, https_target: TargetServer, pki: Pki
) -> None:
    document = webhooks_proxy(f"http://127.0.0.1:{squids.plain.port}", ca_file=str(pki.ca_file))
    result = await doctor(tmp_path, document, "--probe", "webhooks", https_target.url("/"), "--json")
    assert result.exit_code == 0, result.out + result.err
    probe = json.loads(result.out)["probe"]
    phases = {phase["phase"]: phase for phase in probe["phases"]}
    assert [p["phase"] for p in probe["phases"]] == [
        "setup",
        "dns",
        "proxy connect",
        "proxy CONNECT",
        "tls",
        "pin",
        "http",
    ]
    assert (probe["ok"], phases["pin"]["status"]) == (True, "skip")
    assert phases["proxy CONNECT"]["detail"] == f"tunnel to 127.0.0.1:{https_target.port} established (2xx)"
    tls = phases["tls"]
    assert tls["status"] == "ok" and tls["seconds"] > 0
    assert tls["detail"].startswith("TLSv1.3 TLS_")
    assert re.search(r"; subject CN=127\.0\.0\.1,[^;]*; issuer [^;]*O=trustme", tls["detail"])
    assert f"verified against ca={pki.ca_file} for 127.0.0.1; client_cert=none" in tls["detail"]
    assert phases["http"]["detail"].startswith("HTTP/1.1 200 OK")
    assert await squids.plain.wait_for_log(f"CONNECT 127.0.0.1:{https_target.port} ")


async def test_probe_with_the_proxy_down_fails_in_proxy_connect(tmp_path: Path, http_target: TargetServer) -> None:
    port = free_port()  # nothing listens there
    proxy = f"http://alice:{PASSWORD}@127.0.0.1:{port}"
    result = await doctor(tmp_path, webhooks_proxy(proxy), "--probe", "webhooks", http_target.url("/"))
    assert result.exit_code == 1
    line = result.phase("proxy connect")
    assert " fail " in line and TIMED.search(line)
    assert line.endswith(f"http://alice:***@127.0.0.1:{port}: connection refused")
    assert result.phase("http").endswith("not reached")
    assert result.out.splitlines()[-1].startswith("result: fail in phase proxy connect: ")
    assert PASSWORD not in result.out + result.err
    assert http_target.requests == []


@pytest.mark.parametrize("through_squid", [False, True])
async def test_probe_to_a_target_with_an_unknown_ca_fails_in_tls(
    tmp_path: Path, squids: Squids, stranger_target: TargetServer, pki: Pki, through_squid: bool
) -> None:
    mtls = {"enabled": True, "ca_file": str(pki.ca_file)}
    block: dict[str, Any] = {"mtls": mtls}
    if through_squid:
        block["proxy"] = {"enabled": True, "https_proxy": f"http://127.0.0.1:{squids.plain.port}"}
    document = {"external_services": {"health": block}}
    result = await doctor(tmp_path, document, "--probe", "health", stranger_target.url("/"))
    assert result.exit_code == 1
    line = result.phase("tls")
    assert " fail " in line and "certificate verify failed" in line and TIMED.search(line)
    assert " ok " in result.phase("proxy CONNECT" if through_squid else "connect")
    assert result.phase("http").endswith("not reached")
    assert result.out.splitlines()[-1].startswith("result: fail in phase tls: certificate verify failed")
    assert result.err == ""  # no "Future exception was never retrieved" from the failed handshake
    assert stranger_target.requests == []


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_probe_with_refused_proxy_credentials_reports_407(
    tmp_path: Path, squids: Squids, http_target: TargetServer, https_target: TargetServer, pki: Pki, scheme: str
) -> None:
    proxy = f"http://alice:wrong-{PASSWORD}@127.0.0.1:{squids.auth.port}"
    target = http_target if scheme == "http" else https_target
    document = webhooks_proxy(proxy, ca_file=str(pki.ca_file))
    result = await doctor(tmp_path, document, "--probe", "webhooks", target.url("/"))
    assert result.exit_code == 1
    shown = f"http://alice:***@127.0.0.1:{squids.auth.port}: proxy authentication required"
    failed = "proxy request" if scheme == "http" else "proxy CONNECT"
    assert " fail " in result.phase(failed) and shown in result.phase(failed)
    assert result.out.splitlines()[-1].startswith(f"result: fail in phase {failed}: {shown}")
    assert PASSWORD not in result.out + result.err
    assert target.requests == []


async def test_probe_of_a_name_that_does_not_resolve_fails_in_dns(tmp_path: Path) -> None:
    result = await doctor(tmp_path, {}, "--probe", "oauth", "http://no-such-host.invalid/jwks")
    assert result.exit_code == 1
    assert " fail " in result.phase("dns") and "lookup no-such-host.invalid: " in result.phase("dns")
    assert "route: direct: no proxy configured for http:// targets" in result.out
    assert result.phase("connect").endswith("not reached")
