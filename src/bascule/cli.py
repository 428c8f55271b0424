"""`bascule --conf PATH` runs the gateway; `bascule check --conf PATH` validates and exits (DECISIONS §1)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import uvloop

from bascule import __version__
from bascule.app import serve_forever
from bascule.compat.tyk.load_apis import load_api_definitions
from bascule.compat.tyk.load_gateway import load_gateway_settings
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
    return parser


def _print_problems(problems: Sequence[ConfigProblem]) -> None:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)


def run_check(conf: Path | None) -> int:
    try:
        loaded = load_gateway_settings(conf, os.environ)
    except ConfigError as exc:
        _print_problems(exc.problems)
        return EXIT_CONFIG
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    apis = load_api_definitions(loaded.settings.app_path, loaded.settings)
    if apis.problems:
        _print_problems(apis.problems)
        return EXIT_CONFIG
    print(f"ok: {conf or 'embedded defaults'} and {len(apis.apis)} API definitions are valid")
    return 0


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
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return run_check(args.check_conf or args.conf)
    return run_gateway(args.conf)


if __name__ == "__main__":
    sys.exit(main())
