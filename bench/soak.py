"""Soak: the whole house at 1 s for an hour of real time, its day at 24x (sunrise to night).

`python -m bench.soak [--minutes 60] [--speed 24]` runs the daemon as a process against the
simulators (a SENEC, SENEC's cloud, two Speedwire inverters, WebConnect, ennexOS, an Energy
Meter), all sharing one household whose clock runs `--speed` times as fast, writing to
VictoriaMetrics. Every minute it samples the daemon's RSS and CPU time. At the end it prints
the RSS at the start (after `--warmup` minutes) and the end, the growth, the CPU per reading,
and the readings lost: the daemon's own count of readings against what it delivered, and the
points VictoriaMetrics holds against the readings logged, per measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from tests.harness import Collector, toml_file
from tests.house import DEFAULTS, MEASUREMENTS, House, rss_and_cpu
from tests.servers import VictoriaMetrics


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--speed", type=float, default=24.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes before RSS counts")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    print(
        f"the whole house at 1 s for {args.minutes:g} min, its clock at {args.speed:g}x from "
        "midnight\n"
    )

    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        base = Path(scratch)
        victoria = VictoriaMetrics(base / "victoria")
        victoria.start()
        with House(base, speed=args.speed, start=midnight) as house:
            tables: dict[str, dict[str, object]] = {
                "influx": {"url": victoria.url, "org": "-", "bucket": "solar"},
                "log": {"level": "info"},
            }
            config = base / "collector.toml"
            config.write_text(toml_file(house.sources(), tables), encoding="utf-8")
            collector = Collector(base / "c", {"COLLECTOR_CONFIG": str(config), **DEFAULTS})
            samples: list[tuple[float, float, float]] = []  # (minute, RSS MB, CPU s)
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                time.sleep(min(args.every, args.minutes * 60 - elapsed))
                rss, cpu = rss_and_cpu(collector.process.pid)
                minute = (time.monotonic() - started) / 60
                samples.append((minute, rss, cpu))
                print(f"  minute {minute:5.1f}: RSS {rss:6.1f} MB, CPU {cpu:7.1f} s", flush=True)
            code = collector.stop(timeout=60)
        report(collector, victoria, samples, args.warmup, code)
        victoria.stop()
    return 0


def report(
    collector: Collector,
    victoria: VictoriaMetrics,
    samples: list[tuple[float, float, float]],
    warmup: float,
    code: int,
) -> None:
    readings = collector.named("reading")
    stopped = collector.named("stopped")
    figures: dict[str, Any] = stopped[0] if stopped else {}
    warm = [s for s in samples if s[0] >= warmup] or samples
    rss_start, rss_end = warm[0][1], samples[-1][1]
    cpu = samples[-1][2]
    print(f"\nexit code {code}; {len(readings)} readings logged")
    print(
        f"RSS after {warmup:g} min {rss_start:.1f} MB, at the end {rss_end:.1f} MB "
        f"(growth {rss_end - rss_start:+.1f} MB, highest {max(s[1] for s in warm):.1f} MB)"
    )
    print(f"CPU {cpu:.1f} s in all, {1000 * cpu / max(len(readings), 1):.2f} ms per reading")
    print(
        "the daemon's own count: "
        + json.dumps({k: figures.get(k) for k in ("readings", "delivered", "left_in_queue")})
    )
    by_source = Counter(str(event["source"]) for event in readings)
    lost = 0
    for source, count in sorted(by_source.items()):
        measurement, counted = MEASUREMENTS[source]
        points = len(victoria.samples(measurement).get(counted, []))
        lost += max(0, count - points)
        print(f"  {source:<12} {count:6d} readings logged, {points:6d} points in the database")
    print(f"readings lost: {lost}")


if __name__ == "__main__":
    sys.exit(main())
