"""Nothing lost: the daemon as a subprocess, its on-disk queue, and real database servers.

InfluxDB stopped mid-run, the collector SIGKILLed with a backlog, a field type conflict on a
real InfluxDB 1.x, the queue's bounds, and a DATA_DIR that cannot be used.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.queue import QUEUE_FILE, QueueStore
from collector.simulators.household import Household
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from tests.harness import (
    Collector,
    queue_figures,
    reading_seconds,
    run_collector,
    senec_settings,
    unique,
    v1_settings,
)
from tests.servers import InfluxDB1, VictoriaMetrics, free_port

pytestmark = pytest.mark.servers


@pytest.fixture
def simulator() -> Iterator[SenecSimulator]:
    sim = SenecSimulator(SenecDevice(Household(seed=11)), tls=False).start()
    yield sim
    sim.stop()


def point_times(server: InfluxDB1, database: str, measurement: str) -> list[int]:
    return [int(point["time"]) for point in server.points(database, measurement)]


def test_influxdb_stopped_mid_run_then_every_reading_arrives_once(
    simulator: SenecSimulator, tmp_path: Path
) -> None:
    server = InfluxDB1(tmp_path / "influx")
    server.start()
    database, measurement = unique("db"), unique("SENEC")
    server.create_database(database)
    try:
        collector = Collector(
            tmp_path / "c",
            {**senec_settings(simulator), **v1_settings(server, database, measurement)},
        )
        collector.wait_for(
            lambda: len(point_times(server, database, measurement)) >= 3, what="3 points"
        )
        server.stop()
        collector.wait_events("write failed", 1)
        during = len(collector.named("reading"))
        collector.wait_events("reading", during + 5)  # five or more readings while it is away
        server.start()
        collector.wait_events("InfluxDB back", 1, timeout=60)
        collector.wait_events("reading", len(collector.named("reading")) + 2)
        assert collector.stop() == 0

        assert len(collector.named("write failed")) == 1  # then silence until it is back
        assert not collector.named("InfluxDB still unavailable")
        back = collector.named("InfluxDB back")[0]
        assert back["delivered"] >= 5
        assert back["after_s"] >= 1
        times = point_times(server, database, measurement)
        # One logged reading per device second (a second seen twice is skipped), so the points
        # are exactly the logged readings: none missing, none extra.
        assert len(collector.named("reading")) == len(reading_seconds(collector))
        assert sorted(times) == sorted(reading_seconds(collector))
        assert queue_figures(tmp_path / "c" / "data")["pending"] == 0
    finally:
        server.stop()


def test_sigkill_with_a_backlog_loses_nothing(
    victoria: VictoriaMetrics, simulator: SenecSimulator, tmp_path: Path
) -> None:
    """A backlog builds while nothing listens at INFLUX_URL; SIGKILL; a new process delivers it.

    VictoriaMetrics keeps duplicate samples, so it also shows that nothing arrives twice. The
    first run also shows the health check reporting the growing backlog.
    """
    measurement = unique("SENEC")
    data_dir = tmp_path / "data"
    common = {
        **senec_settings(simulator),
        "SENEC_INTERVAL": "1",
        "INFLUX_ORG": "-",
        "INFLUX_BUCKET": "solar",
        "INFLUX_MEASUREMENT": measurement,
        "DATA_DIR": str(data_dir),
        "HEALTH_BACKLOG_GROWING": "12s",
        "HEALTH_EVERY": "1",  # the backlog trend is sampled at every heartbeat
    }
    first = Collector(
        tmp_path / "first", {**common, "INFLUX_URL": f"http://127.0.0.1:{free_port()}"}
    )
    first.wait_events("write failed", 1)
    first.wait_for(
        lambda: "backlog growing" in run_collector(tmp_path, common, "healthcheck").stderr,
        timeout=45,
        what="healthcheck reporting the growing backlog",
    )
    health = run_collector(tmp_path, common, "healthcheck")
    assert health.returncode == 1
    assert "readings not yet in InfluxDB; last error: cannot reach InfluxDB" in health.stderr
    first.kill()
    logged = len(first.named("reading"))
    assert logged >= 10
    figures = queue_figures(data_dir)
    # Every reading logged as collected is on disk; one more may have been appended just
    # before the kill, before its log line.
    assert logged <= figures["pending"] <= logged + 1

    second = Collector(tmp_path / "second", {**common, "INFLUX_URL": victoria.url})
    second.wait_events("delivering readings from before the start", 1)
    second.wait_events("reading", 3)
    assert second.stop() == 0
    assert (
        second.named("delivering readings from before the start")[0]["pending"]
        == figures["pending"]
    )
    samples = victoria.samples(measurement)["house_power"]
    stamps = [stamp for stamp, _ in samples]
    # VictoriaMetrics keeps every sample it is sent, so the samples count the deliveries: each
    # logged reading once (a process never logs two readings of one device second), plus at
    # most the one appended just before the kill and not yet logged.
    first_seconds, second_seconds = reading_seconds(first), reading_seconds(second)
    assert len(first_seconds) == logged
    assert len(second_seconds) == len(second.named("reading"))
    assert logged + len(second_seconds) <= len(stamps) <= logged + len(second_seconds) + 1
    assert first_seconds | second_seconds <= set(stamps)  # nothing missing
    # A second may hold two samples only where the two processes meet: the first process's
    # last reading (or the unlogged one after it) and the second process's first one.
    twice = {stamp for stamp, count in Counter(stamps).items() if count > 1}
    assert all(max(first_seconds) <= stamp <= min(second_seconds) for stamp in twice), twice
    assert max(Counter(stamps).values()) <= 2
    assert queue_figures(data_dir)["pending"] == 0


def test_a_rejected_point_is_kept_aside_and_later_points_still_arrive(
    influxdb1: InfluxDB1, simulator: SenecSimulator, tmp_path: Path
) -> None:
    database, measurement = unique("db"), unique("SENEC")
    influxdb1.create_database(database)
    # house_power already exists as a string in this shard (1.x checks types per shard, so the
    # point is near now): our integer is a field type conflict.
    httpx.post(
        influxdb1.url + "/write",
        params={"db": database, "precision": "s"},
        content=f'{measurement} house_power="text" {int(time.time()) - 60}'.encode(),
    ).raise_for_status()
    data_dir = tmp_path / "c" / "data"
    collector = Collector(
        tmp_path / "c",
        {**senec_settings(simulator), **v1_settings(influxdb1, database, measurement)},
    )
    collector.wait_events("point rejected", 2)
    rejected = collector.named("point rejected")
    assert "field type conflict" in rejected[0]["reason"]
    assert rejected[0]["status"] == 400
    assert "moved to the rejected table" in rejected[0]["note"]
    figures = queue_figures(data_dir)
    assert figures["rejected"] >= 2
    assert "field type conflict" in figures["rejected_reasons"][0]["reason"]

    # The conflict goes away (the string point is dropped); later points arrive.
    influxdb1.query(f'DROP MEASUREMENT "{measurement}"', database)
    collector.wait_for(
        lambda: len(point_times(influxdb1, database, measurement)) >= 3, what="3 points"
    )
    assert not collector.named("write failed")  # never treated as an outage
    kept_aside = queue_figures(data_dir)["rejected"]
    assert kept_aside == len(collector.named("point rejected"))

    # `collector queue retry-rejected` puts them back; the running daemon delivers them.
    result = run_collector(tmp_path, {"DATA_DIR": str(data_dir)}, "queue", "retry-rejected")
    assert result.returncode == 0, result.stderr
    assert f"put {kept_aside} rejected readings back" in result.stdout
    collector.wait_for(
        lambda: (
            set(point_times(influxdb1, database, measurement))
            >= reading_seconds(collector) - {int(time.time())}
        ),
        what="the rejected readings in InfluxDB",
    )
    assert collector.stop() == 0
    assert sorted(point_times(influxdb1, database, measurement)) == sorted(
        reading_seconds(collector)
    )
    assert queue_figures(data_dir) | {"path": "", "size_bytes": 0} == {
        "path": "",
        "size_bytes": 0,
        "pending": 0,
        "rejected": 0,
        "oldest_pending": None,
        "oldest_queued": None,
        "rejected_reasons": [],
    }


@pytest.mark.parametrize(
    ("setting", "value"),
    [("BUFFER_MAX_AGE", "1d"), ("BUFFER_MAX_MB", "0.25")],
)
def test_the_queue_bounds_drop_the_oldest_with_one_warning(
    influxdb1: InfluxDB1, simulator: SenecSimulator, tmp_path: Path, setting: str, value: str
) -> None:
    """A queue left from two days without InfluxDB meets a tighter limit at the next start."""
    database, measurement = unique("db"), unique("SENEC")
    influxdb1.create_database(database)
    data_dir = tmp_path / "c" / "data"
    now = time.time()
    old_start = int(now) - 2 * 86400
    clock = [now - 2 * 86400.0]
    store = QueueStore(data_dir / QUEUE_FILE, clock=lambda: clock[0])
    store.open()
    padding = ",".join(f"pad{i}={i}i" for i in range(40))  # ~500 bytes a reading, like SENEC
    stamps = [old_start + i * 5 for i in range(600)] + [int(now) - 3600 + i for i in range(600)]
    for index, stamp in enumerate(stamps):  # 600 two days old, then 600 from the last hour
        if index == 600:
            clock[0] = now - 3600.0
        clock[0] += 1
        assert store.append(stamp, measurement, f"{measurement} {padding} {stamp}")
    store.close()

    collector = Collector(
        tmp_path / "c",
        {
            **senec_settings(simulator),
            **v1_settings(influxdb1, database, measurement),
            "SENEC_IGNORE": "house_power",  # the padded readings have no house_power either
            setting: value,
        },
    )
    collector.wait_events("reading", 2)
    assert collector.stop() == 0
    warnings = collector.named("queue limit reached, oldest readings dropped")
    assert len(warnings) == 1
    warning = warnings[0]
    assert warning["limit"] == f"{setting}={value}"
    assert warning["oldest"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old_start))
    dropped = warning["dropped"]
    if setting == "BUFFER_MAX_AGE":
        assert dropped == 600  # exactly the two-day-old ones
    else:
        assert 700 <= dropped <= 1150  # 0.25 MB keeps about 450 of these
    times = point_times(influxdb1, database, measurement)
    prefilled = [t for t in times if t < now - 60]
    assert sorted(prefilled) == stamps[dropped:]  # the oldest went; the rest arrived
    assert set(times) - set(prefilled) == reading_seconds(collector)


def test_an_unusable_data_dir_is_one_clear_error_and_readings_still_flow(
    influxdb1: InfluxDB1, simulator: SenecSimulator, tmp_path: Path
) -> None:
    database, measurement = unique("db"), unique("SENEC")
    influxdb1.create_database(database)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings = {
        **senec_settings(simulator),
        **v1_settings(influxdb1, database, measurement),
        "DATA_DIR": str(blocker / "data"),
        "TMPDIR": str(tmp_path),
    }
    collector = Collector(tmp_path / "c", settings)
    collector.wait_events("reading", 3)
    health = run_collector(tmp_path, settings, "healthcheck")
    assert collector.stop() == 0
    errors = [e for e in collector.events() if e["level"] == "error"]
    assert [e["event"] for e in errors] == ["queue cannot be written"]
    assert "cannot be created" in errors[0]["error"]
    assert "held in memory only" in errors[0]["note"]
    readings = collector.named("reading")
    assert all(reading["on_disk"] is False for reading in readings)
    assert health.returncode == 1
    assert "unhealthy: queue not on disk, readings held in memory only: DATA_DIR" in health.stderr
    assert sorted(point_times(influxdb1, database, measurement)) == sorted(
        reading_seconds(collector)
    )
    assert not collector.named("shutdown: readings lost")
