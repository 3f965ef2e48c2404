"""The `collector` command: run (default), check, healthcheck, simulate."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from collector import __version__
from collector.errors import ConfigError, SourceError

if TYPE_CHECKING:
    from collector.config import Config

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collector",
        description="Collects live readings from home-energy devices and writes them to InfluxDB. "
        "Configured with environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the collector (the default)")
    commands.add_parser(
        "check",
        help="poll every configured source once, print line protocol, write nothing "
        "(exit 0 if every source answered, 1 otherwise)",
    )
    commands.add_parser("healthcheck", help="exit 0 if the running collector is healthy")
    simulate = commands.add_parser("simulate", help="run a fake device")
    devices = simulate.add_subparsers(dest="device", metavar="DEVICE", required=True)
    from collector.simulators.senec import add_arguments

    add_arguments(devices.add_parser("senec", help="a SENEC battery's lala.cgi"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "simulate":
        from collector.simulators.senec import run_from_arguments

        return run_from_arguments(args)
    if command == "healthcheck":
        return _healthcheck()
    return _with_config(command)


def _problem_lines(error: ConfigError) -> None:
    for problem in error.problems:
        print(f"configuration error: {problem}", file=sys.stderr)


def _with_config(command: str) -> int:
    from collector.config import load_config
    from collector.logging import configure_logging

    try:
        config = load_config(need_sink=command == "run")
    except ConfigError as error:
        _problem_lines(error)
        return EXIT_CONFIG
    # `check` prints line protocol on stdout, so its log lines go to stderr.
    configure_logging(
        config.log.level, config.log.format, sys.stderr if command == "check" else sys.stdout
    )
    if command == "check":
        return asyncio.run(_check(config))
    from collector.daemon import run_daemon

    return asyncio.run(run_daemon(config))


async def _check(config: Config) -> int:
    from collector.daemon import build_sources
    from collector.logging import get_logger
    from collector.sinks.line_protocol import to_line

    log = get_logger()
    for warning in config.warnings:
        log.warning("configuration", note=warning)
    failed = 0
    for source in build_sources(config):
        try:
            reading = await source.poll()
        except SourceError as exc:
            failed += 1
            log.error("poll failed", source=source.name, error=str(exc), kind=type(exc).__name__)
        else:
            log.info("reading", source=source.name, **source.summary(reading))
            print(to_line(reading), flush=True)
        finally:
            await source.aclose()
    return 1 if failed else 0


def _healthcheck() -> int:
    from collector.config import RuntimeSettings
    from collector.health import check_health

    try:
        runtime = RuntimeSettings()
    except Exception as exc:  # configuration broken: unhealthy, said in one line
        print(f"unhealthy: configuration: {exc}", file=sys.stderr)
        return 1
    problems = check_health(Path(runtime.data_dir))
    if problems:
        for problem in problems:
            print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy")
    return 0
