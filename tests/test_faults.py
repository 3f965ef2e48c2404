"""The fault matrix: each fault a collector meets in a house, injected end to end.

Every row runs the daemon as a process, a SENEC simulator at 1 s, and VictoriaMetrics behind a
proxy that can fail the way InfluxDB fails. Each row asserts the log line the user sees (said
once), what the health check answers meanwhile, and that every reading logged as collected is
in the database exactly once: VictoriaMetrics keeps every copy of a point it is sent, so a
second copy would show.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.health import check_health
from collector.simulators.household import Household
from collector.simulators.serve import RestartableServer
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from tests.harness import (
    Collector,
    logged_stamps,
    queue_figures,
    reading_seconds,
    run_collector,
    unique,
    v1_settings,
)
from tests.servers import InfluxDB1, VictoriaMetrics, free_port

pytestmark = pytest.mark.servers


# --- an InfluxDB that fails on demand -----------------------------------------------------------


class FaultyInflux:
    """VictoriaMetrics behind a proxy that answers as a failing InfluxDB does.

    `mode`: "pass"; "401"; "404" (no such bucket); "413" (a body over `limit` bytes is too
    large); "poison" and "conflict" (the first line written after the switch, and every batch
    holding it, is refused with 400 or 422 in InfluxDB's words, and nothing of such a batch is
    written); "slow" (no answer for 3 s, then 503, nothing written); "late" (the write is passed
    on and stored, but answered only after `late_by` seconds, when the client has given up).
    `down()` and `up()` close and open the port itself.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = free_port()
        self.mode = "pass"
        self.limit = 1200
        self.poison: str | None = None
        self.writes = 0
        self.refused_large = 0
        self.late_by = 2.5
        self.answered_late = 0
        self.stored: Counter[str] = Counter()  # lines passed on and taken, with repeats
        self.closing = False
        self.in_flight = 0
        self._server: RestartableServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> FaultyInflux:
        self.closing = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                answer = httpx.get(proxy.target + self.path, timeout=10)
                self._send(answer.status_code, answer.content)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with proxy._lock:
                    if proxy.closing:  # going away: this request is not taken at all
                        self.close_connection = True
                        return
                    proxy.in_flight += 1
                try:
                    status, text = proxy.decide(body)
                    if status is None:
                        answer = httpx.post(proxy.target + self.path, content=body, timeout=10)
                        if answer.status_code in (200, 204):
                            with proxy._lock:
                                proxy.stored.update(body.decode().splitlines())
                        if proxy.mode == "late":  # stored; the answer comes too late
                            time.sleep(proxy.late_by)
                            with proxy._lock:
                                proxy.answered_late += 1
                        self._send(answer.status_code, answer.content)
                    else:
                        self._send(status, json.dumps(text).encode())
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = RestartableServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def open(self) -> None:
        self.up()

    def down(self) -> None:
        """Go away as a server that is stopped: a write it took is answered, a later one on a
        kept-alive connection is not taken, and the port refuses. (Cutting a write that
        VictoriaMetrics already took would make the client send it again: a second copy that
        InfluxDB, keeping one point per series and second, would not show.)"""
        if self._server is None:
            return
        with self._lock:
            self.closing = True
        self._server.shutdown()
        deadline = time.monotonic() + 15
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        self._server.end_connections()
        self._server.server_close()
        self._server = None

    def decide(self, body: bytes) -> tuple[int | None, dict[str, str]]:
        """(status, JSON) to answer with, or (None, {}) to pass the write on."""
        lines = body.decode().splitlines()
        with self._lock:
            self.writes += 1
            mode = self.mode
            if mode in ("poison", "conflict") and self.poison is None and lines:
                self.poison = lines[-1]
        if mode == "401":
            return 401, {"code": "unauthorized", "message": "unauthorized access"}
        if mode == "404":
            return 404, {"code": "not found", "message": 'bucket "solar" not found'}
        if mode == "413" and len(body) > self.limit:
            with self._lock:
                self.refused_large += 1
            return 413, {"code": "request too large", "message": "unable to read data"}
        if mode == "slow":
            time.sleep(3.0)
            return 503, {"code": "unavailable", "message": "too busy"}
        if mode in ("poison", "conflict") and self.poison in lines:
            if mode == "poison":
                message = "partial write: unable to parse 'SENEC house_power=': dropped=1"
                return 400, {"code": "invalid", "message": message}
            message = (
                "failure writing points to database: partial write: field type conflict: "
                'input field "house_power" on measurement "SENEC" is type float, already '
                "exists as type string dropped=1"
            )
            return 422, {"code": "unprocessable entity", "message": message}
        return None, {}


