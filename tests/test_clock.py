"""Issue 19.9 and 19.10: a device's clock is trusted within 15 minutes only; a step of the wall
clock stalls no wait and ages no reading, and is said once.

Each rule failed on the main before it: the SENEC reading kept the year 2000 and the cloud's
reading the hour ahead; the queue dropped readings 40 days "old" a moment after they came; the
meter's windows waited on the wall clock, so a step back by an hour stalled its readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from collector.clock import CLOCK_TOLERANCE, DeviceClock, SteadyClock, WallClockSteps
from collector.loop import PollLoop
from collector.queue import AGE_CHECK_EVERY, QueueStore
from collector.reading import Reading
from collector.sources import InstanceConfig, load_kinds
from collector.sources.senec.simulator import Faults, SenecDevice, SenecSimulator
from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator
from collector.sources.sma_em.settings import SmaEmSettings
from collector.sources.sma_em.simulator import Meter, MeterSender
from collector.sources.sma_em.source import MeterSocket, MeterSource
from tests.conftest import recording
from tests.servers import free_port

KINDS = load_kinds()
YEAR_2000 = 946684800  # 2000-01-01T00:00:00Z: a SENEC whose clock was reset


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **values: Any) -> None:
        self.events.append((event, values))

    warning = info

    def named(self, prefix: str) -> list[dict[str, Any]]:
        return [values for event, values in self.events if event.startswith(prefix)]


def _reading(moment: datetime) -> Reading:
    return Reading(moment, "m", {"power": 1})


def test_a_device_clock_within_15_minutes_is_the_reading_s_time() -> None:
    log = Log()
    clock = DeviceClock(log)
    polled = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    near = polled - timedelta(seconds=CLOCK_TOLERANCE)
    assert clock.time_of(_reading(near), polled).time == near
    assert log.events == []


def test_a_device_clock_further_off_gives_way_to_the_poll_time_said_once() -> None:
    log = Log()
    clock = DeviceClock(log)
    polled = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
    reset = datetime.fromtimestamp(YEAR_2000, UTC)
    assert clock.time_of(_reading(reset), polled).time == polled
    ahead = polled + timedelta(hours=1, minutes=1)  # a DST rule applied twice
    later = polled + timedelta(seconds=5)
    assert clock.time_of(_reading(ahead), later).time == later
    (warning,) = log.named("device clock is off")
    assert warning["device_time"] == "2000-01-01T00:00:00Z"
    assert warning["off_by"].startswith("-9837")  # days
    fine = later + timedelta(seconds=5)
    assert clock.time_of(_reading(fine), fine).time == fine
    assert len(log.named("device clock agrees again")) == 1
    assert len(log.named("device clock is off")) == 1


def _one_poll(kind: str, settings: dict[str, Any], tmp: Path) -> tuple[Reading, list[Any]]:
    """One poll of a kind's instance, as its PollLoop makes it: the reading and the logs."""
    source = KINDS[kind]
    config = InstanceConfig(kind, kind, source.settings.model_validate(settings), state_dir=tmp)
    (instance,) = source.build([config])
    assert isinstance(instance, PollLoop)
    readings: list[Reading] = []

    def emit(reading: Reading, done: Callable[[bool], None]) -> None:
        readings.append(reading)

    async def main() -> None:
        try:
            for _ in range(5):  # a cloud may have nothing new at its first poll
                await instance.poll_once(emit)
                if readings:
                    return
                await asyncio.sleep(0.3)
        finally:
            await instance.aclose()

    with capture_logs() as logs:
        asyncio.run(main())
    assert readings, logs
    return readings[0], logs


def _close_to_now(moment: datetime) -> bool:
    return abs((moment - datetime.now(UTC)).total_seconds()) < 60


def test_a_senec_whose_clock_was_reset_to_2000_writes_at_the_poll_time(tmp_path: Path) -> None:
    web_time = f"u3_{YEAR_2000:08X}"  # the device's local time as lala.cgi sends it
    device = SenecDevice(faults=Faults(sentinels={"RTC.WEB_TIME": web_time}))
    simulator = SenecSimulator(device, tls=False).start()
    try:
        settings = {"host": simulator.address, "scheme": "http"}
        reading, logs = _one_poll("senec", settings, tmp_path)
    finally:
        simulator.stop()
    assert _close_to_now(reading.time), reading.time
    assert reading.time.microsecond == 0
    (warning,) = [event for event in logs if event["event"].startswith("device clock is off")]
    # midnight of 2000-01-01 in the device's time zone (UTC_OFFSET 60 min)
    assert warning["device_time"] == "1999-12-31T23:00:00Z"


