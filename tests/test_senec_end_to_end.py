"""The daemon as a subprocess: simulator → collector → real InfluxDB 1.x / VictoriaMetrics."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.simulators.household import Household
from collector.sources.senec.fields import FIELDS
from collector.sources.senec.normalise import MAPPING
from collector.sources.senec.simulator import Faults, SenecDevice, SenecSimulator
from collector.values import round1, round_int
from tests.conftest import recording
from tests.harness import (
    INFLUX_TYPES,
    Collector,
    clean_environment,
    reading_seconds,
    senec_settings,
    unique,
    v1_settings,
)
from tests.servers import InfluxDB1, VictoriaMetrics

pytestmark = pytest.mark.servers


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SenecSimulator]:
    sim = SenecSimulator(SenecDevice(Household(seed=7))).start()
    yield sim
    sim.stop()


@pytest.fixture
def ca_file(simulator: SenecSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    assert simulator.ca_pem is not None
    path.write_bytes(simulator.ca_pem)
    return path


def test_recorded_answer_arrives_in_influxdb1_with_every_value_and_type(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    """The 2025-07-24 recording replayed over verified HTTPS; InfluxDB 1.x holds the reference.

    Its clock is set to this second and stands still there (a recording's own clock, a year
    off, would give way to the poll time: tests/test_clock.py)."""
    answer = recording("senec-local-2025-07-24.response.json")
    frozen = int(time.time())
    answer["RTC"]["WEB_TIME"] = f"u3_{frozen + 120 * 60:08X}"  # local time: UTC_OFFSET 120 min
    device = SenecDevice(replay=answer)
    sim = SenecSimulator(device).start()
    try:
        ca = tmp_path / "ca.pem"
        ca.write_bytes(sim.ca_pem or b"")
        database, measurement = unique("db"), unique("SENEC")
        influxdb1.create_database(database)
        collector = Collector(
            tmp_path / "c",
            {**senec_settings(sim, ca), **v1_settings(influxdb1, database, measurement)},
        )
        collector.wait_events("reading", 1)
        collector.wait_events("device clock stands still", 1)  # polled on, the same second
        assert collector.stop() == 0
    finally:
        sim.stop()

    # The recorded clock does not move: the first poll is the one reading and the one point.
    assert len(collector.named("reading")) == 1
    [still] = collector.named("device clock stands still")
    assert still["time"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(frozen))
    points = influxdb1.points(database, measurement)
    assert len(points) == 1
    point = points[0]
    assert point["time"] == frozen
    expected = {
        "application_version": "0826",
        "bat_charge_current": 1.6,
        "bat_fuel_charge": 82.8,
        "bat_power_minus": 0,
        "bat_power_plus": 92,
        "bat_voltage": 55.5,
        "case_temp": 31.5,
        "current_state": "PEAK-SHAVING: WARTEN",
        "current_state_code": 56,
        "current_state_ok": True,
        "ev_connected": True,
        "grid_power_minus": 775,
        "grid_power_plus": 0,
        "house_power": 360,
        "inverter_power": 1226,
        "measure_time": frozen,
        "mpp1_power": 602,
        "mpp2_power": 0,
        "mpp3_power": 624,
        "power_ratio": 100.0,
        "wallbox_charge_power": 0,
        "wallbox_charge_power0": 0,
        "wallbox_charge_power1": 0,
        "wallbox_charge_power2": 0,
        "wallbox_charge_power3": 0,
    }
    for name, value in expected.items():
        assert point[name] == value, name
    assert isinstance(point["response_duration"], int)
    assert 0 <= point["response_duration"] < 5000
    types = influxdb1.field_types(database, measurement)
    assert types == {
        name: INFLUX_TYPES[spec.type] for name, spec in FIELDS.items() if name in MAPPING
    }

    readings = collector.named("reading")
    assert readings[0]["state"] == "PEAK-SHAVING: WARTEN"
    assert readings[0]["grid_w"] == -775
    assert readings[0]["battery_w"] == 92
    assert collector.named("stopped")[0]["delivered"] == len(readings)


def test_live_household_over_the_v2_api_into_victoria_metrics(
    victoria: VictoriaMetrics, simulator: SenecSimulator, ca_file: Path, tmp_path: Path
) -> None:
    """Each logged reading is a point in VictoriaMetrics at the simulator's time, with its data."""
    measurement = unique("SENEC")
    collector = Collector(
        tmp_path / "c",
        {
            **senec_settings(simulator, ca_file),
            "SENEC_INTERVAL": "1",
            "INFLUX_URL": victoria.url,
            "INFLUX_ORG": "-",
            "INFLUX_BUCKET": "solar",
            "INFLUX_MEASUREMENT": measurement,
            "INFLUX_TOKEN": "not-needed",
        },
    )
    collector.wait_events("reading", 4)
    health = subprocess.run(
        [sys.executable, "-m", "collector", "healthcheck"],
        env=clean_environment(DATA_DIR=str(tmp_path / "c" / "data")),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert health.returncode == 0, health.stderr
    assert collector.stop() == 0
    readings = collector.named("reading")
    assert len(readings) >= 4
    assert any(e["event"] == "state names read from the device" for e in collector.events())

    series = victoria.series(measurement)
    numeric = [n for n in MAPPING if FIELDS[n].type is not str]
    assert set(series) >= set(numeric)
    stamps = set(series["house_power"])
    assert stamps == reading_seconds(collector)  # a point for every reading, none extra
    served = {s.time: s.snapshot for s in simulator.device.served if s.snapshot}
    for stamp in stamps:
        snapshot = served[stamp]
        assert series["measure_time"][stamp] == stamp
        assert series["house_power"][stamp] == pytest.approx(round_int(snapshot["house"]), abs=1)
        assert series["inverter_power"][stamp] == pytest.approx(round_int(snapshot["pv"]), abs=1)
        grid, battery = snapshot["grid"], snapshot["battery"]
        assert series["grid_power_plus"][stamp] == pytest.approx(max(round_int(grid), 0), abs=1)
        assert series["grid_power_minus"][stamp] == pytest.approx(max(round_int(-grid), 0), abs=1)
        assert series["bat_power_plus"][stamp] == pytest.approx(max(round_int(battery), 0), abs=1)
        assert series["bat_fuel_charge"][stamp] == pytest.approx(round1(snapshot["soc"]), abs=0.1)
        assert series["current_state_code"][stamp] == snapshot["state"]
        assert series["ev_connected"][stamp] == snapshot["ev_connected"][0]
        # The balance holds after rounding: PV − house − battery + grid ≈ 0.
        balance = (
            series["inverter_power"][stamp]
            - series["house_power"][stamp]
            - series["bat_power_plus"][stamp]
            + series["bat_power_minus"][stamp]
            + series["grid_power_plus"][stamp]
            - series["grid_power_minus"][stamp]
        )
        assert abs(balance) <= 3


def test_device_faults_cost_one_line_and_one_reading_each(
    influxdb1: InfluxDB1, simulator: SenecSimulator, ca_file: Path, tmp_path: Path
) -> None:
    database, measurement = unique("db"), unique("SENEC")
    influxdb1.create_database(database)
    faults: Faults = simulator.device.faults
    collector = Collector(
        tmp_path / "c",
        {**senec_settings(simulator, ca_file), **v1_settings(influxdb1, database, measurement)},
    )
    collector.wait_events("reading", 1)
    faults.update({"script": ["500", "malformed", "truncated"]})
    collector.wait_events("device back", 1, timeout=30)
    faults.update({"sentinels": {"ENERGY.GUI_GRID_POW": "VARIABLE_NOT_FOUND"}})
    collector.wait_for(
        lambda: len([e for e in collector.named("reading") if e.get("missing_fields") == 2]) >= 3,
        what="3 readings without grid power",
    )
    faults.update({"sentinels": {}})
    collector.wait_events("value usable again", 1)
    after = len(collector.named("reading"))
    collector.wait_events("reading", after + 1)
    assert collector.stop() == 0

    failed = collector.named("poll failed") + collector.named("poll failed, backing off")
    assert [e["kind"] for e in failed] == ["DeviceUnreachable", "ProtocolError", "ProtocolError"]
    assert "HTTP 500" in failed[0]["error"]
    assert "not valid JSON" in failed[1]["error"]
    assert "broke off" in failed[2]["error"]
    assert collector.named("device back")[0]["failed_polls"] == 3
    unusable = collector.named("value unusable, fields from it are left out")
    assert len(unusable) == 1  # once per variable, not once per reading
    assert unusable[0]["variable"] == "ENERGY.GUI_GRID_POW"
    assert unusable[0]["problem"] == "VARIABLE_NOT_FOUND"
    assert "Traceback" not in collector.text()

    points = influxdb1.points(database, measurement)
    assert {p["time"] for p in points} == reading_seconds(collector)
    without_grid = [p for p in points if p["grid_power_plus"] is None]
    assert len(without_grid) >= 3
    assert all(p["grid_power_minus"] is None and p["house_power"] is not None for p in without_grid)
    assert points[-1]["grid_power_plus"] is not None


def test_influxdb_outage_is_logged_once_and_every_reading_arrives(
    simulator: SenecSimulator, ca_file: Path, tmp_path: Path
) -> None:
    server = InfluxDB1(tmp_path / "influx")
    server.start()
    database, measurement = unique("db"), unique("SENEC")
    server.create_database(database)
    server.stop()
    try:
        collector = Collector(
            tmp_path / "c",
            {**senec_settings(simulator, ca_file), **v1_settings(server, database, measurement)},
        )
        collector.wait_events("write failed", 1)
        collector.wait_events("reading", 4)
        server.start()
        collector.wait_events("InfluxDB back", 1, timeout=30)
        collector.wait_events("reading", len(collector.named("reading")) + 1)
        assert collector.stop() == 0
        assert len(collector.named("write failed")) == 1
        back = collector.named("InfluxDB back")[0]
        assert back["delivered"] >= 4
        assert back["after_s"] >= 1
        assert (
            "Connection refused" in collector.named("write failed")[0]["error"]
            or "cannot reach InfluxDB" in collector.named("write failed")[0]["error"]
        )
        points = server.points(database, measurement)
        assert [p["time"] for p in points] == sorted(reading_seconds(collector))
    finally:
        server.stop()


def test_rejected_points_are_logged_with_influxdbs_reason_and_not_retried(
    influxdb1: InfluxDB1, simulator: SenecSimulator, ca_file: Path, tmp_path: Path
) -> None:
    import httpx

    database, measurement = unique("db"), unique("SENEC")
    influxdb1.create_database(database)
    # house_power already exists as a float in this shard (1.x checks types per shard, so the
    # point is near now): our integer is a field type conflict.
    stamp = int(time.time()) - 60
    httpx.post(
        influxdb1.url + "/write",
        params={"db": database, "precision": "s"},
        content=f"{measurement} house_power=1.5 {stamp}".encode(),
    ).raise_for_status()
    collector = Collector(
        tmp_path / "c",
        {**senec_settings(simulator, ca_file), **v1_settings(influxdb1, database, measurement)},
    )
    collector.wait_events("point rejected", 2)
    assert collector.stop() == 0
    rejected = collector.named("point rejected")
    assert "field type conflict" in rejected[0]["reason"]
    assert rejected[0]["status"] == 400
    assert not collector.named("write failed")  # not treated as an outage, not retried
    stopped = collector.named("stopped")[0]
    assert stopped["rejected"] == len(rejected)
    assert stopped["delivered"] == 0


def test_wrong_credentials_give_one_clear_line(
    simulator: SenecSimulator, ca_file: Path, tmp_path: Path
) -> None:
    server = InfluxDB1(tmp_path / "influx", auth=True)
    server.start()
    try:
        server.query("CREATE USER admin WITH PASSWORD 'right' WITH ALL PRIVILEGES")
        database, measurement = unique("db"), unique("SENEC")
        server.query(f'CREATE DATABASE "{database}"', auth=("admin", "right"))
        collector = Collector(
            tmp_path / "c",
            {
                **senec_settings(simulator, ca_file),
                **v1_settings(server, database, measurement),
                "INFLUX_TOKEN": "admin:wrong-secret-42",
            },
        )
        collector.wait_events("write failed", 1)
        collector.wait_events("reading", 4)
        assert collector.stop() == 0
        failures = collector.named("write failed")
        assert len(failures) == 1
        assert "HTTP 401" in failures[0]["error"]
        assert "INFLUX_TOKEN" in failures[0]["error"]
        assert database in failures[0]["error"]
        assert "wrong-secret-42" not in collector.text()
        left = collector.named("shutdown: readings left in the queue")
        assert left
        assert left[0]["pending"] >= 4
        assert collector.named("stopped")[0]["left_in_queue"] == left[0]["pending"]
    finally:
        server.stop()


def test_state_names_come_from_the_device_once_it_serves_them(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    household = Household(seed=3)
    household.forced_state = 101  # a state newer than the built-in table
    device = SenecDevice(
        household, faults=Faults(language_files=False), extra_states={101: "SIMULIERTER ZUSTAND"}
    )
    sim = SenecSimulator(device, tls=False).start()
    try:
        database, measurement = unique("db"), unique("SENEC")
        influxdb1.create_database(database)
        collector = Collector(
            tmp_path / "c", {**senec_settings(sim), **v1_settings(influxdb1, database, measurement)}
        )
        collector.wait_events("reading", 2)
        assert collector.named("reading")[0]["state"] == "101"
        assert len(collector.named("state names not readable from the device")) == 1
        device.faults.update({"language_files": True})
        collector.wait_events("state names read from the device", 1, timeout=20)
        collector.wait_for(
            lambda: collector.named("reading")[-1]["state"] == "SIMULIERTER ZUSTAND",
            what="a reading with the device's name",
        )
        assert collector.stop() == 0
    finally:
        sim.stop()
    names = {p["current_state"] for p in influxdb1.points(database, measurement)}
    assert names == {"101", "SIMULIERTER ZUSTAND"}


def test_the_v2_api_against_influxdb_before_1_8_says_to_use_v1(
    influxdb1: InfluxDB1, simulator: SenecSimulator, ca_file: Path, tmp_path: Path
) -> None:
    database = unique("db")
    influxdb1.create_database(database)
    settings = {**senec_settings(simulator, ca_file), **v1_settings(influxdb1, database, "x")}
    collector = Collector(tmp_path / "c", {**settings, "INFLUX_API": "v2", "INFLUX_ORG": "-"})
    collector.wait_events("write failed", 1)
    assert collector.stop() == 0
    [failure] = collector.named("write failed")
    version = httpx.get(f"{influxdb1.url}/ping").headers["X-Influxdb-Version"]
    assert failure["error"] == (
        f"this is InfluxDB {version}, a 1.x before 1.8, which has no v2 write API: "
        "set INFLUX_API=v1 (and INFLUX_BUCKET to the database)"
    )