# --- one row's house ------------------------------------------------------------------------


@dataclass
class House:
    tmp: Path
    victoria: VictoriaMetrics
    influx: FaultyInflux
    simulator: SenecSimulator
    measurement: str = field(default_factory=lambda: unique("SENEC"))
    collector: Collector | None = None
    data_dir_at: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.data_dir_at or self.tmp / "data"

    def settings(self, **extra: str) -> dict[str, str]:
        return {
            "SENEC_HOST": self.simulator.address,
            "SENEC_SCHEMA": "http",
            "SENEC_INTERVAL": "1",
            "INFLUX_URL": self.influx.url,
            "INFLUX_ORG": "-",
            "INFLUX_BUCKET": "solar",
            "INFLUX_MEASUREMENT": self.measurement,
            "INFLUX_TIMEOUT": "1",
            "HEALTH_EVERY": "1",
            "HEALTH_BACKLOG_GROWING": "2s",
            "DATA_DIR": str(self.data_dir),
            **extra,
        }

    def start(self, process: str = "c", **extra: str) -> Collector:
        """The daemon, logging into the folder `process` (one per process of a row)."""
        self.collector = Collector(self.tmp / process, self.settings(**extra))
        return self.collector

    def restart_simulator(self) -> None:
        port = int(self.simulator.address.rsplit(":", 1)[1])
        device = self.simulator.device
        self.simulator.stop()
        self.simulator = SenecSimulator(device, port=port, tls=False).start()

    def health(self, later: float = 0.0) -> list[str]:
        """What `collector healthcheck` answers now, or `later` seconds from now if nothing
        changed meanwhile (its limits count from the health file the daemon keeps)."""
        return check_health(self.data_dir, now=time.time() + later)

    def drained(self) -> bool:
        return bool(queue_figures(self.data_dir)["pending"] == 0)


def exactly_once(house: House, collector: Collector, left_out: int = 0) -> list[int]:
    """Every reading logged as collected is in the database once, and nothing else is; the
    stamps of the ones `left_out` (refused points) are returned."""
    logged = reading_seconds(collector)
    assert len(logged) == len(collector.named("reading"))
    stamps = [stamp for stamp, _ in house.victoria.samples(house.measurement)["house_power"]]
    counts = Counter(stamps)
    assert max(counts.values()) == 1, [s for s, n in counts.items() if n > 1]
    missing = sorted(logged - set(stamps))
    assert len(missing) == left_out, missing
    assert set(stamps) <= logged
    return missing


@pytest.fixture
def house(tmp_path: Path, victoria: VictoriaMetrics) -> Iterator[House]:
    simulator = SenecSimulator(SenecDevice(Household(seed=7)), tls=False).start()
    influx = FaultyInflux(victoria.url).up()
    world = House(tmp_path, victoria, influx, simulator)
    yield world
    world.simulator.stop()
    influx.down()


# --- the rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    on: Callable[[House], None]
    off: Callable[[House], None]
    line: str  # the event the user sees, once (a device's after two "poll failed")
    says: str  # a piece of its error text
    health: str  # a piece of the health check's answer while it goes on ("" = healthy)
    later: float  # ... as the health check answers this many seconds on
    back: str  # the event that says it is over


def _faults(**changes: Any) -> Callable[[House], None]:
    return lambda house: house.simulator.device.faults.update(changes)


def _mode(mode: str) -> Callable[[House], None]:
    def switch(house: House) -> None:
        house.influx.mode = mode

    return switch


DEVICE_NOTE = "senec: no reading for"  # after STALE_MINIMUM (60 s) of silence
WRITE_NOTE = "readings not yet in InfluxDB; last error:"