def test_a_senec_cloud_an_hour_ahead_writes_at_the_poll_time(tmp_path: Path) -> None:
    cloud = SenecCloud()
    simulator = SenecCloudSimulator(cloud).start()
    dashboard = recording("senec-cloud-dashboard.json")
    ahead = datetime.now(UTC) + timedelta(hours=1, minutes=20)
    dashboard["timestamp"] = ahead.strftime("%Y-%m-%dT%H:%M:%SZ")
    simulator.odd.add("/measurements/api/v1/systems/", json.dumps(dashboard).encode(), 5)
    try:
        login = {"username": cloud.account.username, "password": cloud.account.password}
        reading, logs = _one_poll("senec-cloud", {**login, **simulator.settings()}, tmp_path)
    finally:
        simulator.stop()
    assert _close_to_now(reading.time), reading.time
    (warning,) = [event for event in logs if event["event"].startswith("device clock is off")]
    assert warning["off_by"].startswith("+1.3 h")
    assert reading.fields["measure_time"] == int(ahead.timestamp())  # what SENEC said is kept


# --- the wall clock steps ---------------------------------------------------------------------


class Clocks:
    """A wall clock and a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.wall_now = 1_796_000_000.0
        self.monotonic_now = 1000.0

    def wall(self) -> float:
        return self.wall_now

    def monotonic(self) -> float:
        return self.monotonic_now

    def run(self, seconds: float) -> None:
        self.wall_now += seconds
        self.monotonic_now += seconds


def test_a_step_of_the_wall_clock_is_said_once_and_a_slew_not_at_all() -> None:
    clocks = Clocks()
    log = Log()
    steps = WallClockSteps(log, wall=clocks.wall, monotonic=clocks.monotonic)
    clocks.run(10)
    clocks.wall_now += 0.3  # NTP's slewing: small corrections
    assert steps.check() is None
    clocks.wall_now += 3600  # set at last (a Pi without a real-time clock)
    clocks.run(10)
    assert steps.check() == 3600
    assert steps.check() is None
    (warning,) = log.named("wall clock stepped")
    assert warning["by"] == "+1.0 h"


def test_a_step_forward_ages_no_queued_reading(tmp_path: Path) -> None:
    clocks = Clocks()
    clock = SteadyClock(wall=clocks.wall, monotonic=clocks.monotonic)
    store = QueueStore(tmp_path / "queue.sqlite3", max_age=30 * 86400.0, clock=clock)
    store.open()
    try:
        for second in range(5):
            store.append(1_796_000_000 + second, "m", f"m power={second} {second}")
        clocks.wall_now += 40 * 86400  # the wall clock jumps 40 days ahead
        clocks.run(AGE_CHECK_EVERY + 1)  # the next append checks the ages
        store.append(1_796_000_100, "m", "m power=9 100")
        assert store.pending == 6
        assert store.drops.total == 0
        assert clock() - clocks.monotonic_now == 1_796_000_000.0 - 1000.0  # not moved
    finally:
        store.close()


def test_the_queue_takes_the_wall_clock_again_when_it_opens_but_never_back(
    tmp_path: Path,
) -> None:
    clocks = Clocks()
    path = tmp_path / "queue.sqlite3"
    store = QueueStore(path, clock=SteadyClock(wall=clocks.wall, monotonic=clocks.monotonic))
    store.open()
    store.append(1_796_000_000, "m", "m power=1 1")
    store.close()
    clocks.wall_now -= 86400  # restarted with a clock a day behind
    clock = SteadyClock(wall=clocks.wall, monotonic=clocks.monotonic)
    again = QueueStore(path, clock=clock)
    again.open()
    try:
        assert clock() >= 1_796_000_000.0  # not before what it already holds
        assert again.pending == 1
    finally:
        again.close()


def test_the_meter_goes_on_when_the_wall_clock_steps_back_an_hour() -> None:
    settings = SmaEmSettings(group="none", port=free_port(udp=True), interval=1)
    shared = MeterSocket(settings)
    source = MeterSource("meter", settings, shared)
    offset = [0.0]
    source.wall = lambda: time.time() - offset[0]
    sender = MeterSender(Meter(serial=1001), ("127.0.0.1", settings.port), period=0.1).start()
    readings: list[Reading] = []
    stepped = threading.Event()

    async def main() -> None:
        three = asyncio.Event()

        def emit(reading: Reading, done: Callable[[bool], None]) -> None:
            readings.append(reading)
            if len(readings) == 1:
                offset[0] = 3600.0  # NTP sets the clock an hour back
                stepped.set()
            if len(readings) >= 3:
                three.set()

        stop = asyncio.Event()
        task = asyncio.create_task(source.run(emit, stop))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(three.wait(), 20)
        stop.set()
        await task

    try:
        asyncio.run(main())
    finally:
        sender.stop()
    assert stepped.is_set()
    assert len(readings) >= 3, readings  # before: the next window waited an hour
    first, second = readings[0].time, readings[1].time
    assert (first - second).total_seconds() > 3000  # labelled with the clock as it now is
