"""Backfill: the gaps in a device's series filled from the device's own log.

A polled kind whose device keeps a log (an SMA inverter's 5-minute yield, SENEC's cloud's
5-minute energies) implements `DeviceLog` beside its `Poller`. For each such instance the daemon
runs a `Filler` beside the poll loop:

- **Which gaps.** The filler sees every live reading once it is on disk and keeps, per series
  (the instance and the reading's series tag, e.g. an inverter's serial), the time of the last
  one in `DATA_DIR/backfill.json`. A reading that comes longer than one log step after the one
  before it (the collector was stopped, or the device did not answer) opens a gap between the
  two. A series never seen before (the first start) opens a gap of BACKFILL_DAYS before its
  first reading. No gap reaches back further than BACKFILL_DAYS; 0 turns backfill off.
- **How.** Oldest first, one request at a time of at most the log's `log_span`, a pause between
  requests, and only while the live poll does not need the device: a request still running when
  the next poll is due is cancelled and asked again after it (`DeviceTurn`).
- **What.** The log's records become readings of the same series as the live ones (or of a
  measurement of their own), through the same queue. A record off the log's grid, or a counter
  that goes backwards (below the record before it, or above the live reading that closes the
  gap), is left out and counted. A gap is shortened in the file once a request's readings are
  on disk, so a collector stopped while filling goes on where it stopped.
- **Errors.** A failed request is said once, with the error, and asked again later with growing
  pauses; the live polling goes on untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from collector.errors import SourceError
from collector.logging import get_logger
from collector.queue.drops import iso
from collector.reading import TOTAL_INCREASING, Catalogue, FieldValue, Reading
from collector.sources import Done, Emit

MARKS_FILE = "backfill.json"
DAY = 86400.0
PAUSE = 1.0  # seconds between two requests to one device
RETRY_FIRST = 60.0  # after a failed request: this, doubled each time, up to RETRY_MOST
RETRY_MOST = 3600.0
PREEMPTED_AT_MOST = 5  # requests in a row cut short by the live poll before that is said
SAVE_EVERY = 10.0  # seconds between writes of the marks file while readings come

T = TypeVar("T")


@runtime_checkable
class DeviceLog(Protocol):
    """What a poller whose device keeps a log adds."""

    log_step: float  # seconds between the log's records (300 for a 5-minute log)
    log_span: float  # the longest span one request asks for (a multiple of the step)
    # Seconds after its time that a record accounts for: 0 for a counter's value at that
    # moment; the step for the energy of the interval that begins at its time. Such a record
    # is wanted only when its whole interval lies in the gap.
    log_covers: float
    # Seconds after a time before the log has it for good (a cloud that sums up late): a
    # gap's end is asked for only once this much has passed.
    log_settle: float

    def describe_log(self) -> str:
        """What the log is and where it comes from, for the log lines."""
        ...

    async def read_log(
        self, series: Mapping[str, str], start: datetime, end: datetime
    ) -> list[Reading]:
        """The log's records of the series with `start <= time < end`, as readings (with the
        series' tags); a SourceError when the device cannot say."""
        ...


def device_log_of(instance: object) -> tuple[DeviceLog, DeviceTurn] | None:
    """The instance's device log and the turns it takes with the live poll, if its kind has a
    log (`PollLoop.device_log`, `PollLoop.turn`)."""
    log = getattr(instance, "device_log", None)
    turn = getattr(instance, "turn", None)
    if isinstance(log, DeviceLog) and isinstance(turn, DeviceTurn):
        return log, turn
    return None


# --- the marks file ----------------------------------------------------------------------------


@dataclass
class Gap:
    """Times still to be asked for: `start <= t < end` (Unix seconds), and the counters the
    records in it must lie between: those of the reading before (moved on as records are
    written) and of the live reading after it."""

    start: float
    end: float
    floor: dict[str, float] = field(default_factory=dict)
    ceiling: dict[str, float] = field(default_factory=dict)


@dataclass
class SeriesMark:
    """One series as far as it is collected: the last live reading's time and counters, the
    gaps not yet filled, and since when the series is whole (live readings, the log's records
    and the gaps still to fill): `collector backfill` fills what lies before."""

    last: float | None = None
    counters: dict[str, float] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    since: float | None = None