ROWS = [
    Row(
        "device restarting (refuses, then answers)",
        lambda house: house.simulator.stop(),
        lambda house: house.restart_simulator(),
        "poll failed, backing off",
        "127.0.0.1",
        DEVICE_NOTE,
        90,
        "device back",
    ),
    Row(
        "device slower than its timeout",
        _faults(delay=3.0),
        _faults(delay=0.0),
        "poll failed, backing off",
        "no answer",
        DEVICE_NOTE,
        90,
        "device back",
    ),
    Row(
        "device answers HTTP 500",
        _faults(error_rate=1.0),
        _faults(error_rate=0.0),
        "poll failed, backing off",
        "500",
        DEVICE_NOTE,
        90,
        "device back",
    ),
    Row(
        "device breaks its answer off in the middle",
        _faults(truncate_rate=1.0),
        _faults(truncate_rate=0.0),
        "poll failed, backing off",
        "",
        DEVICE_NOTE,
        90,
        "device back",
    ),
    Row(
        "device resets the connection in the middle of its answer",
        _faults(reset_rate=1.0),
        _faults(reset_rate=0.0),
        "poll failed, backing off",
        "broke off its answer: the connection was reset",
        DEVICE_NOTE,
        90,
        "device back",
    ),
    Row(
        "device answers something that is not JSON",
        _faults(malformed_rate=1.0),
        _faults(malformed_rate=0.0),
        "poll failed, backing off",
        "not valid JSON",
        DEVICE_NOTE,
        90,
        "device back",
    ),
    Row(
        "InfluxDB down",
        lambda house: house.influx.down(),
        lambda house: house.influx.open(),
        "write failed",
        "",
        WRITE_NOTE,
        5,
        "InfluxDB back",
    ),
    Row(
        "InfluxDB refuses the token (401)",
        _mode("401"),
        _mode("pass"),
        "write failed",
        "refused the credentials",
        WRITE_NOTE,
        5,
        "InfluxDB back",
    ),
    Row(
        "InfluxDB has no such bucket (404)",
        _mode("404"),
        _mode("pass"),
        "write failed",
        "404",
        WRITE_NOTE,
        5,
        "InfluxDB back",
    ),
    Row(
        "InfluxDB slower than INFLUX_TIMEOUT",
        _mode("slow"),
        _mode("pass"),
        "write failed",
        "did not answer within",
        WRITE_NOTE,
        5,
        "InfluxDB back",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_a_fault_is_said_once_checked_by_the_health_check_and_loses_nothing(
    house: House, row: Row
) -> None:
    collector = house.start()
    collector.wait_events("reading", 2)
    row.on(house)
    collector.wait_events(row.line, 1)
    first = next(e for e in collector.events() if e["event"] in (row.line, "poll failed"))
    assert row.says in first.get("error", ""), first
    collector.wait_for(
        lambda: any(row.health in problem for problem in house.health(row.later)),
        timeout=20,
        what=f"health check saying {row.health!r}",
    )
    before = len(collector.named("reading"))
    row.off(house)
    collector.wait_events(row.back, 1, timeout=60)
    collector.wait_events("reading", before + 2, timeout=30)
    collector.wait_for(house.drained, timeout=30, what="the queue drained")
    collector.wait_for(lambda: house.health() == [], timeout=10, what="healthy again")
    assert collector.stop() == 0
    lines = [event["event"] for event in collector.events()]
    assert lines.count(row.line) == 1
    assert lines.count("poll failed") <= 2  # before a device's back-off line, then silence
    assert lines.count(row.back) == 1
    assert not collector.named("poll failed: a bug in the collector")
    exactly_once(house, collector)


# --- rows with a flow of their own ----------------------------------------------------------


def test_a_batch_too_large_is_split_and_both_halves_arrive(house: House) -> None:
    """413: a backlog built while InfluxDB was down comes back as one batch over the limit; it
    is halved until each part fits, as Telegraf does, and nothing is refused."""
    collector = house.start()
    collector.wait_events("reading", 2)
    house.influx.down()
    collector.wait_events("write failed", 1)
    collector.wait_events("reading", len(collector.named("reading")) + 4)
    house.influx.mode = "413"
    house.influx.limit = 1200  # two readings' lines: the backlog of four or more is too large
    house.influx.open()
    collector.wait_events("InfluxDB back", 1, timeout=60)
    collector.wait_for(house.drained, timeout=30, what="the queue drained")
    assert collector.stop() == 0
    assert house.influx.refused_large >= 1
    assert not collector.named("point rejected")
    assert collector.named("InfluxDB back")[0]["delivered"] >= 4
    exactly_once(house, collector)


@pytest.mark.parametrize(
    ("mode", "status", "says"),
    [("poison", 400, "partial write"), ("conflict", 422, "field type conflict")],
    ids=["a point InfluxDB cannot parse (400)", "a field type conflict (422)"],
)
def test_a_refused_point_is_kept_aside_and_the_others_arrive_once(
    house: House, mode: str, status: int, says: str
) -> None:
    collector = house.start()
    collector.wait_events("reading", 2)
    house.influx.mode = mode
    collector.wait_events("point rejected", 1)
    collector.wait_events("reading", len(collector.named("reading")) + 2)
    collector.wait_for(house.drained, timeout=30, what="the queue drained")
    assert house.health() == []  # one refused point is no reason to restart anything
    assert collector.stop() == 0
    rejected = collector.named("point rejected")
    assert len(rejected) == 1
    assert rejected[0]["status"] == status
    assert says in rejected[0]["reason"]
    assert queue_figures(house.data_dir)["rejected"] == 1
    assert house.influx.poison is not None
    poison_time = int(house.influx.poison.rsplit(" ", 1)[1])
    assert exactly_once(house, collector, left_out=1) == [poison_time]
    assert not collector.named("write failed")  # refused points are no outage


def test_a_device_name_that_does_not_resolve(house: House) -> None:
    """A host name the resolver refuses without asking a server (a label may not start with
    '-'): one line naming it; the health check says so once the limit has passed."""
    collector = house.start(SENEC_HOST="-senec.lan")
    collector.wait_events("poll failed, backing off", 1)
    first = collector.named("poll failed")[0]
    assert "-senec.lan" in first["error"]
    assert first["kind"] == "DeviceUnreachable"
    assert any("senec: no reading yet for" in p for p in house.health(later=90))
    assert collector.stop() == 0
    assert not collector.named("reading")
    assert len(collector.named("poll failed, backing off")) == 1


def test_a_certificate_from_another_ca(house: House, tmp_path: Path) -> None:
    device = SenecSimulator(SenecDevice(Household(seed=8)), tls=True).start()
    other = SenecSimulator(SenecDevice(), tls=True)  # only for its CA
    ca = tmp_path / "other-ca.pem"
    ca.write_bytes(other.ca_pem or b"")
    other.server.server_close()
    try:
        collector = house.start(
            SENEC_HOST=device.address, SENEC_SCHEMA="https", SENEC_CA_FILE=str(ca)
        )
        collector.wait_events("poll failed, backing off", 1)
        first = collector.named("poll failed")[0]
        assert "TLS handshake" in first["error"]
        assert "SENEC_CA_FILE" in first["error"]
        assert any("senec: no reading yet for" in p for p in house.health(later=90))
        assert collector.stop() == 0
        assert not collector.named("reading")
    finally:
        device.stop()


# --- the machine ------------------------------------------------------------------------------


def test_a_full_data_dir(house: House, tmp_path: Path) -> None:
    """DATA_DIR on a small tmpfs (mounted by the test, as root) that fills up while running:
    one error line, the health check says the queue is not on disk, and the readings held in
    memory still reach the database, once each."""
    assert os.geteuid() == 0, "mounting a tmpfs needs root; CI runs the suite as root"
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    try:
        house.data_dir_at = small / "data"
        collector = house.start()
        collector.wait_events("reading", 2)
        with (small / "filler").open("wb") as filler:  # every byte that is left
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        collector.wait_events("queue cannot be written", 1)
        error = collector.named("queue cannot be written")[0]["error"]
        assert "full" in error or "space" in error, error
        collector.wait_for(
            lambda: any("queue not on disk" in p for p in house.health()),
            what="the health check saying the queue is not on disk",
        )
        held = len(collector.named("reading"))
        collector.wait_events("reading", held + 3)
        collector.wait_for(
            lambda: (
                len(house.victoria.samples(house.measurement).get("house_power", [])) >= held + 3
            ),
            what="readings held in memory written",
        )
        assert collector.stop() == 0
        assert len(collector.named("queue cannot be written")) == 1
        stopped = collector.named("stopped")[0]
        assert stopped["left_in_queue"] == 0
        assert not collector.named("shutdown: readings lost")
        exactly_once(house, collector)
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)


@pytest.mark.parametrize(
    ("signal_name", "seed"),
    [("SIGTERM", 1), ("SIGTERM", 2), ("SIGKILL", 1), ("SIGKILL", 2), ("SIGKILL", 3)],
)
def test_a_signal_at_a_random_moment(house: House, signal_name: str, seed: int) -> None:
    """SIGTERM or SIGKILL at a seeded random moment of a running daemon, while it polls and
    writes; a new process goes on. SIGTERM: every reading arrives once. SIGKILL: nothing is
    lost; besides the readings logged, only what was on its way when the process died may
    arrive (a batch written whose removal from the queue was not yet on disk, a reading on
    disk not yet logged), all from before the kill."""
    moment = random.Random(seed).uniform(0.0, 2.0)
    first = house.start("first")
    first.wait_events("reading", 3)
    time.sleep(moment)  # the moment itself is what the row varies
    killed_at = time.time()
    if signal_name == "SIGKILL":
        first.kill()
    else:
        assert first.stop() == 0
    second = house.start("second")
    second.wait_events("reading", 3)
    second.wait_for(house.drained, timeout=30, what="the queue drained")
    assert second.stop() == 0
    # Two processes may each log a reading of the same device second where they meet (the
    # first's last poll and the second's first): two readings, two points; so the readings
    # logged are counted per second, and the samples must match them.
    logged = logged_stamps(first) + logged_stamps(second)
    samples = Counter(
        stamp for stamp, _ in house.victoria.samples(house.measurement)["house_power"]
    )
    assert not logged - samples, sorted(logged - samples)  # nothing lost
    extra = samples - logged
    if signal_name == "SIGTERM":
        assert not extra, sorted(extra)
        assert first.named("stopped")[0]["left_in_queue"] == 0
    else:
        assert all(stamp <= killed_at for stamp in extra), (sorted(extra), killed_at)


LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)


