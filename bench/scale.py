"""Scale: 1, 10, 100 and 500 instances at 5 s in one daemon.

`python -m bench.scale [--sizes 1 10 100 500] [--seconds 60]` starts, for each size, that many
simulated devices (half SENEC over HTTP, half SMA inverters over Speedwire, each on a port of
its own) and one daemon with an instance for each, writing to VictoriaMetrics. After a warm-up
it measures for `--seconds`: the daemon's CPU (share of one core, per reading), its RSS, and
how late readings come: each instance's readings should be 5 s apart, so a reading's lateness
is how far its log time lies behind its slot (the instance's most punctual reading plus a whole
number of intervals). The target: 100 instances under 20 % of one core, every reading within 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import machine
from bench.house import DEFAULTS, rss_and_cpu
from collector.simulators.household import Household
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from tests.harness import Collector, toml_file
from tests.servers import VictoriaMetrics

INTERVAL = 5.0


def lateness(readings: list[dict[str, Any]]) -> list[float]:
    """Seconds each reading was logged after its slot: its instance's slots are whole intervals
    apart, and the most punctual of its readings is taken as on time."""
    by_source: dict[str, list[float]] = {}
    for event in readings:
        at = datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        by_source.setdefault(str(event["source"]), []).append(at)
    late: list[float] = []
    for times in by_source.values():
        first = min(times)
        offsets = [(t - first) - round((t - first) / INTERVAL) * INTERVAL for t in times]
        earliest = min(offsets)  # the instance's most punctual reading stands for its slots
        late += [offset - earliest for offset in offsets]
    return late


def run(size: int, seconds: float, warmup: float, base: Path, victoria: VictoriaMetrics) -> str:
    senecs = [
        SenecSimulator(SenecDevice(Household(seed=i)), tls=False).start()
        for i in range(size - size // 2)
    ]
    inverters = [
        SmaSimulator([SmaInverter(3010600000 + i, seed=i)]).start() for i in range(size // 2)
    ]
    sources: list[dict[str, object]] = [
        {
            "kind": "senec",
            "name": f"senec-{i}",
            "host": simulator.address,
            "schema": "http",
            "interval": INTERVAL,
            "tags": {"unit": str(i)},
        }
        for i, simulator in enumerate(senecs)
    ] + [
        {"kind": "sma", "name": f"sma-{i}", "host": simulator.addresses[0], "interval": INTERVAL}
        for i, simulator in enumerate(inverters)
    ]
    tables: dict[str, dict[str, object]] = {
        "influx": {"url": victoria.url, "org": "-", "bucket": "solar"},
        "runtime": {"data_dir": str(base / f"data-{size}")},
    }
    config = base / f"scale-{size}.toml"
    config.write_text(toml_file(sources, tables), encoding="utf-8")
    collector = Collector(base / f"c-{size}", {"COLLECTOR_CONFIG": str(config), **DEFAULTS})
    try:
        collector.wait_for(
            lambda: len({e["source"] for e in collector.named("reading")}) == size,
            timeout=60 + size * 0.2,
            what="a reading of every instance",
        )
        time.sleep(warmup)
        pid = collector.process.pid
        _, cpu_before = rss_and_cpu(pid)
        count_before = len(collector.named("reading"))
        began = time.monotonic()
        time.sleep(seconds)
        rss, cpu_after = rss_and_cpu(pid)
        wall = time.monotonic() - began
        measured = collector.named("reading")[count_before:]
        assert collector.stop(timeout=60) == 0
    finally:
        for senec in senecs:
            senec.stop()
        for inverter in inverters:
            inverter.stop()
    readings = len(measured)
    cpu = cpu_after - cpu_before
    late = lateness(collector.named("reading"))
    late_ms = sorted(1000 * x for x in late)
    p99 = late_ms[int(len(late_ms) * 0.99) - 1] if late_ms else 0.0
    return (
        f"{size:>9} {readings:>9} {100 * cpu / wall:>8.1f} % {1000 * cpu / max(readings, 1):>9.2f} "
        f"{rss:>7.1f} {max(late_ms, default=0.0):>8.0f} {p99:>8.0f} "
        f"{statistics.median(late_ms) if late_ms else 0.0:>8.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 10, 100, 500])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"instances at {INTERVAL:g} s, half SENEC (HTTP), half SMA (Speedwire); "
        f"{args.seconds:g} s measured after {args.warmup:g} s\n"
    )
    print(
        f"{'instances':>9} {'readings':>9} {'CPU':>10} {'ms/read':>9} {'RSS MB':>7} "
        f"{'late max':>8} {'p99 ms':>8} {'median':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        base = Path(scratch)
        victoria = VictoriaMetrics(base / "victoria")
        victoria.start()
        try:
            for size in args.sizes:
                print(run(size, args.seconds, args.warmup, base, victoria), flush=True)
        finally:
            victoria.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
