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
    queue = commands.add_parser(
        "queue",
        help="show the on-disk queue: pending and rejected readings "
        "(`queue retry-rejected` puts rejected readings back)",
    )
    queue.add_argument(
        "action", nargs="?", choices=["show", "retry-rejected"], default="show", metavar="ACTION"
    )
    queue.add_argument("--json", action="store_true", help="print the figures as JSON")
    discover = commands.add_parser(
        "discover",
        help="find SMA Speedwire devices (multicast on the LAN, and the given addresses) and "
        "print their address, serial, type and software version",
    )
    discover.add_argument(
        "addresses",
        nargs="*",
        metavar="ADDRESS[:PORT]",
        help="ask these addresses directly (unicast) too",
    )
    discover.add_argument(
        "--no-multicast",
        action="store_true",
        help="only the given addresses (no multicast to 239.12.255.254)",
    )
    discover.add_argument("--wait", type=float, default=2.0, help="seconds to wait for answers (2)")
    simulate = commands.add_parser("simulate", help="run a fake device")
    devices = simulate.add_subparsers(dest="device", metavar="DEVICE", required=True)
    from collector.simulators.senec import add_arguments

    add_arguments(devices.add_parser("senec", help="a SENEC battery's lala.cgi"))
    from collector.simulators.sma import add_arguments as add_sma_arguments

    add_sma_arguments(
        devices.add_parser("sma", help="SMA inverters speaking Speedwire (UDP) on 127.0.0.1")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "simulate":
        if args.device == "sma":
            from collector.simulators.sma import run_from_arguments as run_sma

            return run_sma(args)
        from collector.simulators.senec import run_from_arguments

        return run_from_arguments(args)
    if command == "healthcheck":
        return _healthcheck()
    if command == "queue":
        return _queue(args.action, as_json=args.json)
    if command == "discover":
        return _discover(args.addresses, multicast=not args.no_multicast, wait=args.wait)
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
    from collector.health import check_health

    data_dir = _data_dir()
    if isinstance(data_dir, str):
        print(f"unhealthy: {data_dir}", file=sys.stderr)
        return 1
    problems = check_health(data_dir)
    if problems:
        for problem in problems:
            print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


def _data_dir() -> Path | str:
    """DATA_DIR from the environment, or the reason it cannot be read."""
    from collector.config import RuntimeSettings

    try:
        return Path(RuntimeSettings().data_dir)
    except Exception as exc:  # configuration broken: said in one line
        return f"configuration: {exc}"


def _queue(action: str, *, as_json: bool) -> int:
    import json
    import time

    from collector.queue import QUEUE_FILE, QueueError, iso, open_existing

    data_dir = _data_dir()
    if isinstance(data_dir, str):
        print(f"queue: {data_dir}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        store = open_existing(data_dir / QUEUE_FILE)
    except QueueError as exc:
        print(f"queue: {exc}", file=sys.stderr)
        return 1
    try:
        if action == "retry-rejected":
            moved = store.retry_rejected()
            print(
                f"put {moved} rejected reading{'s' if moved != 1 else ''} back in the queue; "
                "the collector delivers them with its next batch"
            )
            return 0
        stats = store.stats()
    finally:
        store.close()
    if as_json:
        print(
            json.dumps(
                {
                    "path": stats.path,
                    "size_bytes": stats.size_bytes,
                    "pending": stats.pending,
                    "rejected": stats.rejected,
                    "oldest_pending": iso(stats.oldest_time),
                    "oldest_queued": iso(stats.oldest_queued),
                    "rejected_reasons": [
                        {
                            "reason": group.reason,
                            "status": group.status,
                            "count": group.count,
                            "first": iso(group.first_time),
                            "last": iso(group.last_time),
                        }
                        for group in stats.rejected_groups
                    ],
                }
            )
        )
        return 0
    print(f"queue     {stats.path} ({stats.size_bytes / 1024 / 1024:.1f} MB)")
    if stats.pending:
        waited = time.time() - (stats.oldest_queued or time.time())
        print(
            f"pending   {_readings(stats.pending)}, oldest from {iso(stats.oldest_time)} "
            f"(queued {_ago(waited)} ago)"
        )
    else:
        print("pending   0 readings (everything is in InfluxDB)")
    print(f"rejected  {_readings(stats.rejected)}")
    for group in stats.rejected_groups:
        span = str(iso(group.first_time))
        if group.last_time != group.first_time:
            span += f" .. {iso(group.last_time)}"
        print(f"          {group.count} x {group.reason} ({span})")
    if stats.rejected:
        print("          `collector queue retry-rejected` puts them back in the queue")
    return 0


def _readings(count: int) -> str:
    return f"{count} reading{'' if count == 1 else 's'}"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _discover(addresses: list[str], *, multicast: bool, wait: float) -> int:
    """Print what answers; exit 1 if nothing did. Uses SMA_PASSWORD for type and version."""
    from collector.config import SmaSettings, load_config
    from collector.sources.sma_speedwire import codec
    from collector.sources.sma_speedwire.discover import discover, parse_address

    try:
        targets = [parse_address(item) for item in addresses]
    except ValueError:
        print("discover: give addresses as ADDRESS or ADDRESS:PORT", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = load_config(need_sink=False)
        sma = config.sma or SmaSettings(host=None)
    except ConfigError:
        sma = SmaSettings(host=None)
    group = codec.GROUP_INSTALLER if sma.user_group == "installer" else codec.GROUP_USER
    found = asyncio.run(
        discover(
            targets,
            multicast=multicast,
            wait=wait,
            password=sma.password.get_secret_value(),
            group=group,
        )
    )
    if not found:
        where = "on the LAN" if multicast else "at the given addresses"
        print(f"no Speedwire device answered {where} within {wait:g} s", file=sys.stderr)
        return 1
    for item in found:
        print(item.line())
    print(
        f"{len(found)} device{'s' if len(found) != 1 else ''}; set SMA_HOST to the inverters' "
        "addresses (comma-separated)",
        file=sys.stderr,
    )
    return 0