@pytest.mark.parametrize("step", ["+1h", "-1h"])
def test_a_wall_clock_step(house: House, tmp_path: Path, step: str) -> None:
    """The machine's clock steps by an hour while the daemon runs (libfaketime in its process,
    the monotonic clock left alone, as NTP does): one line; the device clock, now an hour off
    the collector's, is said once; readings keep coming and arrive once."""
    assert LIBFAKETIME is not None, "libfaketime is missing: apt-get install faketime"
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    faked = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }
    collector = house.start(**faked)
    collector.wait_events("reading", 3)
    offset.write_text(f"{step}\n")
    collector.wait_events("wall clock stepped", 1)
    collector.wait_events("reading", len(collector.named("reading")) + 3)
    collector.wait_for(house.drained, timeout=30, what="the queue drained")
    health = run_collector(house.tmp, {"DATA_DIR": str(house.data_dir), **faked}, "healthcheck")
    assert health.returncode == 0, health.stderr
    assert collector.stop() == 0
    stepped = collector.named("wall clock stepped")
    assert len(stepped) == 1
    assert stepped[0]["by"] in (f"{step[0]}1.0 h", f"{step[0]}60.0 min")  # as measured
    assert len(collector.named("device clock is off, readings take the collector's time")) == 1
    exactly_once(house, collector)


