"""Backfill end to end: the daemon as a process, a simulated device that keeps its log, a real
database. The collector is stopped, simulated time passes, it starts again: the gap is filled
with exactly what the device logged, nothing twice, while the live polling keeps its schedule.

"Time passes" without waiting: the first run's clock is set three hours back (libfaketime in
the daemon's process, reading its offset from a file at every call; the monotonic clock left
alone) and so is the simulated device's (its household's `offset`); then both clocks are set
right, and the second run finds the gap. A log that settles late (SENEC's cloud: a quarter of
an hour) is waited for the same way: both clocks move on by that much.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.simulators.household import LOG_STEP, Household
from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator
from collector.sources.senec_cloud.source import SenecCloudSource
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_ennexos.simulator import EnnexosDevice, EnnexosSimulator
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from tests.harness import Collector, run_collector, unique
from tests.servers import VictoriaMetrics

pytestmark = pytest.mark.servers

GAP = 3 * 3600
LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)

Logged = dict[str, dict[int, float]]  # field -> {time: value}


class Clock:
    """The collector's wall clock and the simulated device's, set together."""

    def __init__(self, tmp_path: Path, household: Household) -> None:
        assert LIBFAKETIME is not None, "libfaketime is missing: apt-get install faketime"
        self.file = tmp_path / "faketime"
        self.household = household
        self.offset = 0
        self.set(0)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "DONT_FAKE_MONOTONIC": "1",
        }

    def set(self, offset: int) -> None:
        self.offset = offset
        self.file.write_text(f"{offset:+d}\n")
        self.household.offset = offset


@dataclass
class LoggingDevice:
    """A simulated device with a log, as a test drives it."""

    settings: dict[str, str]
    household: Household
    measurement: str  # where the log's points go
    logged: Callable[[int, int], Logged]  # the records wanted in a gap [start, end)
    series: str  # how the backfill's lines name the series
    faults: Any  # with a `log` fault: "error" or "silent"
    interval: int
    settle: int  # seconds the log takes to settle
    step: int = LOG_STEP  # seconds between the log's records
    inverter: SmaInverter | None = None  # the SMA kinds' simulated device


def seconds_of(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp())


def largest_gap(readings: list[dict[str, Any]]) -> int:
    """The longest time between two live readings one after the other (seconds)."""
    stamps = sorted(seconds_of(event) for event in readings)
    return max(b - a for a, b in itertools.pairwise(stamps))


def fill(collector: Collector, clock: Clock, device: LoggingDevice) -> None:
    """Wait until the collector has filled the gap before its first reading; a log that settles
    late gets its time."""

    def filled() -> bool:
        readings = collector.named("reading")
        if not readings:
            return False
        first = min(readings, key=seconds_of)["time"]
        return any(e.get("gap_filled") and e["end"] == first for e in collector.named("backfilled"))

    if device.settle:
        collector.wait_for(
            lambda: bool(collector.named("backfilled")), timeout=60, what="a gap's settled part"
        )
        clock.set(clock.offset + device.settle + LOG_STEP)
    collector.wait_for(filled, timeout=60, what="a gap filled")


@contextmanager
def logging_device(kind: str, tmp_path: Path, measurement: str) -> Iterator[LoggingDevice]:
    """The simulator of `kind` with one device, started; stopped when the block ends."""
    if kind == "senec-cloud":
        with senec_cloud(measurement) as device:
            yield device
        return
    inverter = SmaInverter(3010538116, seed=1)

    def logged(start: int, end: int) -> Logged:
        records = inverter.yield_log.records(start, end - 1)
        return {"energy_total": {t: float(wh) for t, wh in records}}

    if kind == "sma-ennexos":
        with ennexos(inverter, tmp_path, measurement) as device:
            yield device
        return
    simulator: SmaSimulator | WebConnectSimulator
    if kind == "sma":
        simulator = SmaSimulator([inverter]).start()
        settings = {
            "SMA_HOST": simulator.addresses[0],
            "SMA_INTERVAL": "1",
            "SMA_TIMEOUT": "0.3",
            "SMA_MEASUREMENT": measurement,
        }
    elif kind == "sma-webconnect":
        simulator = WebConnectSimulator(WebConnectDevice(inverter)).start()
        ca_file = tmp_path / "webconnect-ca.pem"
        ca_file.write_bytes(simulator.ca_pem or b"")
        settings = {
            "SMA_WEBCONNECT_URL": simulator.url,
            "SMA_WEBCONNECT_PASSWORD": "0000",
            "SMA_WEBCONNECT_INTERVAL": "1",
            "SMA_WEBCONNECT_CA_FILE": str(ca_file),
            "SMA_WEBCONNECT_MEASUREMENT": measurement,
        }
    else:
        raise AssertionError(kind)
    try:
        yield LoggingDevice(
            settings,
            inverter.household,
            measurement,
            logged,
            f"{kind}/3010538116",
            inverter.faults,
            interval=1,
            settle=0,
            inverter=inverter,
        )
    finally:
        simulator.stop()


@contextmanager
def ennexos(inverter: SmaInverter, tmp_path: Path, measurement: str) -> Iterator[LoggingDevice]:
    simulator = EnnexosSimulator(EnnexosDevice(inverter)).start()
    ca_file = tmp_path / "ennexos-ca.pem"
    ca_file.write_bytes(simulator.ca_pem or b"")
    log, step = inverter.yield_log, 900

    def logged(start: int, end: int) -> Logged:
        first = start + -start % step
        return {
            "inverter_energy": {
                begin: float(log.at(begin + step) - log.at(begin))
                for begin in range(first, end - step + 1, step)
            }
        }

    settings = {
        "SMA_ENNEXOS_URL": simulator.url,
        "SMA_ENNEXOS_USERNAME": "collector",
        "SMA_ENNEXOS_PASSWORD": "secret",
        "SMA_ENNEXOS_INTERVAL": "1",
        "SMA_ENNEXOS_CA_FILE": str(ca_file),
        "SMA_ENNEXOS_MEASUREMENT": measurement,
    }
    try:
        yield LoggingDevice(
            settings,
            inverter.household,
            f"{measurement}_ENERGY",
            logged,
            "sma-ennexos/3010538116",
            inverter.faults,
            interval=1,
            settle=0,
            step=step,
        )
    finally:
        simulator.stop()


ENERGY_NAMES = {  # the simulator's energies -> the fields of <measurement>_ENERGY
    "pv": "inverter_energy",
    "house": "house_energy",
    "grid_import": "grid_import_energy",
    "grid_export": "grid_export_energy",
    "battery_charge": "bat_charge_energy",
    "battery_discharge": "bat_discharge_energy",
    "wallbox": "wallbox_energy",
}


@contextmanager
def senec_cloud(measurement: str) -> Iterator[LoggingDevice]:
    cloud = SenecCloud()
    simulator = SenecCloudSimulator(cloud).start()

    def logged(start: int, end: int) -> Logged:
        result: Logged = {field: {} for field in ENERGY_NAMES.values()}
        for begin, values in cloud.energy_log.intervals(start, end):
            if begin + LOG_STEP <= end:
                for name, field in ENERGY_NAMES.items():
                    result[field][begin] = round(values[name] / 1000 * 1000, 3)
        return result

    account = cloud.account
    settings = {
        "SENEC_ADAPTER": "cloud",
        "SENEC_USERNAME": account.username,
        "SENEC_PASSWORD": account.password,
        "SENEC_TOTP_URI": simulator.totp_uri(),
        "SENEC_INTERVAL": "60",
        "INFLUX_MEASUREMENT": measurement,
        **{f"SENEC_{key.upper()}": value for key, value in simulator.settings().items()},
    }
    try:
        yield LoggingDevice(
            settings,
            cloud.household,
            f"{measurement}_ENERGY",
            logged,
            "senec-cloud",
            cloud.faults,
            interval=60,
            settle=int(SenecCloudSource.log_settle),
        )
    finally:
        simulator.stop()


def database(victoria: VictoriaMetrics) -> dict[str, str]:
    return {"INFLUX_URL": victoria.url, "INFLUX_ORG": "-", "INFLUX_BUCKET": "solar"}


def assert_same(written: dict[int, float], expected: dict[int, float], what: str) -> None:
    assert written.keys() == expected.keys(), (what, sorted(written.keys() ^ expected.keys()))
    for stamp, value in expected.items():
        assert math.isclose(written[stamp], value, rel_tol=1e-9, abs_tol=1e-6), (what, stamp)


KINDS = ["sma", "sma-webconnect", "sma-ennexos", "senec-cloud"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_first_start_and_a_three_hour_gap_filled_from_the_devices_log(
    victoria: VictoriaMetrics, tmp_path: Path, kind: str
) -> None:
    measurement = unique("M")
    with logging_device(kind, tmp_path, measurement) as device:
        clock = Clock(tmp_path, device.household)
        clock.set(-GAP)  # the collector and the device live three hours ago
        settings = {
            **device.settings,
            **database(victoria),
            **clock.env(),
            "DATA_DIR": str(tmp_path / "data"),
            "BACKFILL_DAYS": "0.5",
        }
        # The first start ever: half a day before its first reading is filled.
        first = Collector(tmp_path / "first", settings)
        fill(first, clock, device)
        first.wait_events("reading", 3 if device.interval == 1 else 1)
        assert first.stop() == 0
        # Three hours pass; the collector starts again.
        clock.set(0)
        second = Collector(tmp_path / "second", settings)
        fill(second, clock, device)
        second.wait_events(
            "reading", len(second.named("reading")) + (3 if device.interval == 1 else 0)
        )
        assert second.stop() == 0

    for run in (first, second):
        assert "Traceback" not in run.text()
        assert not run.named("backfill failed")
    before = sorted(seconds_of(event) for event in first.named("reading"))
    after = sorted(seconds_of(event) for event in second.named("reading"))
    samples = victoria.samples(device.measurement)
    live = set(before) | set(after)
    expected_first = device.logged(before[0] - 43200, before[0])
    expected_gap = device.logged(before[-1] + 1, after[0])
    for field, points in samples.items():
        if field not in expected_first:
            continue
        stamps = [stamp for stamp, _ in points]
        assert len(stamps) == len(set(stamps)), f"{field}: a point was written twice"
        logged = {stamp: value for stamp, value in points if stamp not in live}
        # The first start: every record of the half day before the first reading, exactly.
        first_part = {s: v for s, v in logged.items() if s < before[0]}
        assert_same(first_part, expected_first[field], f"{field}, the first start")
        # The gap: every record between the first run's last reading and the second's first.
        gap_part = {s: v for s, v in logged.items() if before[-1] < s < after[0]}
        assert_same(gap_part, expected_gap[field], f"{field}, the three hours")
    assert len(expected_first[next(iter(expected_first))]) >= 43200 // device.step - 1
    assert len(expected_gap[next(iter(expected_gap))]) >= GAP // device.step - 2
    if "energy_total" in samples:
        values = [value for _, value in sorted(samples["energy_total"])]
        assert values == sorted(values)  # one counter, never going back
    if device.interval == 1:  # the live polling kept its 1 s schedule while the log was read
        lateness = max(largest_gap(run.named("reading")) for run in (first, second))
        print(f"{kind}: the largest time between two live readings while filling: {lateness} s")
        assert lateness <= 3, lateness
    filled = [e for e in second.named("backfilled") if e.get("gap_filled")]
    assert filled
    assert {e["series"] for e in filled} == {device.series}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", ["error", "silent"])
def test_a_log_that_answers_with_an_error_or_not_at_all(
    victoria: VictoriaMetrics, tmp_path: Path, kind: str, fault: str
) -> None:
    """The log request fails (an error answer, or none within the timeout): said once with the
    cause; the live polling goes on, every reading arrives."""
    measurement = unique("M")
    with logging_device(kind, tmp_path, measurement) as device:
        clock = Clock(tmp_path, device.household)
        device.faults.log = fault
        interval = {key: "2" for key in device.settings if key.endswith("_INTERVAL")}
        if device.interval != 1:
            interval = {}
        settings = {
            **device.settings,
            **interval,
            **database(victoria),
            **clock.env(),
            "BACKFILL_DAYS": "1",
        }
        collector = Collector(tmp_path / "c", settings)
        collector.wait_events("backfill failed", 1, timeout=60)
        if device.interval == 1:
            seen = len(collector.named("reading"))
            collector.wait_events("reading", seen + 3)
        assert collector.stop() == 0
    failed = collector.named("backfill failed")
    assert len(failed) == 1
    assert CAUSES[kind, fault] in failed[0]["error"], failed[0]
    assert failed[0]["retry_in_s"] == 60
    assert not collector.named("backfilled")
    assert not collector.named("poll failed")
    readings = {seconds_of(event) for event in collector.named("reading")}
    written = victoria.series(measurement)
    field = "ac_power" if "ac_power" in written else "inverter_power"
    assert set(written[field]) == readings


CAUSES = {
    ("sma", "error"): "error 0x0002",
    ("sma", "silent"): "no answer from 127.0.0.1",
    ("sma-webconnect", "error"): "getLogger.json (key 28672) with err 500",
    ("sma-webconnect", "silent"): "no answer from https://127.0.0.1",
    ("sma-ennexos", "error"): "HTTP 500",
    ("sma-ennexos", "silent"): "no answer from https://127.0.0.1",
    ("senec-cloud", "error"): "HTTP 500",
    ("senec-cloud", "silent"): "no answer from http://127.0.0.1",
}


def test_the_backfill_command_fills_the_history_before_the_first_reading_once(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    """`collector backfill --from` after installing: the days before what the collector has,
    one line per day (no terminal), exactly the device's records, nothing twice; again: nothing
    to do; beside a running collector: it says so and does nothing."""
    measurement = unique("M")
    with logging_device("sma", tmp_path, measurement) as device:
        settings = {
            **device.settings,
            **database(victoria),
            "DATA_DIR": str(tmp_path / "data"),
            "BACKFILL_DAYS": "0.25",
            "TZ": "UTC",
        }
        daemon = Collector(tmp_path / "daemon", settings)
        daemon.wait_for(
            lambda: any(e.get("gap_filled") for e in daemon.named("backfilled")),
            timeout=60,
            what="the first start's six hours",
        )
        first = min(seconds_of(event) for event in daemon.named("reading"))
        beside = run_collector(tmp_path, settings, "backfill", "--from", "2026-01-01")
        assert daemon.stop() == 0
        assert beside.returncode == 2
        assert "another collector (process" in beside.stderr
        assert "docker compose stop collector" in beside.stderr

        since = first - 6 * 3600
        day = datetime.fromtimestamp(since, UTC).date() - timedelta(days=1)
        result = run_collector(
            tmp_path, settings, "backfill", "--from", day.isoformat(), timeout=120
        )
        assert result.returncode == 0, result.stderr
        again = run_collector(tmp_path, settings, "backfill", "--from", day.isoformat())
    assert again.returncode == 0, again.stderr

    lines = result.stdout.splitlines()
    days = [line for line in lines if line.startswith("sma/3010538116 ")]
    assert len(days) in (2, 3), result.stdout  # the day before since's day, and that day
    assert days[0].startswith(f"sma/3010538116 {day.isoformat()}: 288 points")
    start = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
    expected = device.logged(start, int(since))["energy_total"]
    assert lines[-1] == (f"backfilled {len(expected)} points of 1 series (all delivered)"), (
        result.stdout
    )
    samples = victoria.samples(measurement)["energy_total"]
    stamps = [stamp for stamp, _ in samples]
    assert len(stamps) == len(set(stamps)), "a point was written twice"
    assert_same({s: v for s, v in samples if s < since}, expected, "before the first start")
    assert again.stdout.splitlines() == [
        f"sma/3010538116: already whole from {day.isoformat()}T00:00:00Z on"
    ]
    assert len(victoria.samples(measurement)["energy_total"]) == len(samples)


def test_webconnect_with_a_meter_fills_the_meters_daily_counters_too(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    """The meter's daily feed-in and draw counters (keys 28752, 28768) at each UTC midnight of
    the gap, in the inverter's series beside the yield, exactly as the device logged them."""
    inverter = SmaInverter(3010538116, seed=2, meter=True)
    simulator = WebConnectSimulator(WebConnectDevice(inverter)).start()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(simulator.ca_pem or b"")
    measurement = unique("M")
    try:
        collector = Collector(
            tmp_path / "c",
            {
                "SMA_WEBCONNECT_URL": simulator.url,
                "SMA_WEBCONNECT_PASSWORD": "0000",
                "SMA_WEBCONNECT_INTERVAL": "1",
                "SMA_WEBCONNECT_CA_FILE": str(ca_file),
                "SMA_WEBCONNECT_MEASUREMENT": measurement,
                **database(victoria),
                "BACKFILL_DAYS": "2",
            },
        )
        collector.wait_for(
            lambda: any(e.get("gap_filled") for e in collector.named("backfilled")),
            timeout=60,
            what="two days filled",
        )
        assert collector.stop() == 0
    finally:
        simulator.stop()
    first = min(seconds_of(event) for event in collector.named("reading"))
    midnights = [t for t in range(first - 2 * 86400, first) if t % 86400 == 0]
    assert len(midnights) == 2
    samples = victoria.samples(measurement)
    for field, side in (("grid_energy_plus", 0), ("grid_energy_minus", 1)):
        logged = {stamp: value for stamp, value in samples[field] if stamp < first}
        assert logged == {t: float(inverter.meter_counters(t)[side]) for t in midnights}, field
    assert len([s for s, _ in samples["energy_total"] if s < first]) == 2 * 288