class LogMarks:
    """DATA_DIR/backfill.json: every series' mark, by `instance/series`. Written whole to a
    temporary file and renamed over the old one, so a power cut leaves one or the other."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marks: dict[str, SeriesMark] = {}
        self.dirty = False
        self.error: str | None = None

    @classmethod
    def load(cls, path: Path) -> LogMarks:
        marks = cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return marks
        except (OSError, ValueError) as exc:
            marks.error = f"{path} cannot be read ({exc}): every series starts afresh"
            return marks
        if not isinstance(raw, dict):
            marks.error = f"{path} is not a JSON object: every series starts afresh"
            return marks
        for key, entry in raw.items():
            try:
                marks.marks[str(key)] = SeriesMark(
                    last=None if entry.get("last") is None else float(entry["last"]),
                    counters={str(k): float(v) for k, v in entry.get("counters", {}).items()},
                    gaps=[_gap(item) for item in entry.get("gaps", [])],
                    since=None if entry.get("since") is None else float(entry["since"]),
                )
            except (AttributeError, TypeError, ValueError):
                marks.error = f"{path}: the entry {key!r} is not a mark; it starts afresh"
        return marks

    def get(self, key: str) -> SeriesMark:
        return self.marks.setdefault(key, SeriesMark())

    def save(self) -> None:
        """Write the file (OSError when DATA_DIR cannot be written)."""
        data = {
            key: {
                "last": mark.last,
                "counters": mark.counters,
                "gaps": [dataclasses.asdict(gap) for gap in mark.gaps],
                "since": mark.since,
            }
            for key, mark in sorted(self.marks.items())
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
        self.dirty = False


def _gap(item: Any) -> Gap:
    return Gap(
        float(item["start"]),
        float(item["end"]),
        {str(k): float(v) for k, v in item.get("floor", {}).items()},
        {str(k): float(v) for k, v in item.get("ceiling", {}).items()},
    )


# --- the device's turns ------------------------------------------------------------------------


class Preempted(Exception):
    """A spare request was cut short because the live poll needed the device."""


class DeviceTurn:
    """The live poll has the device first: spare work (a log request) runs only between polls,
    and a poll that comes due cancels it instead of waiting for it."""

    def __init__(self) -> None:
        self._idle = asyncio.Event()
        self._idle.set()
        self._spare: asyncio.Task[Any] | None = None

    async def poll_begins(self) -> None:
        self._idle.clear()
        spare = self._spare
        if spare is not None and not spare.done():
            spare.cancel()
            await asyncio.wait([spare])

    def poll_ends(self) -> None:
        self._idle.set()

    async def spare(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work()` once the device is free; Preempted when a poll cut it short."""
        await self._idle.wait()
        task: asyncio.Task[T] = asyncio.ensure_future(work())
        self._spare = task
        try:
            await asyncio.wait([task])
        finally:
            if not task.done():  # this waiter was cancelled (shutdown): so is the request
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._spare = None
        if task.cancelled():
            raise Preempted
        return task.result()


# --- screening a log ---------------------------------------------------------------------------


@dataclass
class Screened:
    kept: list[Reading]
    floor: dict[str, float] = field(default_factory=dict)  # the counters of the last kept
    off_grid: int = 0
    backwards: int = 0
    outside: int = 0  # records the device sent from outside the span asked for

    @property
    def left_out(self) -> int:
        return self.off_grid + self.backwards


def counter_fields(catalogue: Catalogue) -> frozenset[str]:
    """The fields that only ever grow (energy counters): `total_increasing` in the catalogue."""
    return frozenset(
        name for name, spec in catalogue.items() if spec.home_assistant[1] == TOTAL_INCREASING
    )


def screen(
    readings: list[Reading],
    step: float,
    counters: frozenset[str],
    floor: Mapping[str, float],
    ceiling: Mapping[str, float],
) -> Screened:
    """The readings in time order with a time on the log's grid (a multiple of `step`) and
    counters that never go backwards: each at least the one before it (starting from `floor`),
    and at most `ceiling` (the live reading after the gap). A record off the grid is left out
    whole; a counter out of order costs its field (and the record, when nothing else is left).
    `floor` of the result: what the next records must not go below."""
    result = Screened([], dict(floor))
    previous = result.floor
    for reading in sorted(readings, key=lambda item: item.time):
        if reading.timestamp % step:
            result.off_grid += 1
            continue
        fields: dict[str, FieldValue] = {}
        wrong = False
        for name, value in reading.fields.items():
            if name in counters and isinstance(value, int | float):
                low = previous.get(name, -math.inf)
                high = ceiling.get(name, math.inf)
                if not low <= value <= high:
                    wrong = True
                    continue
                previous[name] = float(value)
            fields[name] = value
        if wrong:
            result.backwards += 1
        if not fields:
            continue
        if len(fields) != len(reading.fields):
            reading = Reading(reading.time, reading.measurement, fields, reading.tags)
        result.kept.append(reading)
    return result


