"""The gateway as a process: CLI exit codes, SIGHUP and control-API reloads under load, SIGTERM drain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import classic_api
from gateway_process import GatewayProcess, free_port, write_config
from http_client import RawClient, fetch
from upstream_peer import UpstreamPeer


@pytest.fixture
async def running(tmp_path: Path, upstream: UpstreamPeer) -> AsyncIterator[GatewayProcess]:
    conf = write_config(tmp_path, [classic_api("a", "/a/", upstream.url)], graceful_shutdown_timeout_duration=5)
    gateway = await GatewayProcess.start(conf)
    yield gateway
    await gateway.stop()


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bascule", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    conf = write_config(tmp_path, [classic_api("a", "/a/", "http://127.0.0.1:9")])
    result = run_cli("check", "--conf", str(conf))
    assert result.returncode == 0, result.stderr
    assert "1 API definitions are valid" in result.stdout


def test_check_reports_file_and_json_path_and_exits_2(tmp_path: Path) -> None:
    conf = write_config(tmp_path, [classic_api("a", "/a/", "not a url")], http_server_options={"read_timeout": "x"})
    result = run_cli("check", "--conf", str(conf))
    assert result.returncode == 2
    assert f"{conf}: $.http_server_options.read_timeout" in result.stderr


def test_check_reports_broken_definition_with_path(tmp_path: Path) -> None:
    conf = write_config(tmp_path, [classic_api("a", "/a/", "ftp://nowhere")])
    result = run_cli("check", "--conf", str(conf))
    assert result.returncode == 2
    assert "a.json" in result.stderr and "$.proxy.target_url" in result.stderr


def test_bad_config_stops_startup_with_exit_2(tmp_path: Path) -> None:
    conf = write_config(tmp_path, [], listen_port="eighty")
    result = run_cli("--conf", str(conf))
    assert result.returncode == 2
    assert "$.listen_port" in result.stderr


def test_tls_listeners_without_a_certificate_stop_startup_with_exit_2(tmp_path: Path) -> None:
    conf = write_config(tmp_path, [], http_server_options={"use_ssl": True})
    result = run_cli("--conf", str(conf))
    assert result.returncode == 2
    assert f"{conf}: $.http_server_options: use_ssl is set but no server certificate can be served" in result.stderr


def test_env_override_wins_over_file_in_both_spellings(tmp_path: Path) -> None:
    conf = write_config(tmp_path, [])
    bad = run_cli("check", "--conf", str(conf), env={"TYK_GW_HTTPSERVEROPTIONS_READTIMEOUT": "soon"})
    assert bad.returncode == 2 and "TYK_GW_HTTPSERVEROPTIONS_READTIMEOUT" in bad.stderr
    documented = run_cli("check", "--conf", str(conf), env={"TYK_GW_HTTP_SERVER_OPTIONS_READ_TIMEOUT": "soon"})
    assert documented.returncode == 2 and "TYK_GW_HTTP_SERVER_OPTIONS_READ_TIMEOUT" in documented.stderr


async def test_env_override_changes_the_listen_port(tmp_path: Path, upstream: UpstreamPeer) -> None:
    conf = write_config(tmp_path, [classic_api("a", "/a/", upstream.url)])
    port = free_port()
    gateway = await GatewayProcess.start(conf, env={"TYK_GW_LISTENPORT": str(port)}, port=port)
    try:
        assert (await fetch(port, "GET", "/a/x")).status == 200
    finally:
        await gateway.stop()


async def test_sigterm_drains_requests_in_flight_and_exits_0(running: GatewayProcess) -> None:
    slow = asyncio.ensure_future(fetch(running.port, "GET", "/a/slow/700"))
    await asyncio.sleep(0.3)
    running.signal(signal.SIGTERM)
    response = await slow
    assert response.status == 200
    assert await running.wait() == 0
    with pytest.raises(OSError):
        await fetch(running.port, "GET", "/a/x")


async def test_sighup_reloads_definitions(tmp_path: Path, running: GatewayProcess, upstream: UpstreamPeer) -> None:
    assert (await fetch(running.port, "GET", "/b/x")).status == 404
    (tmp_path / "apps" / "b.json").write_text(json.dumps(classic_api("b", "/b/", upstream.url)))
    running.signal(signal.SIGHUP)
    for _ in range(100):
        if (await fetch(running.port, "GET", "/b/x")).status == 200:
            break
        await asyncio.sleep(0.05)
    assert (await fetch(running.port, "GET", "/b/x")).status == 200


async def test_reload_25_times_under_steady_traffic_loses_nothing(
    tmp_path: Path, running: GatewayProcess, upstream: UpstreamPeer
) -> None:
    failures: list[str] = []
    done = 0
    stop = asyncio.Event()

    async def steady_client() -> None:
        nonlocal done
        client = await RawClient.connect(running.port)
        try:
            while not stop.is_set():
                response = await client.request("GET", "/a/echo")
                if response.status != 200:
                    failures.append(f"{response.status} {response.body[:100]!r}")
                done += 1
        finally:
            await client.close()

    clients = [asyncio.ensure_future(steady_client()) for _ in range(4)]
    apps = tmp_path / "apps"
    started = time.monotonic()
    for i in range(25):
        # Every reload really changes something: a definition comes and goes.
        extra = apps / "extra.json"
        if i % 2 == 0:
            extra.write_text(json.dumps(classic_api("extra", f"/extra{i}/", upstream.url)))
        else:
            extra.unlink()
        reload = await fetch(
            running.port, "GET", "/tyk/reload?block=true", headers={"X-Tyk-Authorization": running.secret}
        )
        assert reload.status == 200
        await asyncio.sleep(0.04)
    stop.set()
    await asyncio.gather(*clients)
    assert failures == []
    assert done > 100, f"only {done} requests in {time.monotonic() - started:.1f}s"
