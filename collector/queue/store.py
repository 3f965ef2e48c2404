"""QueueStore: the queue file and, while the disk cannot be used, the readings held in memory.

One SQLite connection: its own database is `:memory:` (the readings held there,
collector.queue.fallback), and the queue file is attached to it as `disk`
(collector.queue.disk). Every operation is plain SQL on one or both.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from collector.clock import SteadyClock
from collector.logging import get_logger
from collector.queue.bounds import Bounds, Trimmed
from collector.queue.disk import (
    DISK,
    QueueError,
    attach,
    data_dir_problem,
    detach,
    is_corrupt,
    probe,
    sqlite_problem,
    transaction,
)
from collector.queue.drops import DropReport
from collector.queue.fallback import Held
from collector.queue.inspect import Stats, retry_rejected, stats

MEMORY_LIMIT = 10_000  # readings held in memory while DATA_DIR cannot be used
DISK_RETRY_EVERY = 60.0
VACUUM_FREE_PAGES = 256  # give free pages back to the file system when the queue is empty


@dataclass(frozen=True)
class QueuedReading:
    """A queued reading: `id` in the queue file, or in memory when `held`."""

    id: int
    queued: float
    time: int
    measurement: str
    line: str
    held: bool = False


@dataclass(frozen=True)
class QueueState:
    """The queue's figures at one moment, taken in the queue's thread (`QueueStore.state`): what
    the event loop reads (health, logs, the self-report), never the store's own counters."""

    pending: int = 0
    in_memory: int = 0
    rejected: int = 0
    on_disk: bool = True
    error: str | None = None


