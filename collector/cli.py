"""The `collector` command: run (default), check, config, sources, healthcheck, queue, simulate
<kind>, and the commands source kinds add (such as discover).

`collector healthcheck` runs every 30 s on small machines, so it is answered before anything else
is imported: the standard library, `collector.health`, and nothing more.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from collector.config import Config
    from collector.daemon import Running
    from collector.reading import Reading
    from collector.sources import SourceKind

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["healthcheck"]:
        return _healthcheck()
    from collector.errors import ConfigError
    from collector.sources import KindLoadError, load_kinds

    try:
        kinds = load_kinds()
    except KindLoadError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    args = _parser(kinds).parse_args(args_list)
    command = args.command or "run"
    if command == "simulate":
        simulator = kinds[args.kind].simulator
        assert simulator is not None
        return simulator.run(args)
    if command == "healthcheck":
        return _healthcheck()
    if command == "queue":
        return _queue(args.action, as_json=args.json)
    if command == "sources":
        return _sources(kinds, args.markdown)
    if command == "report":
        try:
            return _report(args)
        except ConfigError as error:
            _problem_lines(error)
            return EXIT_CONFIG
    if command == "backfill":
        try:
            return _backfill(args)
        except ConfigError as error:
            _problem_lines(error)
            return EXIT_CONFIG
        except KindLoadError as exc:
            print(f"configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    for kind in kinds.values():
        for extra in kind.commands:
            if extra.name == command:
                return extra.run(args)
    try:
        return _with_config(command)
    except ConfigError as error:
        _problem_lines(error)
        return EXIT_CONFIG
    except KindLoadError as exc:  # a kind that builds what it was not asked for
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _parser(kinds: dict[str, SourceKind]) -> argparse.ArgumentParser:
    import argparse

    from collector import __version__

    parser = argparse.ArgumentParser(
        prog="collector",
        description="Collects live readings from home-energy devices and writes them to InfluxDB. "
        "Configured with environment variables or a TOML file (COLLECTOR_CONFIG; see README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the collector (the default)")
    commands.add_parser(
        "check",
        help="read every configured source once, print line protocol, write nothing "
        "(exit 0 if every source answered, 1 otherwise)",
    )
    commands.add_parser(
        "config",
        help="print the effective configuration of every source instance and of the writer, "
        "each value with where it came from (secrets as ***)",
    )
    sources = commands.add_parser(
        "sources", help="list the source kinds installed, with their variables and fields"
    )
    sources.add_argument(
        "--markdown", metavar="KIND", help="print KIND's field table as Markdown (as in README)"
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
    report = commands.add_parser(
        "report",
        help="draw a day's power flow and energy from InfluxDB into a PNG "
        "(needs matplotlib: pip install 'energy-collector[report]')",
    )
    report.add_argument("--day", help="YYYY-MM-DD (default: today)")
    report.add_argument("--out", type=Path, help="the PNG to write (default: day-YYYY-MM-DD.png)")
    report.add_argument(
        "--measurement",
        help="the measurement with the house fields (default: the first configured source's "
        "that has them)",
    )
    report.add_argument(
        "--timezone", help="the day's time zone, an IANA name (default: this machine's)"
    )
    backfill = commands.add_parser(
        "backfill",
        help="fill older history once from the devices' own logs (the collector must be "
        "stopped meanwhile)",
    )
    backfill.add_argument(
        "--from", dest="first", required=True, metavar="YYYY-MM-DD", help="the first day"
    )
    backfill.add_argument(
        "--to",
        dest="last",
        metavar="YYYY-MM-DD",
        help="the last day (default: up to what the collector already has, or now)",
    )
    backfill.add_argument("--source", help="only this source (its name); default: every one")
    for kind in kinds.values():
        for extra in kind.commands:
            extra.add_arguments(commands.add_parser(extra.name, help=extra.help))
    simulate = commands.add_parser("simulate", help="run a fake device")
    devices = simulate.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind in kinds.values():
        if kind.simulator is not None:
            kind.simulator.add_arguments(devices.add_parser(kind.name, help=kind.simulator.help))
    return parser


def _problem_lines(error: Any) -> None:
    for problem in error.problems:
        print(f"configuration error: {problem}", file=sys.stderr)


def _with_config(command: str) -> int:
    import asyncio

    from collector.config import load_config
    from collector.lock import AlreadyRunning
    from collector.logging import configure_logging

    config = load_config(need_sink=command in ("run", "config"))
    if command == "config":
        _print_config(config)
        return 0
    # `check` prints line protocol on stdout, so its log lines go to stderr.
    configure_logging(
        config.log.level, config.log.format, sys.stderr if command == "check" else sys.stdout
    )
    if command == "check":
        return asyncio.run(_check(config))
    from collector.daemon import run_daemon

    try:
        return asyncio.run(run_daemon(config))
    except AlreadyRunning as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return EXIT_CONFIG


# --- backfill ------------------------------------------------------------------------------


def _backfill(args: argparse.Namespace) -> int:
    import asyncio

    from collector.backfill_command import BackfillError, parse_day, run_backfill
    from collector.config import load_config
    from collector.lock import AlreadyRunning
    from collector.logging import configure_logging

    config = load_config(need_sink=True)
    configure_logging(config.log.level, config.log.format, sys.stderr)  # stdout: the progress
    try:
        first = parse_day(args.first, "--from")
        last = parse_day(args.last, "--to") if args.last else None
        if config.influx is None:
            raise BackfillError("it writes to InfluxDB: set INFLUX_URL (and its bucket)")
        return asyncio.run(run_backfill(config, first, last, args.source))
    except AlreadyRunning as exc:
        print(
            f"collector backfill: {exc} (docker compose stop collector; run this; "
            "docker compose start collector)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    except BackfillError as exc:
        print(f"collector backfill: {exc}", file=sys.stderr)
        return 1


# --- report --------------------------------------------------------------------------------


def _report(args: argparse.Namespace) -> int:
    from datetime import date, datetime

    from collector import report
    from collector.config import load_config

    if report.matplotlib_missing():
        print(
            "collector report: drawing needs matplotlib, an optional extra: "
            "pip install 'energy-collector[report]'",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    config = load_config(need_sources=False)
    assert config.influx is not None
    try:
        zone = report.zone_named(args.timezone)
        try:
            day = date.fromisoformat(args.day) if args.day else datetime.now(zone).date()
        except ValueError:
            raise report.ReportError(f"--day: {args.day!r} is not a date like 2026-11-23") from None
        measurement = args.measurement or report.house_measurement(
            {
                item.settings.measurement: set(config.kind_of(item).fields)
                for item in config.instances
            }
        )
        if measurement is None:
            raise report.ReportError(
                "which measurement? no configured source writes house_power: name it with "
                "--measurement"
            )
        data = report.read_day(report.InfluxQL(config.influx), measurement, day, zone)
        out = args.out or Path(f"day-{day.isoformat()}.png")
        report.draw(data, out)
    except report.ReportError as exc:
        print(f"collector report: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}: {data.summary()}")
    return 0


# --- check ---------------------------------------------------------------------------------


async def _check(config: Config) -> int:
    import asyncio

    from collector.daemon import build_instances
    from collector.logging import get_logger
    from collector.sinks.line_protocol import to_line

    log = get_logger()
    for warning in config.warnings:
        log.warning("configuration", note=warning)
    running = build_instances(config)
    results = await asyncio.gather(*(first_reading(item) for item in running))
    for reading in results:
        if reading is not None:
            print(to_line(reading), flush=True)
    if config.mqtt is not None:  # then what it would publish, topic and message
        from collector.mqtt.discovery import messages_of

        for item, reading in zip(running, results, strict=True):
            if reading is None:
                continue
            for topic, message in messages_of(config.mqtt, item.instance.name, item.kind, reading):
                print(f"{topic} {message.decode()}", flush=True)
    return 1 if any(reading is None for reading in results) else 0


async def first_reading(item: Running) -> Reading | None:
    """Run one instance until its first reading, its first failure, or two intervals."""
    import asyncio

    instance = item.instance
    got: list[Reading] = []
    stop = asyncio.Event()
    changed = asyncio.Event()
    instance.status.listeners.append(changed.set)

    def keep(reading: Reading, done: Any) -> None:
        got.append(reading)
        done(True)
        stop.set()

    task = asyncio.create_task(instance.run(item.emitter(keep), stop))
    deadline = asyncio.get_running_loop().time() + instance.interval * 2 + 10
    status = instance.status
    try:
        while not got and not status.failed_polls and not status.stopped and not task.done():
            changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(changed.wait(), timeout=max(0.0, remaining))
            except TimeoutError:
                break
    finally:
        stop.set()
        await asyncio.wait([task], timeout=instance.interval + 5)
        task.cancel()
        await instance.aclose()
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
    return got[0] if got else None


# --- config and sources --------------------------------------------------------------------


def _print_config(config: Config) -> None:
    from collector.config import TABLES, Origins, attribute_of, keys_of, shown
    from collector.settings import format_duration

    print(f"settings from: {', '.join(['environment', *config.files])}")

    def table(title: str, settings: Any, origins: Origins) -> None:
        print()
        print(title)
        rows = []
        for key in keys_of(type(settings)):
            value = getattr(settings, attribute_of(type(settings), key))
            origin = origins.of(key)
            derived = settings.derived(key) if value is None else None
            if derived is not None:
                value, origin = derived
            text = format_duration(value) if key in settings.durations else shown(value)
            rows.append((key, text, origin))
        width = max(len(key) for key, _, _ in rows)
        value_width = min(max(len(value) for _, value, _ in rows), 40)
        for key, value, origin in rows:
            print(f"  {key:<{width}}  {value:<{value_width}}  {origin}")

    for instance in config.instances:
        tags = "".join(f" {k}={v}" for k, v in sorted(instance.tags.items()))
        table(
            f"[[source]] {instance.name} (kind {instance.kind}{', tags' + tags if tags else ''})",
            instance.settings,
            config.origins[instance.name],
        )
    for item in TABLES:
        settings = getattr(config, item.name)
        if settings is not None:
            table(f"[{item.name}]", settings, config.origins[item.name])
    for warning in config.warnings:
        print(f"\nwarning: {warning}")


def _sources(kinds: dict[str, SourceKind], markdown: str | None) -> int:
    from collector.config import attribute_of, keys_of, secret_keys, shown, variable_of

    if markdown is not None:
        kind = kinds.get(markdown)
        if kind is None:
            print(f"sources: no kind {markdown!r} (known: {', '.join(kinds)})", file=sys.stderr)
            return EXIT_CONFIG
        print(field_table(kind))
        return 0
    for kind in kinds.values():
        print(f"{kind.name}: {kind.description}")
        print(f"  default measurement {kind.default_measurement}")
        print("  variables (TOML key = variable, default):")
        model = kind.settings
        for key in keys_of(model):
            info = model.model_fields[attribute_of(model, key)]
            default = "(required)" if info.is_required() else shown(info.default)
            variable = variable_of(model, kind.env_prefix, key)
            also = f" or {variable}_FILE" if key in secret_keys(model) else ""
            print(f"    {key} = {variable}{also}, {default}")
        print(f"  fields ({len(kind.fields)}):")
        for spec in kind.fields.values():
            unit = f" {spec.unit}" if spec.unit else ""
            print(f"    {spec.name}  {spec.type.__name__}{unit}  {spec.description}")
        print()
    return 0


def field_table(kind: SourceKind) -> str:
    """A kind's catalogue as the README shows it."""
    from collector.reading import Negative

    names = {int: "integer", float: "float", bool: "boolean", str: "string"}
    below = {Negative.SIGNED: "", Negative.ZERO: " (below 0: written as 0)"}
    below[Negative.INVALID] = " (below 0: no reading, left out)"
    lines = ["| field | type | unit | meaning |", "|---|---|---|---|"]
    for spec in kind.fields.values():
        meaning = spec.description + (below[spec.negative] if spec.type in (int, float) else "")
        lines.append(f"| `{spec.name}` | {names[spec.type]} | {spec.unit} | {meaning} |")
    return "\n".join(lines)


# --- healthcheck and queue -----------------------------------------------------------------


def _healthcheck() -> int:
    from collector.environment import data_dir_of
    from collector.health import check_health

    notes: list[str] = []
    problems = check_health(data_dir_of(), notes=notes)
    if problems:
        for problem in problems:
            print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print(f"healthy ({'; '.join(notes)})" if notes else "healthy")
    return 0


def _queue(action: str, *, as_json: bool) -> int:
    import json
    import time

    from collector.environment import data_dir_of
    from collector.queue import QUEUE_FILE, QueueError, iso, open_existing

    data_dir = data_dir_of()
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
