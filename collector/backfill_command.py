"""`collector backfill --from YYYY-MM-DD [--to YYYY-MM-DD] [--source NAME]`: older history once.

For a user who wants what the devices remember from before the collector ran (after installing
it, say). Each configured instance whose device keeps a log is asked once (one live poll, not
written) which series it has; then its log is read a day at a time, gently (one request at a
time, a pause between), and the records go through the queue to the database like every
reading, screened as the daemon's backfill screens them.

Nothing is written twice: for a series the daemon has already seen, the range ends where the
series is whole from (`since` in DATA_DIR/backfill.json: its first reading, or the start of
what the daemon filled at its first start); afterwards `since` moves back to `--from`. A series
the daemon has not seen yet is filled up to `--to` (or now), and the daemon fills from there at
its first start. The daemon must not run meanwhile (the queue and the devices' sessions are
its): the command says so and stops if it does.

Days are the machine's local days (TZ). On a terminal, a progress bar; otherwise one line per
day and series.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, TextIO

from collector.backfill import (
    MARKS_FILE,
    PAUSE,
    DeviceLog,
    LogMarks,
    counter_fields,
    device_log_of,
    request_end,
    screen,
    series_key,
    store,
    wanted,
)
from collector.config import Config
from collector.errors import SourceError
from collector.queue.drops import iso
from collector.report import day_bounds
from collector.sources import Emit

if TYPE_CHECKING:
    from collector.daemon import Running

DELIVER_WITHIN = 120.0  # seconds the command waits for the database to take what it queued


class BackfillError(Exception):
    """Why the command cannot run, in one line."""


@dataclass
class Job:
    """One series' range to fill."""

    item: Running  # the instance (one device of it)
    key: str  # the series' key in the marks file
    log: DeviceLog
    tags: dict[str, str]
    start: float
    end: float


def local_zone() -> tzinfo:
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BackfillError(f"{option}: {text!r} is not a date like 2026-11-23") from None


def days_between(start: float, end: float, zone: tzinfo) -> list[tuple[date, float, float]]:
    """The local days from `start` to `end` (Unix seconds), each cut to the range."""
    result = []
    day = datetime.fromtimestamp(start, zone).date()
    while True:
        begin, after = (moment.timestamp() for moment in day_bounds(day, zone))
        if begin >= end:
            break
        result.append((day, max(begin, start), min(after, end)))
        day += timedelta(days=1)
    return result


