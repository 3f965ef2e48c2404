"""Time rules of the core: which clock a reading's time, an age and a wait come from.

- `DeviceClock`: a device's own time is a reading's time while it is within CLOCK_TOLERANCE of
  the collector's; beyond it (a clock reset to 2000, a DST rule off by an hour) the poll time
  is, with one warning naming the device's clock, and one line when it agrees again.
- `SteadyClock`: wall-clock seconds for ages kept on disk (the queue's BUFFER_MAX_AGE). Taken
  from the wall clock once, then carried on by the monotonic clock: an NTP step while the
  collector runs neither ages readings at once nor keeps them young.
- `WallClockSteps`: says once when the wall clock steps (a Pi without a real-time clock that
  starts in the past and is set by NTP later). Waits and intervals use the monotonic clock, so
  nothing waits for the step; what follows the new clock is the readings' time.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from collector.reading import Reading

CLOCK_TOLERANCE = 15 * 60.0  # a device's time further off than this is not a reading's time
WALL_STEP = 2.0  # the wall clock moved this much against the monotonic clock at once: a step


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset_text(seconds: float) -> str:
    size = abs(seconds)
    for unit, length in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if size >= length:
            return f"{seconds / length:+.1f} {unit}"
    return f"{seconds:+.0f} s"


class DeviceClock:
    """One instance's rule for the time its device gives its readings."""

    def __init__(self, log: Any, tolerance: float = CLOCK_TOLERANCE) -> None:
        self._log = log
        self.tolerance = tolerance
        self.off = False  # the device's clock is off now (said once)

    def time_of(self, reading: Reading, polled: datetime) -> Reading:
        """The reading at its device's time, or at `polled` (the poll's time, UTC, whole
        seconds) when the device's time is more than the tolerance away from it."""
        difference = (reading.time - polled).total_seconds()
        if abs(difference) <= self.tolerance:
            if self.off:
                self.off = False
                self._log.info(
                    "device clock agrees again", device_time=_iso(reading.time), off_s=difference
                )
            return reading
        if not self.off:
            self.off = True
            self._log.warning(
                "device clock is off, readings take the collector's time",
                device_time=_iso(reading.time),
                collector_time=_iso(polled),
                off_by=_offset_text(difference),
                note="set the device's clock (time server, time zone); its readings are written "
                f"at the poll's time while it is more than {self.tolerance / 60:g} min off",
            )
        return dataclasses.replace(reading, time=polled)


class SteadyClock:
    """Wall-clock seconds that a step of the wall clock does not move (for ages on disk).

    `anchor` takes the wall clock again (when the queue opens, so that the time the collector
    was not running counts), never earlier than `not_before` (the newest time already stored);
    between anchors the monotonic clock carries it on."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._base = wall() - monotonic()

    def anchor(self, not_before: float | None = None) -> None:
        now = self._wall()
        if not_before is not None:
            now = max(now, not_before)
        self._base = now - self._monotonic()

    def __call__(self) -> float:
        return self._base + self._monotonic()


class WallClockSteps:
    """Watches the wall clock against the monotonic clock; `check` says a step once."""

    def __init__(
        self,
        log: Any,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._wall = wall
        self._monotonic = monotonic
        self._offset = wall() - monotonic()

    def check(self) -> float | None:
        """The step since the last check in seconds (and one warning), or None. A clock that
        is slewed (NTP's small corrections) moves too little between two checks to count."""
        offset = self._wall() - self._monotonic()
        step, self._offset = offset - self._offset, offset
        if abs(step) < WALL_STEP:
            return None
        self._log.warning(
            "wall clock stepped",
            by=_offset_text(step),
            now=_iso(datetime.fromtimestamp(self._wall(), UTC)),
            note="waits and the queue's age limit go on unaffected; readings from now on carry "
            "the new time",
        )
        return step
