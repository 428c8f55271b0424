"""`bascule --conf PATH` runs the gateway; `bascule check --conf PATH` validates and exits (DECISIONS §1);
`bascule doctor --conf PATH [--probe SERVICE URL] [--json]` shows the external services' effective settings
and where each came from, and probes one call phase by phase (`bascule.doctor`, `bascule.doctor_probe`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import uvloop

from bascule import __version__
from bascule.app import serve_forever
from bascule.compat.tyk.load_apis import load_api_definitions
from bascule.compat.tyk.load_gateway import LoadedGateway, load_gateway_settings
from bascule.config.outbound import ServiceType
from bascule.doctor import DoctorReport, render_json, render_probe, render_text, setting_lines
from bascule.doctor_probe import check_tls_setup, parse_probe_url, probe
from bascule.errors import ConfigError, ConfigProblem
from bascule.observability.logging import configure_logging

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bascule", description="An API gateway that runs Tyk's configuration.")
    parser.add_argument("--version", action="version", version=f"bascule {__version__}")
    parser.add_argument("--conf", type=Path, default=None, help="path to tyk.conf (default: embedded defaults)")
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("check", help="validate tyk.conf and every API definition, open no socket")
    check.add_argument("--conf", type=Path, default=None, dest="check_conf")
    doctor = commands.add_parser(
        "doctor", help="show each external service's proxy, bypass list, TLS, pool and timeout, and their origins"
    )
    doctor.add_argument("--conf", type=Path, default=None, dest="doctor_conf")
    doctor.add_argument(
        "--probe", nargs=2, metavar=("SERVICE", "URL"), help="make one GET through SERVICE's profile, phase by phase"
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _print_problems(problems: Sequence[ConfigProblem]) -> None:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)


def _load(conf: Path | None) -> LoadedGateway | None:
    """tyk.conf and the environment, with problems printed (None then) and warnings printed."""
    try:
        loaded = load_gateway_settings(conf, os.environ)
    except ConfigError as exc:
        _print_problems(exc.problems)
        return None
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return loaded


def run_check(conf: Path | None) -> int:
    loaded = _load(conf)
    if loaded is None:
        return EXIT_CONFIG
    apis = load_api_definitions(loaded.settings.app_path, loaded.settings)
    if apis.problems:
        _print_problems(apis.problems)
        return EXIT_CONFIG
    print(f"ok: {conf or 'embedded defaults'} and {len(apis.apis)} API definitions are valid")
    return 0


def run_doctor(conf: Path | None, probe_args: Sequence[str] | None, as_json: bool) -> int:
    """The report; with a probe, exit 1 when it fails. Config errors and a bad --probe exit 2, as `check`."""
    try:
        service = _probed_service(probe_args)
    except ValueError as exc:
        print(f"error: --probe: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    loaded = _load(conf)
    if loaded is None:
        return EXIT_CONFIG
    profiles = loaded.settings.external_services
    shown = profiles if service is None else {service: profiles[service]}
    checks = {name: check_tls_setup(profile) for name, profile in shown.items()}
    report = DoctorReport(loaded.settings.source, tuple(setting_lines(shown, checks)), loaded.warnings)
    if not as_json:
        print("\n".join(render_text(report)), flush=True)  # before a probe that may take its whole timeout
    if service is not None and probe_args is not None:
        probed = uvloop.run(probe(profiles[service], probe_args[1]))
        report = replace(report, probe=probed)
        if not as_json:
            print("\n".join(render_probe(probed)))
    if as_json:
        print(render_json(report))
    return 0 if report.probe is None or report.probe.succeeded else 1


def _probed_service(probe_args: Sequence[str] | None) -> ServiceType | None:
    """The service `--probe SERVICE URL` names (None without --probe); ValueError for a bad name or URL."""
    if probe_args is None:
        return None
    name, url = probe_args
    try:
        service = ServiceType(name)
    except ValueError:
        raise ValueError(f"unknown service {name!r} ({', '.join(ServiceType)})") from None
    parse_probe_url(url)
    return service


def run_gateway(conf: Path | None) -> int:
    try:
        loaded = load_gateway_settings(conf, os.environ)
    except ConfigError as exc:
        _print_problems(exc.problems)
        return EXIT_CONFIG
    configure_logging(loaded.settings.log_level)
    log = logging.getLogger("bascule")
    for warning in loaded.warnings:
        log.warning("%s", warning)
    try:
        uvloop.run(serve_forever(loaded.settings))
    except ConfigError as exc:  # found only at start: e.g. TLS listeners without a usable certificate
        _print_problems([replace(p, file=p.file or loaded.settings.source) for p in exc.problems])
        return EXIT_CONFIG
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return run_check(args.check_conf or args.conf)
    if args.command == "doctor":
        return run_doctor(args.doctor_conf or args.conf, args.probe, args.json)
    return run_gateway(args.conf)


if __name__ == "__main__":
    sys.exit(main())
