"""Scale: 1, 10, 100 and 500 instances at 5 s in one daemon.

`python -m bench.scale [--sizes 1 10 100 500] [--seconds 60] [--sim-processes 2]` starts, for
each size, that many simulated devices (half SENEC over HTTP, half SMA inverters over
Speedwire, each on a port of its own) in `--sim-processes` processes of their own, and one
daemon with an instance for each, writing to VictoriaMetrics. After a warm-up it measures for
`--seconds`: the daemon's CPU (share of one core, per reading), its RSS, and how late polls
come. Each instance's polls should be 5 s apart, so a poll's lateness is how far it lies
behind its slot (the instance's most punctual poll plus a whole number of intervals), taken
twice: when the device got the request (the SENEC's POST, the first datagram of an inverter's
cycle: the collector's own punctuality), and when the reading's log line was written (the
device's answer time and the disk included). The target: 100 instances under 20 % of one
core, every reading within 100 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import machine
from collector.simulators.household import Household
from collector.sources.senec.codec import Sections
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.sma import codec
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from tests.harness import Collector, toml_file
from tests.house import DEFAULTS, rss_and_cpu
from tests.servers import VictoriaMetrics

INTERVAL = 5.0
CYCLE_GAP = 1.0  # datagrams further apart than this start a new read cycle of an inverter
SESSION = (codec.CMD_LOGIN, codec.CMD_LOGOFF)  # not a read cycle's datagrams


class TimedSenec(SenecDevice):
    """A SENEC that notes when each request came (time.monotonic: one clock for all processes)."""

    def __init__(self, household: Household) -> None:
        super().__init__(household)
        self.arrivals: list[float] = []

    def answer(self, request: Sections, kind: str = "ok") -> bytes:
        self.arrivals.append(time.monotonic())
        return super().answer(request, kind)


class TimedInverter(SmaInverter):
    """An inverter that notes when each query came (not logins and logoffs: a session's)."""

    arrivals: list[float]

    def handle(self, data: bytes, wall: float | None = None) -> list[tuple[float, bytes]]:
        came = time.monotonic()
        if not hasattr(self, "arrivals"):
            self.arrivals = []
        seen = len(self.received)
        replies = super().handle(data, wall)
        if len(self.received) > seen and self.received[-1].command not in SESSION:
            self.arrivals.append(came)
        return replies


def serve(kind: str, first: int, count: int, conn: Connection) -> None:
    """A process of simulators: their addresses out, then (when told) their arrival times."""
    if kind == "senec":
        senecs = [TimedSenec(Household(seed=i)) for i in range(first, first + count)]
        servers: list[Any] = [SenecSimulator(d, tls=False).start() for d in senecs]
        conn.send([server.address for server in servers])
        conn.recv()
        conn.send([device.arrivals for device in senecs])
    else:
        inverters = [TimedInverter(3010600000 + i, seed=i) for i in range(first, first + count)]
        servers = [SmaSimulator([inverter]).start() for inverter in inverters]
        conn.send([server.addresses[0] for server in servers])
        conn.recv()
        conn.send([_cycles(getattr(inverter, "arrivals", [])) for inverter in inverters])
    for server in servers:
        server.stop()


def _cycles(arrivals: list[float]) -> list[float]:
    """When each read cycle began: the datagrams after a pause of CYCLE_GAP or more."""
    starts: list[float] = []
    previous = -CYCLE_GAP
    for moment in arrivals:
        if moment - previous >= CYCLE_GAP:
            starts.append(moment)
        previous = moment
    return starts


class Simulators:
    """`size` devices (half SENEC, half inverters) in `processes` processes."""

    def __init__(self, size: int, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.workers: list[tuple[Any, Connection, str]] = []
        for kind, total in (("senec", size - size // 2), ("sma", size // 2)):
            share = max(1, processes // 2) if total else 0
            for part in range(share):
                first = total * part // share
                count = total * (part + 1) // share - first
                if count == 0:
                    continue
                mine, theirs = context.Pipe()
                process = context.Process(target=serve, args=(kind, first, count, theirs))
                process.start()
                self.workers.append((process, mine, kind))
        self.addresses: dict[str, list[str]] = {"senec": [], "sma": []}
        for _, conn, kind in self.workers:
            self.addresses[kind] += conn.recv()

    def arrivals(self) -> list[list[float]]:
        """Each device's poll times, SENECs first, in the order of `addresses`; stops them."""
        result: dict[str, list[list[float]]] = {"senec": [], "sma": []}
        for _, conn, _kind in self.workers:
            conn.send("stop")
        for _, conn, kind in self.workers:
            result[kind] += conn.recv()
        for process, _, _ in self.workers:
            process.join(30)
        return result["senec"] + result["sma"]


def lateness(series: Iterable[list[float]]) -> list[float]:
    """Seconds each event came after its slot: an instance's slots are whole intervals apart,
    and the most punctual of its events is taken as on time."""
    late: list[float] = []
    for times in series:
        if not times:
            continue
        first = min(times)
        offsets = [(t - first) - round((t - first) / INTERVAL) * INTERVAL for t in times]
        earliest = min(offsets)  # the instance's most punctual event stands for its slots
        late += [offset - earliest for offset in offsets]
    return late


def logged(readings: list[dict[str, Any]]) -> list[list[float]]:
    """Each instance's log times of its readings."""
    by_source: dict[str, list[float]] = {}
    for event in readings:
        at = datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        by_source.setdefault(str(event["source"]), []).append(at)
    return list(by_source.values())


def spread(late: list[float]) -> str:
    """The largest, p99 and median lateness in ms."""
    ms = sorted(1000 * x for x in late)
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)] if ms else 0.0
    median = statistics.median(ms) if ms else 0.0
    return f"{max(ms, default=0.0):>6.0f} {p99:>6.0f} {median:>6.0f}"


def run(
    size: int, seconds: float, warmup: float, base: Path, victoria: VictoriaMetrics, processes: int
) -> str:
    simulators = Simulators(size, processes)
    sources: list[dict[str, object]] = [
        {
            "kind": "senec",
            "name": f"senec-{i}",
            "host": address,
            "schema": "http",
            "interval": INTERVAL,
            "tags": {"unit": str(i)},
        }
        for i, address in enumerate(simulators.addresses["senec"])
    ] + [
        {"kind": "sma", "name": f"sma-{i}", "host": address, "interval": INTERVAL}
        for i, address in enumerate(simulators.addresses["sma"])
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
        asked = simulators.arrivals()
    readings = len(measured)
    cpu = cpu_after - cpu_before
    return (
        f"{size:>9} {readings:>9} {100 * cpu / wall:>6.1f} % {1000 * cpu / max(readings, 1):>7.2f} "
        f"{rss:>7.1f}   {spread(lateness(asked))}   {spread(lateness(logged(measured)))}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 10, 100, 500])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--sim-processes", type=int, default=2, help="processes of simulators")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(
        f"instances at {INTERVAL:g} s, half SENEC (HTTP), half SMA (Speedwire); "
        f"{args.seconds:g} s measured after {args.warmup:g} s\n"
    )
    print(f"{'':>9} {'':>9} {'':>8} {'':>7} {'':>7}   {'late, asked (ms)':>20}   logged (ms)")
    print(
        f"{'instances':>9} {'readings':>9} {'CPU':>8} {'ms/read':>7} {'RSS MB':>7}   "
        f"{'max':>6} {'p99':>6} {'median':>6}   {'max':>6} {'p99':>6} {'median':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        base = Path(scratch)
        victoria = VictoriaMetrics(base / "victoria")
        victoria.start()
        try:
            for size in args.sizes:
                print(
                    run(size, args.seconds, args.warmup, base, victoria, args.sim_processes),
                    flush=True,
                )
        finally:
            victoria.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
