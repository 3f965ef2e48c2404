"""The queue store on real SQLite files: order, bounds, rejected readings, broken disks."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from collector.health import BacklogTrend, QueueHealth, SourceHealth, check_health, write_health
from collector.queue import (
    QUEUE_FILE,
    SCHEMA_VERSION,
    DurableQueue,
    QueuedReading,
    QueueError,
    QueueStore,
    data_dir_problem,
    open_existing,
)
from collector.reading import Reading

LINE = "SENEC " + ",".join(f"field_{i}={i * 1234}i" for i in range(30))  # ~500 bytes, like SENEC


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _store(tmp_path: Path, **options: Any) -> QueueStore:
    store = QueueStore(tmp_path / QUEUE_FILE, **options)
    store.open()
    return store


def _fill(store: QueueStore, count: int, start: int = 0, clock: Clock | None = None) -> None:
    for index in range(start, start + count):
        if clock is not None:
            clock.now += 5
        assert store.append(1_800_000_000 + index, "SENEC", f"{LINE} {1_800_000_000 + index}")


def _times(store: QueueStore, limit: int = 100_000) -> list[int]:
    return [item.time for item in store.peek(limit)]


def test_readings_come_out_in_order_and_only_confirmed_ones_are_deleted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _fill(store, 10)
    first = store.peek(4)
    assert [item.time - 1_800_000_000 for item in first] == [0, 1, 2, 3]
    assert store.peek(4) == first  # peeking removes nothing
    store.remove(first)
    assert store.pending == 6
    store.close()
    reopened = _store(tmp_path)  # a new process finds the rest, in order
    assert reopened.pending == 6
    assert [t - 1_800_000_000 for t in _times(reopened)] == [4, 5, 6, 7, 8, 9]
    reopened.close()


def test_the_file_is_wal_with_full_sync(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.close()
    conn = sqlite3.connect(tmp_path / QUEUE_FILE)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    conn.close()


def test_rejected_readings_are_kept_with_the_reason_and_can_be_put_back(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _fill(store, 3)
    middle = store.peek(3)[1]
    assert store.reject(middle, 400, "field type conflict: house_power is string")
    assert (store.pending, store.rejected) == (2, 1)
    stats = store.stats()
    assert (stats.pending, stats.rejected) == (2, 1)
    group = stats.rejected_groups[0]
    assert (group.status, group.count, group.first_time) == (400, 1, 1_800_000_001)
    assert "field type conflict" in group.reason
    assert store.retry_rejected() == 1
    assert (store.pending, store.rejected) == (3, 0)
    assert [t - 1_800_000_000 for t in _times(store)] == [0, 1, 2]  # back at its old place
    store.reject(store.peek(3)[1], 400, "again")
    other = open_existing(tmp_path / QUEUE_FILE)  # `collector queue retry-rejected`
    assert other.retry_rejected() == 1
    other.close()
    assert store.pending == 2  # the daemon's count does not know yet
    assert len(store.peek(10)) == 3
    assert store.pending == 3  # a peek that finds more rows counts again
    store.close()


def test_readings_older_than_the_age_limit_are_dropped_with_one_warning(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, max_age=300.0, clock=clock)  # 5 minutes
    with capture_logs() as logs:
        _fill(store, 100, clock=clock)  # 5 s apart: 500 s in all
        clock.now += 61  # the next append checks the age
        _fill(store, 1, start=100)
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["queue limit reached, oldest readings dropped"]
    # The age is checked every 60 s: first at +360 s, when the readings queued at +5 .. +55 s
    # are older than 300 s (11 readings). Later drops within the hour are only counted.
    assert warnings[0]["dropped"] == 11
    assert warnings[0]["oldest"] == "2027-01-15T08:00:00Z"
    assert warnings[0]["newest"] == "2027-01-15T08:00:10Z"
    # At +561 s everything queued up to +260 s has gone: 52 readings in all.
    assert store.drops.total == 52
    assert warnings[0]["limit"] == "BUFFER_MAX_AGE=5m"
    assert _times(store)[0] == 1_800_000_052
    assert store.pending == 49
    store.close()


def test_the_size_limit_keeps_the_file_small_and_warns_once_an_hour(tmp_path: Path) -> None:
    clock = Clock()
    limit = 256 * 1024
    store = _store(tmp_path, max_bytes=limit, clock=clock)
    with capture_logs() as logs:
        _fill(store, 2000)  # about 1 MB of readings
        clock.now += 3700
        _fill(store, 1000, start=2000)
    store.close()
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == [
        "queue limit reached, oldest readings dropped",
        "still dropping readings",
    ]
    assert warnings[0]["limit"] == "BUFFER_MAX_MB=0.25"
    assert warnings[0]["oldest"] == "2027-01-15T08:00:00Z"  # the very first reading went first
    reopened = open_existing(tmp_path / QUEUE_FILE)
    stats = reopened.stats()
    times = _times(reopened)
    reopened.close()
    assert warnings[0]["dropped"] < warnings[1]["dropped"]  # the summary adds up the hour
    assert stats.pending + store.drops.total == 3000
    assert times == list(range(times[0], 1_800_003_000))  # the newest kept, no gaps
    assert (tmp_path / QUEUE_FILE).stat().st_size <= limit * 1.1


def test_a_full_disk_holds_readings_in_memory_and_saves_them_when_space_returns(
    tmp_path: Path,
) -> None:
    store = QueueStore(tmp_path / QUEUE_FILE, max_pages=12, disk_retry_every=0.0)
    store.open()
    with capture_logs() as logs:
        results = [
            store.append(1_800_000_000 + i, "SENEC", f"{LINE} {1_800_000_000 + i}")
            for i in range(60)
        ]
    assert results[0] is True
    assert results[-1] is False  # the pages ran out
    failed = [e for e in logs if e["event"] == "queue cannot be written"]
    assert len(failed) == 1  # said once, not for every reading
    assert "full" in failed[0]["error"]
    assert not store.on_disk
    in_flight = store.peek(100)  # the writer holds disk and memory readings
    assert [item.time - 1_800_000_000 for item in in_flight] == list(range(60))
    assert any(item.held for item in in_flight)
    store.conn.execute("PRAGMA disk.max_page_count = 100000")  # space again
    with capture_logs() as logs:
        assert store.append(1_800_000_060, "SENEC", f"{LINE} 1800000060")
    back = [e for e in logs if e["event"] == "queue on disk again"]
    assert back
    assert back[0]["saved_from_memory"] == results.count(False)
    assert store.on_disk
    store.remove(in_flight)  # memory ids of the batch in flight still find their rows
    assert store.pending == 1
    store.close()
    reopened = open_existing(tmp_path / QUEUE_FILE)
    assert _times(reopened) == [1_800_000_060]
    reopened.close()


def test_a_failed_move_from_memory_to_disk_leaves_no_stale_ids(tmp_path: Path) -> None:
    """Moving memory readings to disk fails half-way (one page of room, 40 readings): the ids of
    the rolled-back rows must not be taken for the readings' disk ids."""
    store = QueueStore(tmp_path / QUEUE_FILE, max_pages=12, disk_retry_every=0.0)
    store.open()
    index = 0
    while store.append(1_800_000_000 + index, "SENEC", f"{LINE} {index}"):
        index += 1
    for extra in range(1, 40):
        store.append(1_800_000_000 + index + extra, "SENEC", f"{LINE} {index + extra}")
    in_flight = store.peek(1000)
    in_memory = [item for item in in_flight if item.held]
    assert len(in_memory) == 40
    pages = store.conn.execute("PRAGMA disk.page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA disk.max_page_count = {pages + 1}")  # room for a few, not 40
    assert store.append(1_800_009_998, "SENEC", f"{LINE} 9998") is False
    moved = store.conn.execute("SELECT count(*) FROM moved").fetchone()[0]
    assert moved == 0  # the move was rolled back, and so were its ids
    store.remove(in_memory)  # InfluxDB confirmed the memory readings meanwhile
    assert store.in_memory == 1  # only the newest is left in memory
    store.conn.execute("PRAGMA disk.max_page_count = 100000")
    assert store.append(1_800_009_999, "SENEC", f"{LINE} 9999")
    times = _times(store)
    assert times[-2:] == [1_800_009_998, 1_800_009_999]
    assert len(times) == index + 2  # the disk readings, then the two newest
    store.close()


