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
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from collector.simulators.household import Household
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_em.simulator import Meter, MeterSender
from collector.sources.sma_ennexos.simulator import EnnexosDevice, EnnexosSimulator
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from tests.harness import Collector, toml_file
from tests.servers import VictoriaMetrics, free_port

# the field every reading of a measurement has, to count its points by
COUNTED = {
    "SENEC": "house_power",
    "SENEC_CLOUD": "house_power",
    "SMA": "ac_power",
    "SMA_WEB": "ac_power",
    "SMA_X": "ac_power",
    "SMA_EM": "grid_power_plus",
}


def rss_and_cpu(pid: int) -> tuple[float, float]:
    """The process's resident set (MB) and CPU time so far (s, user and system)."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


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

    def household(seed: int) -> Household:
        return Household(seed=seed, speed=args.speed, start=midnight)

    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        base = Path(scratch)
        victoria = VictoriaMetrics(base / "victoria")
        victoria.start()
        senec = SenecSimulator(SenecDevice(household(5)), tls=False).start()
        cloud = SenecCloudSimulator(SenecCloud(household=household(6))).start()
        speedwire = SmaSimulator(
            [
                SmaInverter(3010538001, strings=2, seed=1, household=household(1)),
                SmaInverter(3010538002, strings=3, battery=True, seed=2, household=household(2)),
            ]
        ).start()
        webconnect = WebConnectSimulator(
            WebConnectDevice(SmaInverter(3010538003, seed=3, household=household(3)))
        ).start()
        ennexos = EnnexosSimulator(
            EnnexosDevice(SmaInverter(3016259004, strings=3, seed=4, household=household(4)))
        ).start()
        meter_port = free_port(udp=True)
        meter = MeterSender(
            Meter(household(7), serial=1900000007), ("127.0.0.1", meter_port), period=1.0
        ).start()
        cas = {}
        for name, simulator in (("webconnect", webconnect), ("ennexos", ennexos)):
            cas[name] = base / f"{name}.pem"
            cas[name].write_bytes(simulator.ca_pem or b"")
        account = cloud.cloud.account
        sources: list[dict[str, object]] = [
            {"kind": "senec", "name": "senec", "host": senec.address, "schema": "http"},
            {
                "kind": "senec-cloud",
                "name": "senec-cloud",
                "username": account.username,
                "password": account.password,
                "measurement": "SENEC_CLOUD",
                **cloud.settings(),
            },
            {"kind": "sma", "name": "sma", "host": ",".join(speedwire.addresses)},
            {
                "kind": "sma-webconnect",
                "name": "webconnect",
                "url": webconnect.url,
                "password": "0000",
                "ca_file": str(cas["webconnect"]),
                "measurement": "SMA_WEB",
            },
            {
                "kind": "sma-ennexos",
                "name": "ennexos",
                "url": ennexos.url,
                "username": "collector",
                "password": "secret",
                "ca_file": str(cas["ennexos"]),
                "measurement": "SMA_X",
            },
            {
                "kind": "sma-em",
                "name": "meter",
                "serial": "1900000007",
                "group": "none",
                "port": meter_port,
            },
        ]
        for source in sources:
            if source["kind"] not in ("senec-cloud", "sma-em"):
                source["interval"] = 1
        tables: dict[str, dict[str, object]] = {
            "influx": {"url": victoria.url, "org": "-", "bucket": "solar"},
            "log": {"level": "info"},
        }
        config = base / "collector.toml"
        config.write_text(toml_file(sources, tables), encoding="utf-8")
        collector = Collector(base / "c", {"COLLECTOR_CONFIG": str(config)})
        samples: list[tuple[float, float, float]] = []  # (minute, RSS MB, CPU s)
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                time.sleep(min(args.every, args.minutes * 60 - elapsed))
                rss, cpu = rss_and_cpu(collector.process.pid)
                minute = (time.monotonic() - started) / 60
                samples.append((minute, rss, cpu))
                print(f"  minute {minute:5.1f}: RSS {rss:6.1f} MB, CPU {cpu:7.1f} s", flush=True)
            code = collector.stop(timeout=60)
        finally:
            for stop in (senec.stop, cloud.stop, speedwire.stop, webconnect.stop, ennexos.stop):
                stop()
            meter.stop()
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
    measurement_of = {
        "senec": "SENEC",
        "senec-cloud": "SENEC_CLOUD",
        "sma": "SMA",
        "webconnect": "SMA_WEB",
        "ennexos": "SMA_X",
        "meter": "SMA_EM",
    }
    lost = 0
    for source, count in sorted(by_source.items()):
        measurement = measurement_of[source]
        points = len(victoria.samples(measurement).get(COUNTED[measurement], []))
        lost += max(0, count - points)
        print(f"  {source:<12} {count:6d} readings logged, {points:6d} points in the database")
    print(f"readings lost: {lost}")


if __name__ == "__main__":
    sys.exit(main())