# --- filling an instance's gaps ----------------------------------------------------------------


def series_key(name: str, series_tag: str | None, reading: Reading) -> str:
    """A series' key in the marks file: the instance, and its series tag's value if it has one."""
    series = reading.tags.get(series_tag, "") if series_tag else ""
    return f"{name}/{series}" if series else name


class Filler:
    """One instance's backfill: fed its live readings (`seen`), it fills the gaps between them
    from the device's log (`run`)."""

    def __init__(
        self,
        name: str,
        log: DeviceLog,
        turn: DeviceTurn,
        marks: LogMarks,
        *,
        catalogue: Catalogue,
        series_tag: str | None,
        interval: float,
        days: float,
        pause: float = PAUSE,
    ) -> None:
        self.name = name
        self.log = log
        self.turn = turn
        self.marks = marks
        self.series_tag = series_tag
        self.interval = interval
        self.days = days
        self.pause = pause
        self.counters = counter_fields(catalogue)
        # silent for longer than this (a step of the log, and two polls' slack): a gap
        self._away = log.log_step + 2 * interval
        self._tags: dict[str, dict[str, str]] = {}  # each series' tags, as its live readings
        self._wake = asyncio.Event()
        self._said: set[str] = set()
        self._log = get_logger(source=name, component="backfill")

    # --- what the live readings say -------------------------------------------------------

    def seen(self, reading: Reading) -> None:
        """A live reading is on disk: the series' mark moves on; a gap before it opens."""
        key = series_key(self.name, self.series_tag, reading)
        mark = self.marks.get(key)
        now = float(reading.timestamp)
        counters = {
            name: float(value)
            for name, value in reading.fields.items()
            if name in self.counters and isinstance(value, int | float)
        }
        reach = now - self.days * DAY
        if mark.last is None and key not in self._tags:  # the first reading of this series
            if self.days > 0:
                self._open(mark, Gap(reach, now, {}, counters))
            mark.since = min(mark.since or now, reach if self.days > 0 else now)
        elif self.days > 0 and mark.last is not None and now - mark.last > self._away:
            self._open(mark, Gap(max(mark.last + 1, reach), now, mark.counters, counters))
        self._tags[key] = dict(reading.tags)
        mark.last = now
        mark.counters = counters
        self.marks.dirty = True

    def _open(self, mark: SeriesMark, gap: Gap) -> None:
        if gap.end - gap.start < self.log.log_step + self.log.log_covers:
            return  # no record of the log can lie in it
        mark.gaps.append(gap)
        self._wake.set()

    # --- filling --------------------------------------------------------------------------

    def _next(self) -> tuple[str, SeriesMark, Gap] | None:
        """The oldest gap of a series whose tags are known (it has had a live reading)."""
        best: tuple[str, SeriesMark, Gap] | None = None
        for key, mark in self.marks.marks.items():
            if key != self.name and not key.startswith(f"{self.name}/"):
                continue
            if key not in self._tags:
                continue
            for gap in mark.gaps:
                if best is None or gap.start < best[2].start:
                    best = (key, mark, gap)
        return best

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        try:
            await self._fill(emit, stop)
        finally:  # stopped or cancelled: the marks as they are now
            self._save()

    async def _fill(self, emit: Emit, stop: asyncio.Event) -> None:
        retry = RETRY_FIRST
        preempted = 0
        while not stop.is_set():
            found = self._next()
            if found is None:
                self._wake.clear()
                await _either(stop, self._wake, SAVE_EVERY)
                self._save()
                continue
            key, mark, gap = found
            step, covers = self.log.log_step, self.log.log_covers
            end = request_end(gap.start, gap.end, self.log)
            settled = time.time() - self.log.log_settle
            if end > settled:  # the log may not have the end yet: ask when it has
                if settled - gap.start >= step + covers:
                    end = settled - settled % step
                else:
                    self._wake.clear()
                    await _either(stop, self._wake, min(SAVE_EVERY, end - settled))
                    continue
            start_at = datetime.fromtimestamp(gap.start, UTC)
            end_at = datetime.fromtimestamp(end, UTC)
            tags = self._tags[key]
            try:
                readings = await self.turn.spare(
                    functools.partial(self.log.read_log, tags, start_at, end_at)
                )
            except Preempted:
                preempted += 1
                if preempted == PREEMPTED_AT_MOST:
                    self._say_once(
                        "preempted",
                        "backfill waits: the device's log does not answer between two polls",
                        note=f"{PREEMPTED_AT_MOST} log requests in a row were cut short by the "
                        "live poll; asked again after a pause (said once)",
                    )
                    await _either(stop, None, retry)
                    retry = min(retry * 2, RETRY_MOST)
                    preempted = 0
                continue
            except Exception as exc:  # a SourceError, or a bug of the kind
                preempted = 0
                self._failed(exc, retry)
                await _either(stop, None, retry)
                retry = min(retry * 2, RETRY_MOST)
                continue
            preempted = 0
            if "failed" in self._said:
                self._said.discard("failed")
                self._log.info("backfill answers again", log=self.log.describe_log())
            retry = RETRY_FIRST
            records = wanted(readings, gap.start, end, covers)
            screened = screen(records, step, self.counters, gap.floor, gap.ceiling)
            screened.outside = len(readings) - len(records)
            await store(
                screened.kept, emit, functools.partial(self._done, key, mark, gap, end, screened)
            )
            await _either(stop, None, self.pause)

    def _failed(self, exc: Exception, retry: float) -> None:
        """A log request that failed: said once (a bug with its traceback); the live polling
        goes on, the log is asked again after `retry` seconds."""
        context: dict[str, Any] = {
            "log": self.log.describe_log(),
            "retry_in_s": round(retry),
            "note": "the live polling goes on; the log is asked again with growing pauses "
            "(said once, until it answers)",
        }
        if isinstance(exc, SourceError):
            self._say_once("failed", "backfill failed", error=str(exc), **context)
        else:
            self._say_once(
                "failed",
                "backfill failed: a bug in the collector",
                error=f"{type(exc).__name__}: {exc}",
                exc_info=exc,
                **context,
            )

    def _done(self, key: str, mark: SeriesMark, gap: Gap, end: float, screened: Screened) -> None:
        """A request's readings are on disk: the gap shrinks, and the file says so."""
        gap.floor = screened.floor
        context: dict[str, Any] = {
            "series": key,
            "start": iso(gap.start),
            "end": iso(end),
            "points": len(screened.kept),
        }
        gap.start = end
        if gap.start >= gap.end:
            mark.gaps.remove(gap)
            context["gap_filled"] = True
        self.marks.dirty = True
        self._save()
        for name in ("off_grid", "backwards", "outside"):
            if getattr(screened, name):
                context[name] = getattr(screened, name)
        self._log.info("backfilled", **context)

    def _save(self) -> None:
        if not self.marks.dirty:
            return
        try:
            self.marks.save()
        except OSError as exc:
            self._say_once(
                "save",
                "backfill marks not saved",
                path=str(self.marks.path),
                error=str(exc),
                note="after a restart, gaps are found from what was saved last (said once)",
            )

    def _say_once(self, what: str, event: str, **context: Any) -> None:
        if what in self._said:
            return
        self._said.add(what)
        self._log.warning(event, **context)