class QueueStore:
    """Not thread-safe: one thread at a time (DurableQueue gives it a thread of its own)."""

    def __init__(
        self,
        path: Path,
        *,
        max_age: float = 30 * 86400.0,
        max_bytes: int = 500 * 1024 * 1024,
        memory_limit: int = MEMORY_LIMIT,
        disk_retry_every: float = DISK_RETRY_EVERY,
        clock: Callable[[], float] | None = None,
        max_pages: int | None = None,
    ) -> None:
        self.path = path
        self._bounds = Bounds(max_age, max_bytes)
        self.memory_limit = memory_limit
        self.disk_retry_every = disk_retry_every
        self.max_pages = max_pages  # tests: SQLite's own "disk full" at this many pages
        # ages on the wall clock as it was at open, carried on by the monotonic clock: an NTP
        # step while running does not age readings (tests give their own clock)
        self._clock = SteadyClock() if clock is None else clock
        self._log = get_logger(component="queue")
        # one thread at a time, though not always the one that made it (DurableQueue's)
        self.conn = sqlite3.connect(
            ":memory:", isolation_level=None, timeout=10.0, check_same_thread=False
        )
        self.conn.execute("PRAGMA busy_timeout = 10000")
        self._held = Held(self.conn, memory_limit)
        self._attached = False
        self._page_size = 4096
        self._on_disk = 0  # rows in the file's pending table (counted at open, then kept)
        self._rejected = 0
        self._next_disk_try = 0.0
        self._failed_since: float | None = None
        self.error: str | None = None
        self.drops = DropReport(self._clock)
        self._closed: QueueState | None = None

    # --- state ---------------------------------------------------------------------------

    @property
    def on_disk(self) -> bool:
        return self.error is None

    @property
    def pending(self) -> int:
        if self._closed is not None:
            return self._closed.pending
        held, gone = self._held.counts()
        return self._on_disk - gone + held

    @property
    def in_memory(self) -> int:
        return self._held.count() if self._closed is None else self._closed.in_memory

    @property
    def rejected(self) -> int:
        return self._rejected

    def state(self) -> QueueState:
        if self._closed is not None:
            return self._closed
        return QueueState(self.pending, self.in_memory, self.rejected, self.on_disk, self.error)

    # --- opening -------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the queue file; QueueError says why it cannot be used."""
        self._connect()
        self.error = None
        if isinstance(self._clock, SteadyClock):
            self._clock.anchor(not_before=self._newest_queued())
        self._trim(self._clock(), force_age=True)

    def open_or_hold_in_memory(self) -> bool:
        """For the daemon: open, or log why not and keep readings in memory meanwhile."""
        try:
            self.open()
        except QueueError as exc:
            self._fail(str(exc))
            return False
        return True

    def _connect(self) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(data_dir_problem(directory, exc, "created")) from None
        probe(directory)
        try:
            self.attach_file()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise QueueError(sqlite_problem(self.path, exc)) from None
            aside = self.path.with_name(f"{self.path.name}.broken-{int(self._clock())}")
            self._log.error(
                "queue file is damaged; moved aside and starting a new one",
                path=str(self.path),
                moved_to=str(aside),
                error=str(exc),
            )
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                with contextlib.suppress(FileNotFoundError):
                    source.replace(Path(f"{aside}{suffix}"))
            try:
                self.attach_file()
            except sqlite3.Error as again:
                raise QueueError(sqlite_problem(self.path, again)) from None
        except sqlite3.Error as exc:
            raise QueueError(sqlite_problem(self.path, exc)) from None

    def attach_file(self) -> None:
        """Attach the queue file as it is (for `collector queue`, which never makes one)."""
        if self._attached:
            detach(self.conn)
            self._attached = False
        self._page_size = attach(self.conn, self.path, self.max_pages)
        self._attached = True
        self._on_disk = self._count(f"{DISK}.pending")
        self._rejected = self._count(f"{DISK}.rejected")

    def _count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def close(self) -> None:
        """Checkpoint and close the file; readings still held in memory are lost (the daemon
        has said how many). The figures stay as they were at closing."""
        if self._closed is not None:
            return
        if self._attached:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute(f"PRAGMA {DISK}.wal_checkpoint(TRUNCATE)")
        self._closed = self.state()
        self.conn.close()
        self._attached = False

    # --- failure and recovery ------------------------------------------------------------

    def _fail(self, problem: str) -> None:
        """The disk cannot be used: say so once, hold readings in memory, try again later."""
        self._next_disk_try = time.monotonic() + self.disk_retry_every
        if self.error is None:
            self._failed_since = time.monotonic()
            self._log.error(
                "queue cannot be written",
                error=problem,
                note=f"readings are held in memory only (at most {self.memory_limit}, lost on "
                f"restart) until it works again; retrying every {self.disk_retry_every:g} s",
            )
        self.error = problem

    def _disk_usable(self) -> bool:
        if self.error is None:
            return self._attached
        if time.monotonic() < self._next_disk_try:
            return False
        self._next_disk_try = time.monotonic() + self.disk_retry_every
        try:
            if not self._attached:
                self._connect()
            with transaction(self.conn):
                saved = self._held.move_to_disk()
        except QueueError as exc:
            self.error = str(exc)
            return False
        except sqlite3.Error as exc:
            self.error = sqlite_problem(self.path, exc)
            return False
        self._on_disk = self._count(f"{DISK}.pending")
        down = time.monotonic() - (self._failed_since or time.monotonic())
        self.error = None
        self._failed_since = None
        self._log.info("queue on disk again", after_s=round(down), saved_from_memory=saved)
        return True

    # --- the hot path --------------------------------------------------------------------

    def append(self, time_s: int, measurement: str, line: str) -> bool:
        """Queue one reading; True once it is on disk, False if it is held in memory."""
        return self.append_many([(time_s, measurement, line)])

    def append_many(self, rows: list[tuple[int, str, str]]) -> bool:
        """Queue readings (time, measurement, line) in one transaction, so that they share one
        fsync; True once all are on disk, False if they are held in memory."""
        queued = self._clock()
        if self._disk_usable():
            try:
                with transaction(self.conn) as conn:
                    conn.executemany(
                        f"INSERT INTO {DISK}.pending (queued, time, measurement, line) "
                        "VALUES (?, ?, ?, ?)",
                        [(queued, time_s, measurement, line) for time_s, measurement, line in rows],
                    )
            except sqlite3.Error as exc:
                self._fail(sqlite_problem(self.path, exc))
            else:
                self._on_disk += len(rows)
                self._trim(queued)
                return True
        for time_s, measurement, line in rows:
            dropped = self._held.hold(queued, time_s, measurement, line)
            if dropped is not None:
                self.drops.add(1, dropped, dropped, f"{self.memory_limit} in memory")
        return False

    # --- the writer's side ---------------------------------------------------------------

    def peek(self, limit: int) -> list[QueuedReading]:
        """The oldest `limit` readings, in order (disk first, then memory)."""
        items: list[QueuedReading] = []
        if self._attached:
            try:
                rows = self.conn.execute(
                    f"SELECT id, queued, time, measurement, line FROM {DISK}.pending "
                    f"WHERE id NOT IN (SELECT id FROM main.gone) ORDER BY id LIMIT ?",
                    (limit,),
                ).fetchall()
            except sqlite3.Error as exc:
                self._fail(sqlite_problem(self.path, exc))
                rows = []
            items = [QueuedReading(*row) for row in rows]
            if len(items) > self._on_disk - self._held.counts()[1]:
                # Another process (`collector queue retry-rejected`) added rows: count again.
                with contextlib.suppress(sqlite3.Error):
                    self._on_disk = self._count(f"{DISK}.pending")
        if len(items) < limit:
            items += [
                QueuedReading(*row, held=True) for row in self._held.front(limit - len(items))
            ]
        return items

    def _disk_ids(self, items: list[QueuedReading]) -> list[int]:
        """The disk ids of these items: theirs, or where a held one was moved meanwhile; the
        held ones still in memory are forgotten there."""
        held = [item.id for item in items if item.held]
        moved = self._held.disk_ids(held)
        self._held.forget(i for i in held if i not in moved)
        return [item.id for item in items if not item.held] + list(moved.values())

    def remove(self, items: list[QueuedReading]) -> None:
        """InfluxDB confirmed these: delete them."""
        on_disk = self._disk_ids(items)
        if not on_disk or not self._attached:
            return
        if self.error is not None:  # the disk is failing: remember, delete when it works
            self._held.owe_deletes(on_disk)
            return
        try:
            with transaction(self.conn) as conn:
                low, high = min(on_disk), max(on_disk)
                if high - low + 1 == len(on_disk):  # a whole run of ids: nothing else between
                    cursor = conn.execute(
                        f"DELETE FROM {DISK}.pending WHERE id BETWEEN ? AND ?", (low, high)
                    )
                else:
                    cursor = conn.executemany(
                        f"DELETE FROM {DISK}.pending WHERE id = ?", [(i,) for i in on_disk]
                    )
                deleted = cursor.rowcount
        except sqlite3.Error as exc:
            self._held.owe_deletes(on_disk)
            self._fail(sqlite_problem(self.path, exc))
            return
        self._on_disk = max(0, self._on_disk - max(deleted, 0))
        if self._on_disk == 0:
            self._held.forget_moves()
            self._give_back_space()

    def reject(self, item: QueuedReading, status: int | None, reason: str) -> bool:
        """Move a reading InfluxDB will never accept aside; False if that was impossible."""
        ids = self._disk_ids([item])
        if not ids:  # held in memory: there is no rejected table to keep it in
            return False
        row_id = ids[0]
        if not self._attached or self.error is not None:
            self._held.owe_deletes([row_id])
            return False
        try:
            with transaction(self.conn) as conn:
                conn.execute(
                    f"INSERT OR REPLACE INTO {DISK}.rejected "
                    "(id, queued, time, measurement, line, rejected_at, status, reason) "
                    "SELECT id, queued, time, measurement, line, ?, ?, ? "
                    f"FROM {DISK}.pending WHERE id = ?",
                    (self._clock(), status, reason, row_id),
                )
                deleted = conn.execute(
                    f"DELETE FROM {DISK}.pending WHERE id = ?", (row_id,)
                ).rowcount
        except sqlite3.Error as exc:
            self._held.owe_deletes([row_id])
            self._fail(sqlite_problem(self.path, exc))
            return False
        self._on_disk = max(0, self._on_disk - deleted)
        self._rejected += deleted
        return deleted > 0

    # --- bounds --------------------------------------------------------------------------

    def _trim(self, now: float, *, force_age: bool = False) -> None:
        if not self._attached:
            return
        taken: list[Trimmed] = []
        try:
            counts = (self._on_disk, self._rejected)
            self._bounds.trim(self.conn, now, self._page_size, counts, taken, force=force_age)
        except sqlite3.Error as exc:
            self._fail(sqlite_problem(self.path, exc))
        for trimmed in taken:
            self._on_disk = max(0, self._on_disk - trimmed.dropped.count)
            self._rejected = max(0, self._rejected - trimmed.rejected)
            if trimmed.last_id is not None:  # deletes owed up to there are done
                self._held.forget_gone_up_to(trimmed.last_id)
            span = trimmed.dropped
            self.drops.add(span.count, span.first, span.last, trimmed.limit)
            if trimmed.rejected > 0:
                self._log.warning(
                    "rejected readings removed", removed=trimmed.rejected, limit=trimmed.limit
                )

    def _newest_queued(self) -> float | None:
        """When the newest reading still pending was queued (a clock set back since then must
        not make the queue's ages negative)."""
        row = self.conn.execute(f"SELECT max(queued) FROM {DISK}.pending").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def _give_back_space(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            free = self.conn.execute(f"PRAGMA {DISK}.freelist_count").fetchone()[0]
            if free > VACUUM_FREE_PAGES:
                # executescript steps the pragma to the end; execute() frees one page per call
                self.conn.executescript(f"PRAGMA {DISK}.incremental_vacuum;")

    # --- `collector queue` ---------------------------------------------------------------

    def stats(self) -> Stats:
        return stats(self.conn, self.path)

    def retry_rejected(self) -> int:
        """Put every rejected reading back in the queue, at its old place."""
        moved = retry_rejected(self.conn)
        self._rejected = 0
        self._on_disk += moved
        return moved


def open_existing(path: Path) -> QueueStore:
    """For `collector queue`: the queue file as it is, never a new one."""
    if not path.exists():
        raise QueueError(f"no queue at {path}: the collector has not run with this DATA_DIR")
    store = QueueStore(path)
    try:
        store.attach_file()
    except sqlite3.Error as exc:
        raise QueueError(sqlite_problem(path, exc)) from None
    return store