class Progress:
    """A bar on a terminal; one line per day otherwise."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out = out
        self.total = max(total, 1)
        self.done = 0
        self.terminal = out.isatty()

    def day(self, series: str, day: date, points: int, left_out: int) -> None:
        self.done += 1
        note = f", {left_out} left out" if left_out else ""
        count = f"{points} point{'' if points == 1 else 's'}"
        if self.terminal:
            width = 30
            filled = round(width * self.done / self.total)
            bar = "#" * filled + "." * (width - filled)
            self.out.write(
                f"\r[{bar}] {self.done}/{self.total} days  {series} {day.isoformat()}: "
                f"{count}{note}   "
            )
            if self.done == self.total:
                self.out.write("\n")
        else:
            self.out.write(f"{series} {day.isoformat()}: {count}{note}\n")
        self.out.flush()

    def failed(self, series: str, day: date, error: str) -> None:
        if self.terminal:
            self.out.write("\n")
        self.out.write(f"{series} {day.isoformat()}: not read: {error}\n")
        self.out.flush()


async def run_backfill(
    config: Config,
    first: date,
    last: date | None,
    source: str | None,
    out: TextIO = sys.stdout,
    *,
    pause: float = PAUSE,
    zone: tzinfo | None = None,
) -> int:
    """Fill each selected series from `first` to the end of `last` (or now); 0 when every day
    was read, 1 when some could not be."""
    from collector.cli import first_reading
    from collector.daemon import build_instances, open_queue
    from collector.lock import DataDirLock
    from collector.sinks import make_sink
    from collector.sinks.writer import Writer

    zone = zone or local_zone()
    start = day_bounds(first, zone)[0].timestamp()
    end = time.time()
    if last is not None:
        end = min(end, day_bounds(last, zone)[1].timestamp())
    if end <= start:
        raise BackfillError(f"--from {first.isoformat()} lies after the range's end")
    assert config.influx is not None
    runtime = config.runtime
    lock = DataDirLock.acquire(runtime.data_dir)  # AlreadyRunning: said by the cli
    try:
        instances = build_instances(config)
        chosen = [item for item in instances if source is None or item.instance.name == source]
        if source is not None and not chosen:
            names = ", ".join(sorted({item.instance.name for item in instances})) or "none"
            raise BackfillError(f"--source {source}: no such source (configured: {names})")
        logs = [(item, device_log_of(item.instance)) for item in chosen]
        logged = [(item, found[0]) for item, found in logs if found is not None]
        if not logged:
            raise BackfillError(
                "none of the chosen sources keeps a log to fill from (the SMA inverters over "
                "Speedwire, WebConnect and ennexOS, and SENEC's cloud do)"
            )
        marks = LogMarks.load(runtime.data_dir / MARKS_FILE)
        jobs: list[Job] = []
        for item, log in logged:
            reading = await first_reading(item)  # the series it has; not written
            if reading is None:
                out.write(
                    f"{item.label}: no answer, so its series is not known: "
                    f"{item.instance.status.last_error or 'no reading'}\n"
                )
                continue
            key = series_key(item.instance.name, item.kind.series_tag, reading)
            mark = marks.get(key)
            upto = end if mark.since is None else min(end, mark.since)
            if upto <= start:
                out.write(f"{key}: already whole from {iso(mark.since or upto)} on\n")
                continue
            jobs.append(Job(item, key, log, dict(reading.tags), start, upto))
        if not jobs:
            return 0 if logged else 1
        sink = make_sink(config.influx)
        queue = await open_queue(runtime)
        writer = Writer(sink, queue, flush_interval=config.influx.flush_interval)
        writing = asyncio.create_task(writer.run())
        days = {job.key: days_between(job.start, job.end, zone) for job in jobs}
        progress = Progress(out, sum(len(items) for items in days.values()))
        failed = points = 0
        try:
            for job in jobs:
                emit = job.item.emitter(queue.submit)
                counters = counter_fields(job.item.kind.fields)
                floor: dict[str, float] = {}
                for day, begin, finish in days[job.key]:
                    try:
                        kept, left_out = await _fill_day(
                            job, (begin, finish), counters, floor, emit, pause
                        )
                    except SourceError as exc:
                        failed += 1
                        progress.failed(job.key, day, str(exc))
                        continue
                    points += kept
                    progress.day(job.key, day, kept, left_out)
                mark = marks.get(job.key)
                if mark.since is None:  # the daemon fills on from here at its first start
                    mark.last = max(mark.last or 0.0, job.end)
                mark.since = min(mark.since or job.start, job.start)
                marks.save()
        finally:
            writer.begin_shutdown(DELIVER_WITHIN)
            await writing
            left = queue.pending
            await queue.close()
            await sink.aclose()
            for item in instances:
                await item.instance.aclose()
        delivered = f"{points - left} delivered" if left else "all delivered"
        waiting = f"; {left} wait in the queue for the collector to deliver" if left else ""
        out.write(f"backfilled {points} points of {len(jobs)} series ({delivered}{waiting})\n")
        return 1 if failed else 0
    finally:
        lock.release()


async def _fill_day(
    job: Job,
    span: tuple[float, float],
    counters: frozenset[str],
    floor: dict[str, float],
    emit: Emit,
    pause: float,
) -> tuple[int, int]:
    """One day of one series, in requests of at most the log's span, each ending on its grid.
    (points written, records left out)"""
    log = job.log
    at, finish = span
    kept_total = left_total = 0
    while at < finish:
        upto = request_end(at, finish, log)
        readings = await log.read_log(
            job.tags, datetime.fromtimestamp(at, UTC), datetime.fromtimestamp(upto, UTC)
        )
        records = wanted(readings, at, upto, log.log_covers)
        screened = screen(records, log.log_step, counters, floor, {})
        floor.update(screened.floor)
        await store(screened.kept, emit)
        kept_total += len(screened.kept)
        left_total += screened.left_out + len(readings) - len(records)
        at = upto
        await asyncio.sleep(pause)
    return kept_total, left_total