def request_end(start: float, end: float, log: DeviceLog) -> float:
    """Where one request from `start` ends: at most the log's span on, on its grid (so that no
    interval is cut in two), and at most `end`."""
    upto = start + log.log_span
    return min(upto - upto % log.log_step, end)


def wanted(readings: list[Reading], start: float, end: float, covers: float) -> list[Reading]:
    """The records that lie in [start, end): a counter's moment, or an interval's whole."""
    return [
        r
        for r in readings
        if start <= r.timestamp and (r.timestamp + covers <= end if covers else r.timestamp < end)
    ]


async def store(
    readings: list[Reading], emit: Emit, then: Callable[[], None] | None = None
) -> None:
    """Put the readings on the queue, wait until they are on disk (or held), then `then()`.
    Cancelled meanwhile (the shutdown), it still waits for them a little."""
    left = len(readings)
    stored = asyncio.Event()
    if not readings:
        stored.set()

    def done(on_disk: bool) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            stored.set()

    for reading in readings:
        emit(reading, done)
    try:
        await stored.wait()
    except asyncio.CancelledError:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stored.wait(), timeout=5.0)
        if stored.is_set() and then is not None:
            then()
        raise
    if then is not None:
        then()


def watched(filler: Filler, emit: Emit) -> Emit:
    """`emit` for live readings, telling the filler of each one once it is on disk."""

    def watch(reading: Reading, done: Done) -> None:
        def stored(on_disk: bool) -> None:
            filler.seen(reading)
            done(on_disk)

        emit(reading, stored)

    return watch


async def _either(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
    """Wait until `stop` (or `wake`) is set, at most `seconds`."""
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in waits:
            future.cancel()
