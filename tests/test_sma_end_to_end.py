"""The daemon as a subprocess with two simulated SMA inverters, into a real InfluxDB 1.x."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from collector.sources.sma import codec
from collector.sources.sma.fields import FIELDS
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from tests.harness import INFLUX_TYPES, Collector, reading_seconds, unique
from tests.servers import InfluxDB1

pytestmark = pytest.mark.servers


@pytest.fixture
def inverters() -> Iterator[tuple[SmaSimulator, list[SmaInverter]]]:
    devices = [
        SmaInverter(3010538116, strings=2, seed=1),
        SmaInverter(3010538117, strings=3, battery=True, meter=True, seed=2),
    ]
    simulator = SmaSimulator(devices).start()
    yield simulator, devices
    simulator.stop()


def sma_settings(
    simulator: SmaSimulator, influx: InfluxDB1, database: str, measurement: str
) -> dict[str, str]:
    return {
        "SMA_HOST": ",".join(simulator.addresses),
        "SMA_INTERVAL": "1",
        "SMA_TIMEOUT": "0.3",
        "SMA_MEASUREMENT": measurement,
        "INFLUX_API": "v1",
        "INFLUX_URL": influx.url,
        "INFLUX_BUCKET": database,
    }


@contextmanager
def collecting_from(
    device: SmaInverter, influx: InfluxDB1, tmp_path: Path, **extra: str
) -> Iterator[tuple[Collector, str, str]]:
    """The daemon reading one simulated inverter into a new database: (collector, db, measurement).
    The simulator stops when the block ends; stop the collector inside it."""
    simulator = SmaSimulator([device]).start()
    try:
        database, measurement = unique("db"), unique("SMA")
        influx.create_database(database)
        settings = {**sma_settings(simulator, influx, database, measurement), **extra}
        yield Collector(tmp_path / "c", settings), database, measurement
    finally:
        simulator.stop()


def test_two_inverters_arrive_tagged_by_serial_with_every_field_typed(
    influxdb1: InfluxDB1, inverters: tuple[SmaSimulator, list[SmaInverter]], tmp_path: Path
) -> None:
    simulator, devices = inverters
    database, measurement = unique("db"), unique("SMA")
    influxdb1.create_database(database)
    collector = Collector(tmp_path / "c", sma_settings(simulator, influxdb1, database, measurement))
    collector.wait_events("reading", 8)
    assert collector.stop() == 0
    assert "Traceback" not in collector.text()
    readings = collector.named("reading")
    by_serial = {r["serial"] for r in readings}
    assert by_serial == {"3010538116", "3010538117"}

    result = influxdb1.query(f'SELECT * FROM "{measurement}" GROUP BY "serial"', database)[
        "results"
    ][0]["series"]
    series = {
        s["tags"]["serial"]: [dict(zip(s["columns"], v, strict=True)) for v in s["values"]]
        for s in result
    }
    assert set(series) == by_serial
    for serial in by_serial:
        logged = {r["time"] for r in readings if r["serial"] == serial}
        assert len(series[serial]) == len(logged)
    plain, hybrid = series["3010538116"][-1], series["3010538117"][-1]
    # Three strings on the second inverter, two on the first; the DC total is their sum.
    assert plain["mpp3_power"] is None
    assert hybrid["mpp3_power"] is not None
    assert hybrid["dc_power"] == hybrid["mpp1_power"] + hybrid["mpp2_power"] + hybrid["mpp3_power"]
    assert plain["device_status"] == "Ok"
    assert plain["device_status_ok"] is True
    assert plain["grid_relay"] == "Closed"
    assert plain["energy_total"] > 10_000_000
    assert plain["bat_fuel_charge"] is None  # no battery: the field is absent, not 0
    assert hybrid["bat_fuel_charge"] is not None
    assert hybrid["grid_power_plus"] is not None
    assert 49.9 <= plain["grid_frequency"] <= 50.1
    types = influxdb1.field_types(database, measurement)
    for name, kind in types.items():
        assert INFLUX_TYPES[FIELDS[name].type] == kind, name
    assert {"ac_power", "energy_total", "mpp1_voltage", "response_duration"} <= set(types)
    assert sum(len(s) for s in series.values()) == len({(r["serial"], r["time"]) for r in readings})
    del devices


def test_a_wrong_password_stops_the_source_after_one_login(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    wrong = SmaInverter(3010538116, user_password="secret")
    right = SmaInverter(3010538117, user_password="0000", seed=2)
    simulator = SmaSimulator([wrong, right]).start()
    try:
        database = unique("db")
        influxdb1.create_database(database)
        settings = sma_settings(simulator, influxdb1, database, unique("SMA"))
        collector = Collector(tmp_path / "c", {**settings, "SMA_PASSWORD": "0000"})
        collector.wait_events("source stopped", 1)
        before = len(collector.named("reading"))
        collector.wait_events("reading", before + 3)  # three more intervals of the other one
        assert collector.stop() == 0
    finally:
        simulator.stop()
    stopped = collector.named("source stopped")
    assert len(stopped) == 1
    assert stopped[0]["device"] == simulator.addresses[0]
    assert "refused the user password (error 0x0100)" in stopped[0]["error"]
    assert "SMA_PASSWORD" in stopped[0]["error"]
    assert [p.command for p in wrong.received] == [codec.CMD_LOGIN]  # never asked again
    assert "secret" not in collector.text()


def test_an_interval_of_one_second_runs_without_a_timeout_setting(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    simulator = SmaSimulator([SmaInverter(3010538116)]).start()
    try:
        database, measurement = unique("db"), unique("SMA")
        influxdb1.create_database(database)
        settings = sma_settings(simulator, influxdb1, database, measurement)
        del settings["SMA_TIMEOUT"]
        collector = Collector(tmp_path / "c", {**settings, "SMA_INTERVAL": "1"})
        collector.wait_events("reading", 3)
        assert collector.stop() == 0
    finally:
        simulator.stop()
    [banner] = collector.named("reading from")
    assert banner["interval_s"] == 1
    assert banner["timeout_s"] == 0.267  # 80 % of the interval over three attempts
    assert not collector.named("poll failed")
    assert len(influxdb1.points(database, measurement)) == len(collector.named("reading"))


def test_a_sleeping_inverter_is_reported_once_and_counters_stay_real(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    device = SmaInverter(3010538116)
    device.faults.night = "nan"
    with collecting_from(device, influxdb1, tmp_path) as (collector, database, measurement):
        collector.wait_events("inverter asleep", 1)
        collector.wait_events("reading", 1)
        device.faults.night = None  # the sun rises; the next poll comes after the night gap
        assert collector.stop() == 0
    assert len(collector.named("inverter asleep")) == 1
    points = influxdb1.points(database, measurement)
    assert points
    for point in points:
        assert point["ac_power"] == 0  # the device answered: not producing
        assert point["device_status"] == "Off"
        assert point["energy_total"] is None or point["energy_total"] > 10_000_000
        assert point.get("grid_frequency") is None  # NaN: left out (never even a column), not 0
        assert point.get("mpp1_voltage") is None
    assert {p["time"] for p in points} == reading_seconds(collector)


def test_a_silent_inverter_is_one_line_then_device_back(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    device = SmaInverter(3010538116)
    with collecting_from(device, influxdb1, tmp_path) as (collector, _, _):
        collector.wait_events("reading", 2)
        device.faults.night = "silent"  # older models stop answering at night
        collector.wait_events("poll failed, backing off", 1)
        device.faults.night = None
        collector.wait_events("device back", 1, timeout=30)
        collector.wait_events("reading", len(collector.named("reading")) + 1)
        assert collector.stop() == 0
    assert not collector.named("poll failed")  # no warning per missed poll
    backing_off = collector.named("poll failed, backing off")
    assert len(backing_off) == 1
    assert backing_off[0]["failures"] == 1
    assert "asleep for the night, or unreachable" in backing_off[0]["error"]
    back = collector.named("device back")[0]
    assert back["failed_polls"] >= 1
    assert collector.named("stopped")[0]["failed_polls"] == back["failed_polls"]
