"""Scheduling: drift-free polling, one request in flight per device, back-off, shutdown.

The interval is measured start to start: poll k starts at t0 + k * interval, whatever the
previous poll took. A slot that has already passed is skipped, not caught up. A device that
fails three times in a row is polled with growing gaps (2, 4, 8 ... intervals, at most
`max_backoff` seconds) until it answers; the recovery is logged with how long it was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

from collector.errors import SourceError
from collector.logging import get_logger
from collector.reading import Reading
from collector.sources import Source

BACKOFF_AFTER = 3  # consecutive failures before the gaps grow


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
    def __init__(
        self,
        source: Source,
        emit: Callable[[Reading, Callable[[bool], None]], None],
        *,
        max_backoff: float = 60.0,
    ) -> None:
        self.source = source
        self.emit = emit
        self.max_backoff = max_backoff
        self.failures = 0  # the back-off level
        self._missed = 0  # polls missed since the device last answered
        self.readings = 0
        self.failed_polls = 0
        self.last_reading_at: float | None = None  # wall clock
        self._down_since: float | None = None
        self._log = get_logger(source=source.name)

    async def run(self, stop: asyncio.Event) -> None:
        start = time.monotonic()
        slot = start
        while not stop.is_set():
            if not await self._poll_once():
                return
            now = time.monotonic()
            if self.failures >= BACKOFF_AFTER:
                slot = now + backoff_delay(self.source.interval, self.failures, self.max_backoff)
                start = slot  # after a back-off the schedule starts afresh
            else:
                slot = next_slot(start, self.source.interval, now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, slot - time.monotonic()))

    async def _poll_once(self) -> bool:
        """One poll; False when the source must not be polled again (a permanent error)."""
        try:
            reading = await self.source.poll()
        except SourceError as exc:
            if getattr(exc, "permanent", False):
                self.failed_polls += 1
                self._log.error(
                    "source stopped",
                    error=str(exc),
                    kind=type(exc).__name__,
                    note="fix the configuration and restart the collector",
                )
                return False
            self._failed(exc)
            return True
        self._recovered()
        # Handed to the queue without waiting for the disk; logged as collected once it is
        # there (or, when the queue cannot be written, held in memory: on_disk=False).
        self.emit(reading, lambda on_disk: self._collected(reading, on_disk))
        return True

    def _collected(self, reading: Reading, on_disk: bool) -> None:
        self.readings += 1
        self.last_reading_at = time.time()
        if on_disk:
            self._log.info("reading", **self.source.summary(reading))
        else:
            self._log.info("reading", **self.source.summary(reading), on_disk=False)

    def _failed(self, exc: SourceError) -> None:
        self._missed += 1
        if getattr(exc, "asleep", False) and self.failures < BACKOFF_AFTER - 1:
            # A device that sleeps (an SMA inverter at night): one line, back off at once.
            self.failures = BACKOFF_AFTER - 1
        self.failures += 1
        self.failed_polls += 1
        if self._down_since is None:
            self._down_since = time.monotonic()
        if self.failures < BACKOFF_AFTER:
            self._log.warning("poll failed", error=str(exc), kind=type(exc).__name__)
        elif self.failures == BACKOFF_AFTER:
            self._log.warning(
                "poll failed, backing off",
                error=str(exc),
                kind=type(exc).__name__,
                failures=self._missed,
                next_in_s=round(
                    backoff_delay(self.source.interval, self.failures, self.max_backoff), 1
                ),
                max_gap_s=self.max_backoff,
                note="further failures are not logged until the device answers",
            )

    def _recovered(self) -> None:
        if self.failures and self._down_since is not None and self.failures >= BACKOFF_AFTER:
            self._log.info(
                "device back",
                after_s=round(time.monotonic() - self._down_since),
                failed_polls=self._missed,
            )
        self.failures = 0
        self._missed = 0
        self._down_since = None