def test_readings_confirmed_while_the_disk_is_full_are_deleted_once_it_works(
    tmp_path: Path,
) -> None:
    """InfluxDB confirms readings on disk while the disk refuses writes: they are not handed
    out again, not counted, and deleted from the file once the disk works again."""
    store = QueueStore(tmp_path / QUEUE_FILE, max_pages=12, disk_retry_every=0.0)
    store.open()
    start = 1_800_000_000
    index = 0
    while store.append(start + index, "SENEC", f"{LINE} {index}"):
        index += 1
    assert not store.on_disk
    assert store.in_memory == 1
    delivered = store.peek(5)
    assert not any(item.held for item in delivered)
    before = store.pending
    store.remove(delivered)
    assert store.pending == before - 5
    assert [item.time - start for item in store.peek(3)] == [5, 6, 7]
    store.append(start + 9998, "SENEC", f"{LINE} 9998")  # still full: held, deletes still owed
    assert store.pending == before - 5 + 1
    store.conn.execute("PRAGMA disk.max_page_count = 100000")
    assert store.append(start + 9999, "SENEC", f"{LINE} 9999")
    assert store.pending == before - 5 + 2
    store.close()
    reopened = open_existing(tmp_path / QUEUE_FILE)
    times = [time - start for time in _times(reopened)]
    reopened.close()
    assert times == [*range(5, index + 1), 9998, 9999]