def test_a_cloud_asking_to_wait_with_429_and_retry_after(house: House) -> None:
    """SENEC's servers answer 429 with Retry-After: 120 from the first request on: one line
    naming it, the health check says so once the limit has passed, nothing is written. (That
    the loop waits the two minutes is test_loop's: here the interval is a minute anyway.)"""
    from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator

    cloud = SenecCloudSimulator(SenecCloud()).start()
    cloud.cloud.faults.rate_limited = True
    account = cloud.cloud.account
    try:
        collector = house.start(
            SENEC_HOST="",
            SENEC_ADAPTER="cloud",
            SENEC_USERNAME=account.username,
            SENEC_PASSWORD=account.password,
            SENEC_TOTP_URI=cloud.totp_uri(),
            SENEC_INTERVAL="60",
            **{f"SENEC_{key.upper()}": value for key, value in cloud.settings().items()},
        )
        collector.wait_events("poll failed", 1)
        first = collector.named("poll failed")[0]
        assert "HTTP 429" in first["error"], first
        assert first["kind"] == "DeviceUnreachable"
        assert any("senec-cloud: no reading yet for" in p for p in house.health(later=400))
        assert collector.stop() == 0
        assert len(collector.named("poll failed")) == 1
        assert not collector.named("reading")
    finally:
        cloud.stop()


