"""Scheduling: drift-free polling, one request in flight per device, back-off, shutdown.

The interval is measured start to start: poll k starts at t0 + k * interval, whatever the
previous poll took. A slot that has already passed is skipped, not caught up. A device that
fails three times in a row is polled with growing gaps (2, 4, 8 ... intervals, at most
`max_backoff` seconds) until it answers; the recovery is logged with how long it was away.

PollLoop is what makes a `Poller` (one request, one reading) an `Instance` the daemon runs. How
it goes on after a failure is decided by the error's typed attributes (SourceError.permanent,
.asleep, .retry_after), which the kind's code sets. Only a permanent SourceError ends an
instance: any other exception from a poller is a bug of its kind, said once with its traceback,
counted as a failed poll, and the device is asked again with the same back-off.

A reading's time is its device's while that is within 15 minutes of the poll's time, else the
poll's time (collector.clock.DeviceClock): the rule holds for every polled kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from datetime import UTC, datetime
from typing import Any

from collector.backfill import DeviceLog, DeviceTurn
from collector.clock import DeviceClock
from collector.errors import ProtocolError, SourceError
from collector.logging import get_logger
from collector.reading import Reading
from collector.settings import seconds
from collector.sources import Emit, InstanceStatus, Poller

BACKOFF_AFTER = 3  # consecutive failures before the gaps grow
RETRY_AFTER_MAX = 24 * 3600.0  # the longest wait a device or cloud may ask for (a daily quota)


def next_slot(start: float, interval: float, now: float) -> float:
    """The first slot start + k*interval that lies after `now` (k >= 1)."""
    k = max(1, math.floor((now - start) / interval) + 1)
    return start + k * interval


def backoff_delay(interval: float, failures: int, ceiling: float) -> float:
    if failures < BACKOFF_AFTER:
        return interval
    gap = float(interval * 2.0 ** (failures - BACKOFF_AFTER + 1))
    return min(gap, max(ceiling, interval))


class PollLoop:
    """One polled device as an Instance: `run` polls it until stopped."""

    def __init__(
        self, name: str, poller: Poller, *, device: str = "", max_backoff: float = 60.0
    ) -> None:
        self.name = name
        self.device = device
        self.poller = poller
        self.status = InstanceStatus()
        self.max_backoff = max_backoff
        self.backoff_level = 0  # consecutive failures; from BACKOFF_AFTER on, the gaps grow
        self._missed = 0  # polls missed since the device last answered
        self._down_since: float | None = None
        self._retry_after: float | None = None
        self._bugs: set[str] = set()  # the bugs already said (type and place)
        context = {"source": name, "device": device} if device else {"source": name}
        self._log = get_logger(**context)
        self._device_clock = DeviceClock(self._log)
        # A device with a log: backfill asks it between polls (collector.backfill)
        self.device_log: DeviceLog | None = poller if isinstance(poller, DeviceLog) else None
        self.turn = DeviceTurn()

    @property
    def interval(self) -> float:
        return self.poller.interval

    def banner(self) -> dict[str, Any]:
        return {
            "device": self.poller.describe(),
            "interval_s": seconds(self.poller.interval),
            "timeout_s": seconds(self.poller.timeout),
        }

    async def aclose(self) -> None:
        await self.poller.aclose()

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        start = time.monotonic()
        slot = start
        while not stop.is_set():
            if not await self.poll_once(emit):
                return
            now = time.monotonic()
            if self.backoff_level >= BACKOFF_AFTER:
                slot = now + backoff_delay(self.interval, self.backoff_level, self.max_backoff)
                start = slot  # after a back-off the schedule starts afresh
            else:
                slot = next_slot(start, self.interval, now)
            if self._retry_after is not None:  # the device said how long to wait
                slot = max(slot, now + self._retry_after)
                self._retry_after = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, slot - time.monotonic()))

    async def poll_once(self, emit: Emit) -> bool:
        """One poll; False when the device must not be polled again (a permanent error)."""
        if self.device_log is not None:
            await self.turn.poll_begins()  # a log request still running gives way
        began = time.monotonic()
        polled = datetime.now(UTC).replace(microsecond=0)
        try:
            reading = await self.poller.poll()
        except SourceError as exc:
            self._timed(began)
            if exc.permanent:
                self.status.failed_polls += 1
                self.status.last_error = str(exc)
                self.status.stopped = str(exc)
                self._log.error(
                    "source stopped",
                    error=str(exc),
                    kind=type(exc).__name__,
                    note="fix the configuration and restart the collector",
                )
                self.status.changed()
                return False
            self._failed(exc)
            return True
        except Exception as exc:
            self._timed(began)
            first = self._bug(exc)
            self._failed(ProtocolError(f"internal error: {type(exc).__name__}: {exc}"), quiet=first)
            return True
        self._timed(began)
        self._recovered()
        readings = [reading] if isinstance(reading, Reading) else reading or []
        readings = [self._device_clock.time_of(item, polled) for item in readings]
        if not readings:  # answered, nothing new: counted, not written
            self.status.unchanged += 1
            self.status.changed()
            return True
        # Handed to the queue without waiting for the disk; logged as collected once it is
        # there (or, when the queue cannot be written, held in memory: on_disk=False).
        for item in readings:
            emit(item, functools.partial(self._collected, item))
        return True

    def _timed(self, began: float) -> None:
        self.turn.poll_ends()
        self.status.polls += 1
        self.status.poll_seconds += time.monotonic() - began

    def _collected(self, reading: Reading, on_disk: bool) -> None:
        self.status.collected(self._log, self.poller.summary(reading), on_disk)

    def _bug(self, exc: Exception) -> bool:
        """An exception that is no SourceError: a bug of the kind. Said once per exception type
        and place, with its traceback; True when this was the first time."""
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        place = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
        key = f"{type(exc).__name__} at {place}"
        if key in self._bugs:
            return False
        self._bugs.add(key)
        self._log.error(
            "poll failed: a bug in the collector",
            error=f"{type(exc).__name__}: {exc}",
            note="please report this line and its traceback; the source goes on, with back-off",
            exc_info=exc,
        )
        return True

    def _failed(self, exc: SourceError, *, quiet: bool = False) -> None:
        self._missed += 1
        self._retry_after = (
            None if exc.retry_after is None else min(exc.retry_after, RETRY_AFTER_MAX)
        )
        if exc.asleep and self.status.asleep_since is None:
            self.status.asleep_since = time.time()
        if exc.asleep and self.backoff_level < BACKOFF_AFTER - 1:
            # A device that sleeps (an inverter at night): one line, and back off at once, by
            # skipping to the level just below BACKOFF_AFTER (the += 1 below reaches it).
            self.backoff_level = BACKOFF_AFTER - 1
        self.backoff_level += 1
        self.status.failed_polls += 1
        self.status.last_error = str(exc)
        self.status.changed()
        if self._down_since is None:
            self._down_since = time.monotonic()
        if quiet:
            return
        if self.backoff_level < BACKOFF_AFTER:
            self._log.warning("poll failed", error=str(exc), kind=type(exc).__name__)
        elif self.backoff_level == BACKOFF_AFTER:
            self._log.warning(
                "poll failed, backing off",
                error=str(exc),
                kind=type(exc).__name__,
                failures=self._missed,
                next_in_s=seconds(
                    round(
                        max(
                            backoff_delay(self.interval, self.backoff_level, self.max_backoff),
                            self._retry_after or 0.0,
                        ),
                        1,
                    )
                ),
                max_gap_s=self.max_backoff,
                note="further failures are not logged until the device answers",
            )

    def _recovered(self) -> None:
        if self._down_since is not None and self.backoff_level >= BACKOFF_AFTER:
            self._log.info(
                "device back",
                after_s=round(time.monotonic() - self._down_since),
                failed_polls=self._missed,
            )
        self.backoff_level = 0
        self._missed = 0
        self._down_since = None
        self.status.asleep_since = None
