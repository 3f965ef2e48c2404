"""Cost per reading: the daemon's CPU for each reading of the whole house, and of each kind alone.

`python -m bench.cost [--seconds 60] [--only senec sma ...]` runs the daemon as a process, first
against the whole simulated house at 1 s (bench/house.py), then against each instance of it
alone, writing to VictoriaMetrics. After `--warmup` seconds it counts, for `--seconds`, the
daemon's CPU time (user and system, all threads, from /proc) and the readings it logged. The
simulators run in this process, so their CPU is not counted. A reading's cost is everything
the daemon does for it: the poll (HTTP, TLS or UDP), decoding, normalising, the queue's disk
write, the write to the database, the log line, and its share of the daemon's own timers and
self-report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import machine
from tests.harness import Collector, toml_file
from tests.house import DEFAULTS, MEASUREMENTS, House, rss_and_cpu, unknown_names
from tests.servers import VictoriaMetrics


def measure(
    house: House,
    only: frozenset[str] | None,
    victoria: VictoriaMetrics,
    workdir: Path,
    warmup: float,
    seconds: float,
    extra: dict[str, dict[str, object]] | None = None,
    stopped: list[dict[str, object]] | None = None,
) -> tuple[int, float, float]:
    """(readings, CPU seconds, RSS MB) of one daemon over the measured window. `extra`: more
    tables of its configuration; `stopped` gets its last log line."""
    tables: dict[str, dict[str, object]] = {
        "influx": {"url": victoria.url, "org": "-", "bucket": "solar"},
        "log": {"level": "info"},
        **(extra or {}),
    }
    config = workdir / "collector.toml"
    workdir.mkdir(parents=True)
    config.write_text(toml_file(house.sources(only), tables), encoding="utf-8")
    collector = Collector(workdir, {"COLLECTOR_CONFIG": str(config), **DEFAULTS})
    try:
        collector.wait_for(lambda: bool(collector.named("reading")), timeout=60, what="a reading")
        time.sleep(warmup)
        _, cpu_before = rss_and_cpu(collector.process.pid)
        count_before = len(collector.named("reading"))
        time.sleep(seconds)
        rss, cpu_after = rss_and_cpu(collector.process.pid)
        count = len(collector.named("reading")) - count_before
    finally:
        code = collector.stop(timeout=60)
    if code != 0:
        raise SystemExit(f"the daemon exited with {code}: see {collector.log_path}")
    if stopped is not None:
        stopped.extend(collector.named("stopped"))
    return count, cpu_after - cpu_before, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", default=None, help="instances to run alone")
    parser.add_argument("--no-house", action="store_true", help="skip the whole house")
    args = parser.parse_args()
    names: list[str] = list(MEASUREMENTS) if args.only is None else args.only
    problem = unknown_names(names)
    if problem:
        parser.error(problem)
    print(f"machine: {machine()}")
    print(f"{args.seconds:g} s measured after {args.warmup:g} s, the devices at 1 s\n")
    print(f"{'daemon reading':<16} {'readings':>8} {'CPU s':>7} {'ms/reading':>10} {'RSS MB':>7}")
    runs: list[tuple[str, frozenset[str] | None]] = [] if args.no_house else [("the house", None)]
    runs += [(name, frozenset({name})) for name in names]
    with tempfile.TemporaryDirectory(prefix="cost-") as scratch:
        base = Path(scratch)
        victoria = VictoriaMetrics(base / "victoria")
        victoria.start()
        try:
            with House(base) as house:
                for number, (label, only) in enumerate(runs):
                    count, cpu, rss = measure(
                        house, only, victoria, base / f"run-{number}", args.warmup, args.seconds
                    )
                    per = f"{1000 * cpu / count:10.2f}" if count else f"{'-':>10}"
                    print(f"{label:<16} {count:>8} {cpu:>7.2f} {per} {rss:>7.1f}", flush=True)
        finally:
            victoria.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