def test_an_influxdb_1_without_the_database(house: House, influxdb1: InfluxDB1) -> None:
    """A real InfluxDB 1.x whose database does not exist yet: one line naming it, the health
    check says the backlog grows; once it is created every reading arrives (InfluxDB keeps one
    point per series and second, so the points are the logged readings' seconds)."""
    database = unique("db")
    collector = house.start(**v1_settings(influxdb1, database, house.measurement))
    collector.wait_events("write failed", 1)
    assert "database not found" in collector.named("write failed")[0]["error"]
    collector.wait_for(
        lambda: any("backlog growing" in p for p in house.health()),
        what="the health check saying the backlog grows",
    )
    influxdb1.create_database(database)
    collector.wait_events("InfluxDB back", 1, timeout=60)
    collector.wait_events("reading", len(collector.named("reading")) + 2)
    collector.wait_for(house.drained, timeout=30, what="the queue drained")
    assert collector.stop() == 0
    assert len(collector.named("write failed")) == 1
    times = sorted(int(point["time"]) for point in influxdb1.points(database, house.measurement))
    assert times == sorted(reading_seconds(collector))


def test_an_influxdb_that_stores_a_write_but_answers_after_the_timeout(
    house: House, influxdb1: InfluxDB1
) -> None:
    """InfluxDB stores a batch but answers after INFLUX_TIMEOUT: the collector cannot know that
    it was stored, says the write failed, and sends the batch again. Delivery is at least once;
    InfluxDB keeps one point per series and second, so each reading is there once (on
    VictoriaMetrics, which keeps every copy, a second copy would show: that is why this row
    runs on a real InfluxDB 1.x)."""
    database = unique("db")
    influxdb1.create_database(database)
    proxy = FaultyInflux(influxdb1.url).up()
    try:
        settings = v1_settings(influxdb1, database, house.measurement)
        collector = house.start(**{**settings, "INFLUX_URL": proxy.url})
        collector.wait_events("reading", 2)
        proxy.mode = "late"
        collector.wait_events("write failed", 1)
        assert (
            "did not answer within 1 s (INFLUX_TIMEOUT)"
            in (collector.named("write failed")[0]["error"])
        )
        collector.wait_for(lambda: proxy.answered_late >= 2, what="two writes answered late")
        proxy.mode = "pass"
        collector.wait_events("InfluxDB back", 1, timeout=60)
        collector.wait_events("reading", len(collector.named("reading")) + 2)
        collector.wait_for(house.drained, timeout=30, what="the queue drained")
        assert collector.stop() == 0
    finally:
        proxy.down()
    assert len(collector.named("write failed")) == 1
    assert max(proxy.stored.values()) >= 2  # a batch was stored, then sent and stored again
    times = [int(point["time"]) for point in influxdb1.points(database, house.measurement)]
    assert len(times) == len(set(times))
    assert sorted(times) == sorted(reading_seconds(collector))


def test_an_influxdb_1_that_keeps_the_good_points_of_a_batch(
    house: House, influxdb1: InfluxDB1
) -> None:
    """A real InfluxDB 1.x refuses one point of a batch for a field type conflict and stores
    the others ("partial write", HTTP 400). The collector halves the batch to find the refused
    point, moves it aside with InfluxDB's words, and sends the others again, which InfluxDB
    keeps as the same points: every reading once, the refused point said once."""
    database = unique("db")
    influxdb1.create_database(database)
    own = unique("collector")
    # the collector's own figures' `readings` field, already a string in this shard: its
    # next own point conflicts, the readings written beside it do not
    seed = httpx.post(
        influxdb1.url + "/write",
        params={"db": database, "precision": "s"},
        content=f'{own} readings="ten" {int(time.time())}',
        timeout=10,
    )
    assert seed.status_code == 204, seed.text
    collector = house.start(
        **v1_settings(influxdb1, database, house.measurement),
        SELF_MEASUREMENT=own,
        SELF_EVERY="3",
        INFLUX_FLUSH_INTERVAL="2",  # the own point goes with two readings or more
    )
    collector.wait_events("point rejected", 1, timeout=30)
    influxdb1.query(f'DROP MEASUREMENT "{own}"', database)  # the next own points fit again
    collector.wait_events("reading", len(collector.named("reading")) + 4)
    collector.wait_for(house.drained, timeout=30, what="the queue drained")
    assert collector.stop() == 0
    rejected = collector.named("point rejected")
    assert rejected
    for event in rejected:
        assert event["measurement"] == own
        assert event["status"] == 400
        assert "partial write" in event["reason"]
        assert "field type conflict" in event["reason"]
    assert queue_figures(house.data_dir)["rejected"] == len(rejected)
    assert not collector.named("write failed")  # a refused point is no outage
    times = [int(point["time"]) for point in influxdb1.points(database, house.measurement)]
    assert len(times) == len(set(times))
    assert sorted(times) == sorted(reading_seconds(collector))