def test_the_backfill_command_reads_the_daily_log_where_the_5_minute_log_ends(
    victoria: VictoriaMetrics, tmp_path: Path
) -> None:
    """Days older than the inverter's 5-minute memory (two weeks in the simulator) come from its
    daily log (0x70200200): the counter at each local midnight, one point a day."""
    measurement = unique("M")
    with logging_device("sma", tmp_path, measurement) as device:
        settings = {
            **device.settings,
            **database(victoria),
            "DATA_DIR": str(tmp_path / "data"),
            "TZ": "UTC",
        }
        today = datetime.now(UTC).date()
        first, last = today - timedelta(days=20), today - timedelta(days=17)
        result = run_collector(
            tmp_path,
            settings,
            "backfill",
            "--from",
            first.isoformat(),
            "--to",
            last.isoformat(),
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    days = [line for line in result.stdout.splitlines() if line.startswith("sma/")]
    assert days == [
        f"sma/3010538116 {(first + timedelta(days=n)).isoformat()}: 1 point" for n in range(4)
    ]
    start = int(datetime.combine(first, datetime.min.time(), UTC).timestamp())
    end = int(datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC).timestamp())
    assert device.inverter is not None
    logged = dict(device.inverter.yield_log.daily(start, end - 1))  # its local midnights
    assert len(logged) == 4
    written = dict(victoria.samples(measurement)["energy_total"])
    assert written == {t: float(wh) for t, wh in logged.items()}
    values = [written[t] for t in sorted(written)]
    assert values == sorted(values)
