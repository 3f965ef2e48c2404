"""The durable queue: append cost on the hot path and backlog delivery rate, against peers.

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python -m bench.queue_delivery [--readings 17280] [--repeat 3]

Input: a day of 5-second SENEC readings (17,280), made from the recorded 2025-07-24 answer with
changing values, one day back from now.

Append (per reading, wall and CPU time, median of the repeats):
- ours, the store alone (`QueueStore.append` of a line: SQLite insert + commit, WAL,
  synchronous=FULL, so each append is on disk when it returns);
- ours, the daemon's hot path (`await DurableQueue.append(reading)`: line protocol, the hop to
  the queue thread, the store);
- peer: persist-queue's `SQLiteAckQueue.put` (WAL, SQLite's default synchronous=FULL), the
  usual durable queue in Python, with the same line.

Delivery (17,280 readings into a real database, time until all are confirmed):
- ours: the daemon's Writer draining a queue file holding the day (batches of 5000);
- ours without the queue: the same sink writing the lines from memory in batches of 5000, to
  show what the queue costs;
- peer, InfluxDB 1.x: the `influxdb` client's `write_points(..., batch_size=5000)` from memory;
- peer, VictoriaMetrics: influxdb-client's batching WriteApi (batch_size=5000) from memory.
Every run checks that the database then holds all readings.

Servers are started by the benchmark on 127.0.0.1 (Debian's influxdb and victoria-metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine
from collector.config import InfluxSettings
from collector.logging import configure_logging
from collector.queue import DurableQueue, QueueStore
from collector.reading import Reading
from collector.sinks import Sink
from collector.sinks.influx import InfluxV1Sink, InfluxV2Sink
from collector.sinks.line_protocol import to_line
from collector.sinks.writer import Writer
from collector.sources.senec.normalise import (
    MAPPING,
    compute_fields,
    decode_answer,
    wanted_keys,
)
from collector.sources.senec.states import StateNames
from tests.servers import InfluxDB1, VictoriaMetrics

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT.parent / "shared/reference/recordings/senec-local-2025-07-24.response.json"
BATCH = 5000


def day_of_readings(count: int, measurement: str) -> list[Reading]:
    answer = json.loads(RECORDING.read_text(encoding="utf-8"))
    names = list(MAPPING)
    base = compute_fields(decode_answer(answer, wanted_keys(names)), names, StateNames("de"))
    start = (int(time.time()) - 86400) // 5 * 5
    rng = random.Random(1)
    readings = []
    for index in range(count):
        fields = dict(base)
        for name in ("house_power", "inverter_power", "mpp1_power", "grid_power_plus"):
            fields[name] = rng.randrange(0, 6000)
        fields["bat_fuel_charge"] = round(rng.uniform(0, 100), 1)
        fields["measure_time"] = start + index * 5
        stamp = datetime.fromtimestamp(start + index * 5, UTC)
        readings.append(Reading(stamp, measurement, fields))
    return readings


# --- append ------------------------------------------------------------------------------


def per_item(run: Callable[[], None], count: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per item."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return (
        (time.perf_counter() - wall) / count * 1e6,
        (time.process_time() - cpu) / count * 1e6,
    )


def append_ours_store(directory: Path, lines: list[tuple[int, str, str]]) -> tuple[float, float]:
    store = QueueStore(directory / "queue.sqlite3")
    store.open()

    def run() -> None:
        for stamp, measurement, line in lines:
            store.append(stamp, measurement, line)

    result = per_item(run, len(lines))
    store.close()
    return result


def append_ours_hot_path(directory: Path, readings: list[Reading]) -> tuple[float, float, float]:
    """The poll loop's way: `DurableQueue.submit`, one reading at a time, as they arrive.

    Returns (µs the event loop spends per reading, µs until the reading is on disk and logged
    as collected, CPU µs per reading for the whole process).
    """

    async def scenario() -> tuple[float, float, float]:
        queue = DurableQueue(QueueStore(directory / "queue.sqlite3"))
        await queue.open()
        loop_time = latency = 0.0
        cpu = time.process_time()
        for reading in readings:
            collected = asyncio.Event()

            def done(_: bool, event: asyncio.Event = collected) -> None:
                event.set()

            started = time.perf_counter()
            queue.submit(reading, done)
            loop_time += time.perf_counter() - started
            await collected.wait()
            latency += time.perf_counter() - started
        cpu = time.process_time() - cpu
        await queue.close()
        count = len(readings)
        return loop_time / count * 1e6, latency / count * 1e6, cpu / count * 1e6

    return asyncio.run(scenario())


def append_peer(directory: Path, lines: list[tuple[int, str, str]]) -> tuple[float, float]:
    from persistqueue import SQLiteAckQueue

    queue = SQLiteAckQueue(str(directory / "peer"), auto_commit=True, multithreading=True)

    def run() -> None:
        for _, _, line in lines:
            queue.put(line)

    return per_item(run, len(lines))


# --- delivery ----------------------------------------------------------------------------


def fill_queue(path: Path, readings: list[Reading]) -> None:
    store = QueueStore(path)
    store.open()
    store.conn.execute("PRAGMA disk.synchronous = OFF")  # filling is not what is measured
    for reading in readings:
        store.append(int(reading.time.timestamp()), reading.measurement, to_line(reading))
    store.close()


def deliver_ours(make_sink: Callable[[], Sink], path: Path) -> float:
    async def scenario() -> float:
        queue = DurableQueue(QueueStore(path))
        await queue.open()
        sink = make_sink()
        writer = Writer(sink, queue, batch_size=BATCH)
        started = time.perf_counter()
        writer.begin_shutdown(600)  # deliver everything queued, then return
        await writer.run()
        elapsed = time.perf_counter() - started
        assert queue.pending == 0, f"{queue.pending} readings not delivered"
        await sink.aclose()
        await queue.close()
        return elapsed

    return asyncio.run(scenario())


def deliver_sink_only(make_sink: Callable[[], Sink], lines: list[str]) -> float:
    async def scenario() -> float:
        sink = make_sink()
        started = time.perf_counter()
        for index in range(0, len(lines), BATCH):
            await sink.write(lines[index : index + BATCH])
        elapsed = time.perf_counter() - started
        await sink.aclose()
        return elapsed

    return asyncio.run(scenario())


def deliver_peer_v1(server: InfluxDB1, database: str, lines: list[str]) -> float:
    from influxdb import InfluxDBClient

    client = InfluxDBClient(host="127.0.0.1", port=server.port, database=database)
    started = time.perf_counter()
    client.write_points(lines, protocol="line", batch_size=BATCH, time_precision="s")
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def deliver_peer_v2(url: str, lines: list[str]) -> float:
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import WriteOptions
    from influxdb_client.domain.write_precision import WritePrecision

    client = InfluxDBClient(url=url, token="-", org="-")
    started = time.perf_counter()
    write_api = client.write_api(
        write_options=WriteOptions(batch_size=BATCH, flush_interval=1_000, max_retries=0)
    )
    write_api.write(bucket="solar", record=lines, write_precision=WritePrecision.S)  # type: ignore[arg-type]
    write_api.close()  # flushes
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def count_v1(server: InfluxDB1, database: str, measurement: str) -> int:
    result = server.query(f'SELECT count(house_power) FROM "{measurement}"', database)
    series = result["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def count_vm(server: VictoriaMetrics, measurement: str, expected: int) -> int:
    """VictoriaMetrics shows points it has just taken a moment later: ask until all are there,
    for 10 s at the most."""
    deadline = time.monotonic() + 10.0
    while True:
        found = len(server.series(measurement).get("house_power", {}))
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# --- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=17_280)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    configure_logging("warning")
    n = args.readings
    print(f"machine: {machine()}")
    print(f"input: {n} SENEC readings, 5 s apart (one day), {args.repeat} runs each, median\n")

    with tempfile.TemporaryDirectory(prefix="bench-queue-") as scratch:
        base = Path(scratch)
        print(f"scratch directory (queue files, servers' data): {base}")
        template = day_of_readings(n, "SENEC")
        lines = [(int(r.time.timestamp()), r.measurement, to_line(r)) for r in template]
        print(f"line protocol: {sum(len(line) for _, _, line in lines) / n:.0f} bytes a reading")

        store_runs: list[tuple[float, float]] = []
        hot_runs: list[tuple[float, float, float]] = []
        peer_runs: list[tuple[float, float]] = []
        for run in range(args.repeat):
            store_runs.append(append_ours_store(base / f"a{run}", lines))
            hot_runs.append(append_ours_hot_path(base / f"h{run}", template))
            (base / f"p{run}").mkdir()
            peer_runs.append(append_peer(base / f"p{run}", lines))
        size = (base / "a0" / "queue.sqlite3").stat().st_size
        print(f"queue file for the day: {size / 1024 / 1024:.1f} MB\n")

        def med(runs: list[Any], index: int) -> float:
            return float(statistics.median(run[index] for run in runs))

        store_wall, store_cpu = med(store_runs, 0), med(store_runs, 1)
        peer_wall, peer_cpu = med(peer_runs, 0), med(peer_runs, 1)
        print("append, per reading                         wall µs   CPU µs")
        print(f"  ours: QueueStore.append (on disk)         {store_wall:7.1f}  {store_cpu:7.1f}")
        print(f"  peer: persist-queue SQLiteAckQueue.put    {peer_wall:7.1f}  {peer_cpu:7.1f}")
        print(
            f"  ratio peer/ours: wall {peer_wall / store_wall:.2f}x, "
            f"CPU {peer_cpu / store_cpu:.2f}x"
        )
        print("  the daemon's hot path (DurableQueue.submit from the poll loop):")
        print(f"    event loop time per reading             {med(hot_runs, 0):7.1f}")
        print(f"    until on disk and logged as collected   {med(hot_runs, 1):7.1f}")
        print(f"    CPU per reading, all threads                     {med(hot_runs, 2):7.1f}\n")

        influx = InfluxDB1(base / "influxdb1")
        victoria = VictoriaMetrics(base / "victoria")
        influx.start()
        victoria.start()
        try:
            delivery: dict[str, list[float]] = {}
            for run in range(args.repeat):
                database = f"bench{run}"
                influx.create_database(database)
                for target in ("influxdb1", "victoria"):
                    for way in ("ours", "sink", "peer"):
                        measurement = f"SENEC_{target}_{way}_{run}"
                        readings = [
                            Reading(r.time, measurement, r.fields, r.tags) for r in template
                        ]
                        if target == "influxdb1":
                            settings = InfluxSettings(api="v1", url=influx.url, bucket=database)

                            def make_v1(s: InfluxSettings = settings) -> Sink:
                                return InfluxV1Sink(s)

                            make: Callable[[], Sink] = make_v1
                        else:
                            settings = InfluxSettings(
                                api="v2", url=victoria.url, bucket="solar", org="-"
                            )

                            def make_v2(s: InfluxSettings = settings) -> Sink:
                                return InfluxV2Sink(s)

                            make = make_v2
                        text = [to_line(r) for r in readings]
                        if way == "ours":
                            path = base / f"q-{measurement}.sqlite3"
                            fill_queue(path, readings)
                            elapsed = deliver_ours(make, path)
                        elif way == "sink":
                            elapsed = deliver_sink_only(make, text)
                        elif target == "influxdb1":
                            elapsed = deliver_peer_v1(influx, database, text)
                        else:
                            elapsed = deliver_peer_v2(victoria.url, text)
                        stored = (
                            count_v1(influx, database, measurement)
                            if target == "influxdb1"
                            else count_vm(victoria, measurement, n)
                        )
                        assert stored == n, f"{target}/{way}: {stored} of {n} readings stored"
                        delivery.setdefault(f"{target}/{way}", []).append(elapsed)
        finally:
            influx.stop()
            victoria.stop()

    print("delivery of the day's backlog      seconds  readings/s")
    labels = {
        "ours": "ours: Writer from the queue",
        "sink": "ours: sink from memory",
        "peer": "peer from memory",
    }
    peers = {"influxdb1": "influxdb.write_points", "victoria": "influxdb-client batching"}
    for target, title in (
        ("influxdb1", "InfluxDB 1.6.7 (v1 API)"),
        ("victoria", "VictoriaMetrics 1.79 (v2 API)"),
    ):
        print(f"  {title}")
        times: dict[str, float] = {}
        for way in ("ours", "sink", "peer"):
            seconds = statistics.median(delivery[f"{target}/{way}"])
            times[way] = seconds
            label = labels[way] if way != "peer" else f"peer: {peers[target]}"
            print(f"    {label:<30} {seconds:7.2f}  {n / seconds:10.0f}")
        print(
            f"    ratio peer/ours: {times['peer'] / times['ours']:.2f}x; "
            f"queue overhead (ours/sink): {times['ours'] / times['sink']:.2f}x"
        )


if __name__ == "__main__":
    main()
