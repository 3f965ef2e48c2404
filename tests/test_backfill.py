"""Backfill end to end: the daemon as a process, a simulated device that keeps its log, a real
database. The collector is stopped, simulated time passes, it starts again: the gap is filled
with exactly what the device logged, nothing twice, while the live polling keeps its schedule.

"Time passes" without waiting: the first run's clock is set three hours back (libfaketime in
the daemon's process, the monotonic clock left alone) and so is the simulated device's (its
household's `offset`); then both clocks are set right, and the second run finds the gap.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from collector.simulators.household import Household
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_common.inverter import SmaFaults
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from tests.harness import Collector, unique
from tests.servers import VictoriaMetrics

pytestmark = pytest.mark.servers

GAP = 3 * 3600
STEP = 300
LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)


def clock_set_back(tmp_path: Path, seconds: int) -> dict[str, str]:
    """The environment that runs the daemon with its wall clock `seconds` behind."""
    assert LIBFAKETIME is not None, "libfaketime is missing: apt-get install faketime"
    offset = tmp_path / "faketime"
    offset.write_text(f"-{seconds}\n")
    return {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_NO_CACHE": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }


def seconds_of(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp())


def gap_filled(collector: Collector) -> bool:
    return any(event.get("gap_filled") for event in collector.named("backfilled"))


def wait_gap_filled(collector: Collector) -> None:
    collector.wait_for(lambda: gap_filled(collector), timeout=60, what="a gap filled")


def largest_gap(readings: list[dict[str, Any]]) -> int:
    """The longest time between two live readings one after the other (seconds)."""
    stamps = sorted(seconds_of(event) for event in readings)
    return max(b - a for a, b in itertools.pairwise(stamps))


@dataclass
class LoggingDevice:
    """A simulated device with a log, as a test drives it: the settings that read it, the
    household whose clock the test sets, and what the device logged (time -> value)."""

    settings: dict[str, str]
    household: Household
    logged: Callable[[int, int], dict[int, float]]
    field: str
    series: str  # how the backfill's lines name the series
    faults: SmaFaults


@contextmanager
def logging_device(kind: str, tmp_path: Path, measurement: str) -> Iterator[LoggingDevice]:
    """The simulator of `kind` with one device, started; stopped when the block ends."""
    inverter = SmaInverter(3010538116, seed=1)

    def logged(start: int, end: int) -> dict[int, float]:
        return {t: float(wh) for t, wh in inverter.yield_log.records(start, end)}

    if kind == "sma":
        simulator: Any = SmaSimulator([inverter]).start()
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
            logged,
            "energy_total",
            f"{kind}/3010538116",
            inverter.faults,
        )
    finally:
        simulator.stop()


def database(victoria: VictoriaMetrics) -> dict[str, str]:
    return {"INFLUX_URL": victoria.url, "INFLUX_ORG": "-", "INFLUX_BUCKET": "solar"}


KINDS = ["sma", "sma-webconnect"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_first_start_and_a_three_hour_gap_filled_from_the_devices_log(
    victoria: VictoriaMetrics, tmp_path: Path, kind: str
) -> None:
    measurement = unique("M")
    with logging_device(kind, tmp_path, measurement) as device:
        device.household.offset = -GAP  # the device, too, lives three hours ago
        settings = {
            **device.settings,
            **database(victoria),
            "DATA_DIR": str(tmp_path / "data"),
            "BACKFILL_DAYS": "0.5",
        }
        # The first start ever, three hours ago: half a day before its first reading is filled.
        first = Collector(tmp_path / "first", {**settings, **clock_set_back(tmp_path, GAP)})
        wait_gap_filled(first)
        first.wait_events("reading", 3)
        assert first.stop() == 0
        # Three hours pass; the collector starts again.
        device.household.offset = 0
        second = Collector(tmp_path / "second", settings)
        wait_gap_filled(second)
        second.wait_events("reading", len(second.named("reading")) + 3)
        assert second.stop() == 0

    for run in (first, second):
        assert "Traceback" not in run.text()
        assert not run.named("backfill failed")
    before = sorted(seconds_of(event) for event in first.named("reading"))
    after = sorted(seconds_of(event) for event in second.named("reading"))
    samples = victoria.samples(measurement)[device.field]
    stamps = [stamp for stamp, _ in samples]
    assert len(stamps) == len(set(stamps)), "a point was written twice"
    written = dict(samples)
    live = set(before) | set(after)
    assert live <= set(written)
    logged = {stamp: value for stamp, value in written.items() if stamp not in live}

    # The first start: every record of the half day before the first reading, exactly.
    expected = device.logged(before[0] - 43200, before[0] - 1)
    assert len(expected) >= 143
    assert {s: v for s, v in logged.items() if s < before[0]} == expected
    # The gap: every record between the first run's last reading and the second's first.
    expected = device.logged(before[-1] + 1, after[0] - 1)
    assert len(expected) in (GAP // STEP, GAP // STEP + 1)
    assert {s: v for s, v in logged.items() if before[-1] < s < after[0]} == expected
    assert set(logged) == {s for s in logged if s < before[0] or before[-1] < s < after[0]}
    # One counter, never going back, across both runs and both logs.
    values = [value for _, value in sorted(written.items())]
    assert values == sorted(values)
    # The live polling kept its 1 s schedule while the log was read.
    assert largest_gap(second.named("reading")) <= 3, largest_gap(second.named("reading"))
    filled = [e for e in second.named("backfilled") if e.get("gap_filled")]
    assert [e["series"] for e in filled] == [device.series]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", ["error", "silent"])
def test_a_log_that_answers_with_an_error_or_not_at_all(
    victoria: VictoriaMetrics, tmp_path: Path, kind: str, fault: str
) -> None:
    """The log request fails (an error answer, or none within the timeout): said once with the
    cause; the live polling goes on, every reading arrives."""
    measurement = unique("M")
    with logging_device(kind, tmp_path, measurement) as device:
        device.faults.log = fault
        interval = {key: "2" for key in device.settings if key.endswith("_INTERVAL")}
        settings = {**device.settings, **interval, **database(victoria), "BACKFILL_DAYS": "1"}
        collector = Collector(tmp_path / "c", settings)
        collector.wait_events("backfill failed", 1, timeout=30)
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
    assert set(victoria.series(measurement)["ac_power"]) == readings


CAUSES = {
    ("sma", "error"): "error 0x0002",
    ("sma", "silent"): "no answer from 127.0.0.1",
    ("sma-webconnect", "error"): "getLogger.json with err 500",
    ("sma-webconnect", "silent"): "no answer from https://127.0.0.1",
}
