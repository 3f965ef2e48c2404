"""Readings dropped at the queue's limits: the first drop is said at once, then one summary an
hour while it goes on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from collector.logging import get_logger

DROP_SUMMARY_EVERY = 3600.0


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Span:
    """How many readings, and the reading times of the first and last of them."""

    count: int = 0
    first: int | None = None
    last: int | None = None

    def add(self, other: Span) -> None:
        if other.count:
            self.count += other.count
            self.first = other.first if self.first is None else min(self.first, other.first or 0)
            self.last = other.last if self.last is None else max(self.last, other.last or 0)


class DropReport:
    """Dropped readings: the first drop is logged at once, then one summary per hour."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._log = get_logger(component="queue")
        self._count = 0
        self._first: int | None = None
        self._last: int | None = None
        self._limits: set[str] = set()
        self._last_report: float | None = None
        self.total = 0

    def add(self, count: int, first_time: int | None, last_time: int | None, limit: str) -> None:
        if count <= 0:
            return
        self.total += count
        self._count += count
        if first_time is not None:
            self._first = first_time if self._first is None else min(self._first, first_time)
        if last_time is not None:
            self._last = last_time if self._last is None else max(self._last, last_time)
        self._limits.add(limit)
        now = self._clock()
        if self._last_report is None or now - self._last_report >= DROP_SUMMARY_EVERY:
            self._flush(now, first=self._last_report is None)

    def _flush(self, now: float, *, first: bool) -> None:
        self._log.warning(
            "queue limit reached, oldest readings dropped" if first else "still dropping readings",
            dropped=self._count,
            oldest=iso(self._first),
            newest=iso(self._last),
            limit=", ".join(sorted(self._limits)),
            note=None if first else "since the last message",
        )
        self._last_report = now
        self._count = 0
        self._first = self._last = None
        self._limits.clear()