def test_a_data_dir_that_cannot_be_created_is_one_error_and_readings_stay_in_memory(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = QueueStore(blocker / "data" / QUEUE_FILE, memory_limit=5)
    with capture_logs() as logs:
        assert store.open_or_hold_in_memory() is False
        for i in range(8):
            assert store.append(1_800_000_000 + i, "SENEC", f"{LINE} {i}") is False
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) == 1
    assert "cannot be created" in errors[0]["error"]
    assert "Not a directory" in errors[0]["error"]
    drops = [e for e in logs if e["event"] == "queue limit reached, oldest readings dropped"]
    assert drops
    assert drops[0]["limit"] == "5 in memory"
    kept = store.peek(10)
    assert [item.time - 1_800_000_000 for item in kept] == [3, 4, 5, 6, 7]
    store.remove(kept[:2])
    assert store.pending == 3
    with pytest.raises(QueueError, match="cannot be created"):
        store.open()


def test_a_damaged_file_is_moved_aside_and_a_new_queue_starts(tmp_path: Path) -> None:
    (tmp_path / QUEUE_FILE).write_bytes(b"this is not SQLite" * 1000)
    with capture_logs() as logs:
        store = _store(tmp_path)
    assert logs[0]["event"] == "queue file is damaged; moved aside and starting a new one"
    assert store.append(1_800_000_000, "SENEC", LINE)
    store.close()
    assert len(list(tmp_path.glob(f"{QUEUE_FILE}.broken-*"))) == 1


def test_a_queue_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / QUEUE_FILE)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(QueueError, match="newer collector"):
        _store(tmp_path)


def test_open_existing_never_creates_a_queue(tmp_path: Path) -> None:
    with pytest.raises(QueueError, match="has not run with this DATA_DIR"):
        open_existing(tmp_path / QUEUE_FILE)
    assert not (tmp_path / QUEUE_FILE).exists()


def test_space_is_given_back_when_the_queue_empties(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _fill(store, 3000)
    store.close()
    full = (tmp_path / QUEUE_FILE).stat().st_size
    store = _store(tmp_path)
    while batch := store.peek(1000):
        store.remove(batch)
    store.close()
    assert (tmp_path / QUEUE_FILE).stat().st_size < full / 5


# --- health ---------------------------------------------------------------------------------


def test_the_backlog_trend_only_counts_growth() -> None:
    trend = BacklogTrend()
    trend.update(1, 0)
    assert trend.growing_since(1) is None  # one reading in flight is not growth
    for second, pending in [(10, 3), (20, 9), (30, 20)]:
        trend.update(pending, second)
    assert trend.growing_since(20) == 0
    trend.update(10, 40)  # below the lowest level since it started? no: 10 > 1
    assert trend.growing_since(10) == 0
    trend.update(0, 50)  # emptied: reset
    assert trend.growing_since(0) is None
    trend.update(500, 60)
    trend.update(400, 70)  # shrinking after an outage: net progress
    assert trend.growing_since(400) is None
    trend.update(450, 80)
    assert trend.growing_since(450) == 70


def _health(tmp_path: Path, queue: QueueHealth, now: float) -> list[str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    write_health(data, now - 1000, [SourceHealth("senec-local", 5, now - 1)], queue, 600, 10)
    return check_health(data, now + 1)


def test_health_says_when_the_backlog_keeps_growing(tmp_path: Path) -> None:
    import time

    now = time.time()
    growing = QueueHealth(
        pending=130,
        on_disk=True,
        error=None,
        growing_since=now - 650,
        write_error="cannot reach InfluxDB at http://influxdb:8086: connection refused",
    )
    problems = _health(tmp_path, growing, now)
    assert len(problems) == 1
    assert problems[0].startswith("backlog growing for 651 s (limit 600 s): 130 readings")
    assert "connection refused" in problems[0]
    recent = QueueHealth(130, True, None, now - 100, "refused")
    assert _health(tmp_path, recent, now) == []


def test_health_says_when_the_queue_is_not_on_disk(tmp_path: Path) -> None:
    import time

    now = time.time()
    broken = QueueHealth(
        3, False, "DATA_DIR /data is not writable: Read-only file system", None, None
    )
    assert _health(tmp_path, broken, now) == [
        "queue not on disk, readings held in memory only: "
        "DATA_DIR /data is not writable: Read-only file system"
    ]


def test_health_falls_back_to_the_temporary_directory(tmp_path: Path) -> None:
    import time

    from collector.health import fallback_path

    blocker = tmp_path / "file"
    blocker.write_text("")
    data = blocker / "data"  # cannot exist
    now = time.time()
    queue = QueueHealth(1, False, "cannot be created", None, None)
    where = write_health(data, now, [SourceHealth("senec-local", 5, now)], queue, 600, 10)
    try:
        assert where == fallback_path(data)
        assert check_health(data, now) == [
            "queue not on disk, readings held in memory only: cannot be created"
        ]
    finally:
        where.unlink()


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (OSError(errno.EROFS, "Read-only file system"), "(mount a writable volume there;"),
        (OSError(errno.EACCES, "Permission denied"), f"`chown {os.getuid()}` the host directory"),
        (OSError(errno.ENOSPC, "No space left on device"), "(free space on that disk)"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "(a part of its path is a file)"),
    ],
)
def test_the_data_dir_advice_fits_the_cause(tmp_path: Path, error: OSError, advice: str) -> None:
    message = data_dir_problem(tmp_path / "data", error, "written")
    assert advice in message
    assert error.strerror is not None
    assert error.strerror in message
    if error.errno != errno.EACCES:
        assert "chown" not in message


def test_a_data_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("")
    store = QueueStore(blocker / QUEUE_FILE)
    with pytest.raises(QueueError) as caught:
        store.open()
    assert str(caught.value) == (
        f"DATA_DIR {blocker} is a file, not a directory: point DATA_DIR at a directory"
    )


class WatchedStore(QueueStore):
    """A store that notes which thread reads its counters."""

    readers: set[str]

    @property
    def pending(self) -> int:
        self.readers.add(threading.current_thread().name)
        return super().pending


def test_the_event_loop_reads_the_queue_s_figures_from_its_thread(tmp_path: Path) -> None:
    # before: DurableQueue.pending read the store's counters on the event loop while the queue
    # thread changed them (a move from memory to disk counted readings twice meanwhile)
    store = WatchedStore(tmp_path / QUEUE_FILE)
    store.readers = set()
    moments = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    seen: list[int] = []

    async def main() -> None:
        queue = DurableQueue(store)
        await queue.open()
        done = asyncio.Event()

        def collected(on_disk: bool) -> None:
            seen.append(queue.pending)  # as the poll loop logs a reading: the figure after it
            if len(seen) == 3:
                done.set()

        for second in range(3):
            reading = Reading(moments.replace(second=second), "m", {"power": second})
            queue.submit(reading, collected)
        await done.wait()
        items = await queue.peek(10)
        await queue.remove(items[:2])
        seen.append(queue.pending)
        await queue.close()

    asyncio.run(main())
    # the second and third were submitted while the first was written: one group, one figure
    assert seen == [1, 3, 3, 1]
    assert store.readers
    assert all(name.startswith("queue") for name in store.readers), store.readers


class GroupedStore(QueueStore):
    """A store that notes how many readings each of its transactions appended."""

    groups: list[int]

    def append_many(self, rows: list[tuple[int, str, str]]) -> bool:
        self.groups.append(len(rows))
        return super().append_many(rows)


def test_readings_submitted_while_others_are_written_share_one_transaction(
    tmp_path: Path,
) -> None:
    store = GroupedStore(tmp_path / QUEUE_FILE)
    store.groups = []
    moments = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    reported: list[tuple[int, bool]] = []

    async def main() -> list[int]:
        queue = DurableQueue(store)
        await queue.open()

        def report(second: int) -> Callable[[bool], None]:
            return lambda on_disk: reported.append((second, on_disk))

        for second in range(50):
            reading = Reading(moments.replace(second=second), "m", {"power": second})
            queue.submit(reading, report(second))
        await queue.close()  # closing waits for every group submitted before it
        return [item.time for item in store_after_close(tmp_path)]

    times = asyncio.run(main())
    assert store.groups == [1, 49]  # the first went alone; the rest waited for it, then as one
    assert reported == [(n, True) for n in range(50)]  # each said on disk, in order
    assert times == [int(moments.replace(second=n).timestamp()) for n in range(50)]


def store_after_close(tmp_path: Path) -> list[QueuedReading]:
    again = QueueStore(tmp_path / QUEUE_FILE)
    again.open()
    try:
        return again.peek(100)
    finally:
        again.close()
