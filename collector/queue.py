"""The durable queue: every reading is on disk before anything else happens to it.

One SQLite file in DATA_DIR (`queue.sqlite3`), in WAL mode with `synchronous=FULL`, so that a
reading whose append has returned survives SIGKILL and power loss. Two tables:

- `pending`: readings not yet confirmed by InfluxDB, oldest first (by id). The writer reads
  batches from the front and deletes only what the database confirmed.
- `rejected`: readings InfluxDB will never accept (HTTP 400/422), with its reason. They keep
  their id, so `collector queue retry-rejected` puts them back where they were.

Bounds: readings queued longer than BUFFER_MAX_AGE, or beyond BUFFER_MAX_MB, are dropped
oldest first, with one warning (then at most one summary per hour while it goes on).

When DATA_DIR cannot be used (read-only, full, not a directory, broken file), the queue says so
in one error line and keeps readings in memory (at most MEMORY_LIMIT), so that the live data
still reaches InfluxDB; every DISK_RETRY_EVERY seconds it tries the disk again and, when that
works, moves the readings held in memory to disk. The daemon's health check reports the state.

`QueueStore` is synchronous and owns its SQLite connection; `DurableQueue` runs it in one
worker thread for the asyncio daemon, so that a slow disk (an SD card's fsync) never stalls
the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from collector.clock import SteadyClock
from collector.errors import CollectorError
from collector.logging import get_logger
from collector.reading import Reading
from collector.settings import format_duration

QUEUE_FILE = "queue.sqlite3"
SCHEMA_VERSION = 1
MEMORY_LIMIT = 10_000  # readings held in memory while DATA_DIR cannot be used
DISK_RETRY_EVERY = 60.0
AGE_CHECK_EVERY = 60.0
SIZE_CHECK_EVERY = 16  # appends between two size checks (16 SENEC readings are ~10 kB)
DROP_SUMMARY_EVERY = 3600.0
VACUUM_FREE_PAGES = 256  # give free pages back to the file system when the queue is empty
TRIM_TO = 0.9  # a size trim goes down to 90 % of the limit, so it does not run at every append

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queued REAL NOT NULL,          -- when it was appended (Unix seconds; SteadyClock)
    time INTEGER NOT NULL,         -- the reading's own time (Unix seconds)
    measurement TEXT NOT NULL,
    line TEXT NOT NULL             -- line protocol, precision seconds
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,        -- the id it had in pending
    queued REAL NOT NULL,
    time INTEGER NOT NULL,
    measurement TEXT NOT NULL,
    line TEXT NOT NULL,
    rejected_at REAL NOT NULL,
    status INTEGER,
    reason TEXT NOT NULL
);
"""


class QueueError(CollectorError):
    """The queue file cannot be opened or used; the message says why and what to do."""


@dataclass(frozen=True)
class Item:
    """A queued reading. `id` > 0 lives on disk, < 0 only in memory."""

    id: int
    queued: float
    time: int
    measurement: str
    line: str


@dataclass(frozen=True)
class QueueState:
    """The queue's figures at one moment, taken in the queue's thread (`QueueStore.state`): what
    the event loop reads (health, logs, the self-report), never the store's own counters."""

    pending: int = 0
    in_memory: int = 0
    rejected: int = 0
    on_disk: bool = True
    error: str | None = None


@dataclass(frozen=True)
class RejectedGroup:
    reason: str
    status: int | None
    count: int
    first_time: int
    last_time: int


@dataclass(frozen=True)
class Stats:
    path: str
    size_bytes: int
    pending: int
    rejected: int
    oldest_time: int | None  # the oldest pending reading's own time
    oldest_queued: float | None
    rejected_groups: list[RejectedGroup] = field(default_factory=list)


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


def data_dir_problem(directory: Path, exc: OSError, action: str) -> str:
    """Why DATA_DIR cannot be used, with the advice that fits the cause."""
    if isinstance(exc, FileExistsError) or (directory.exists() and not directory.is_dir()):
        return f"DATA_DIR {directory} is a file, not a directory: point DATA_DIR at a directory"
    reason = describe_os_error(exc)
    if isinstance(exc, NotADirectoryError):
        return f"DATA_DIR {directory} cannot be {action}: {reason} (a part of its path is a file)"
    if exc.errno == errno.EROFS:
        return (
            f"DATA_DIR {directory} cannot be {action}: {reason} (mount a writable volume "
            "there; in Docker the compose file's named volume collector-data)"
        )
    if exc.errno == errno.ENOSPC:
        return f"DATA_DIR {directory} cannot be {action}: {reason} (free space on that disk)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        uid = os.getuid()
        return (
            f"DATA_DIR {directory} is not writable: {reason} (the collector runs as user id "
            f"{uid}: use a named volume, or `chown {uid}` the host directory)"
        )
    return f"DATA_DIR {directory} cannot be {action}: {reason}"


@dataclass
class _Span:
    """How many readings, and the reading times of the first and last of them."""

    count: int = 0
    first: int | None = None
    last: int | None = None

    def add(self, other: _Span) -> None:
        if other.count:
            self.count += other.count
            self.first = other.first if self.first is None else min(self.first, other.first or 0)
            self.last = other.last if self.last is None else max(self.last, other.last or 0)


class _DropReport:
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


class QueueStore:
    """The queue file and, while the disk cannot be used, the readings held in memory.

    Not thread-safe: one thread at a time (DurableQueue gives it a thread of its own).
    """

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
        self.max_age = max_age
        self._age_limit = f"BUFFER_MAX_AGE={format_duration(max_age)}"
        self.max_bytes = max_bytes
        self.memory_limit = memory_limit
        self.disk_retry_every = disk_retry_every
        self.max_pages = max_pages  # tests: SQLite's own "disk full" at this many pages
        # ages on the wall clock as it was at open, carried on by the monotonic clock: an NTP
        # step while running does not age readings (tests give their own clock)
        self._clock = SteadyClock() if clock is None else clock
        self._log = get_logger(component="queue")
        self._conn: sqlite3.Connection | None = None
        self._page_size = 4096
        self._memory: deque[Item] = deque()
        self._memory_next = -1
        self._moved: dict[int, int] = {}  # memory id -> disk id, for batches in flight
        self._gone: set[int] = set()  # written or rejected, but the delete failed
        self._on_disk = 0
        self._rejected = 0
        self._next_disk_try = 0.0
        self._failed_since: float | None = None
        self._last_age_check = -math.inf
        self._appends_since_size_check = 0
        self.error: str | None = None
        self.drops = _DropReport(self._clock)

    # --- state ---------------------------------------------------------------------------

    @property
    def on_disk(self) -> bool:
        return self.error is None

    @property
    def pending(self) -> int:
        return self._on_disk - len(self._gone) + len(self._memory)

    @property
    def in_memory(self) -> int:
        return len(self._memory)

    @property
    def rejected(self) -> int:
        return self._rejected

    def state(self) -> QueueState:
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
        self._probe(directory)
        try:
            self._conn = self._connect_file()
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise QueueError(self._sqlite_problem(exc)) from None
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
                self._conn = self._connect_file()
            except sqlite3.Error as again:
                raise QueueError(self._sqlite_problem(again)) from None
        except sqlite3.Error as exc:
            raise QueueError(self._sqlite_problem(exc)) from None

    def _probe(self, directory: Path) -> None:
        """Write a byte to DATA_DIR: the clearest way to learn it is read-only or full."""
        probe = directory / f".write-test-{os.getpid()}"
        try:
            with probe.open("wb") as handle:
                handle.write(b"x")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise QueueError(data_dir_problem(directory, exc, "written")) from None
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    def _connect_file(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QueueError(
                    f"{self.path} was made by a newer collector (queue schema {version}); "
                    f"this one knows schema {SCHEMA_VERSION}"
                )
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect on a new file
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise QueueError(f"{self.path}: SQLite cannot use WAL mode here (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA journal_size_limit = 4194304")
            if self.max_pages is not None:
                conn.execute(f"PRAGMA max_page_count = {int(self.max_pages)}")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            self._on_disk = int(conn.execute("SELECT count(*) FROM pending").fetchone()[0])
            self._rejected = int(conn.execute("SELECT count(*) FROM rejected").fetchone()[0])
        except BaseException:
            conn.close()
            raise
        return conn

    def _sqlite_problem(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return f"{self.path} is read-only: {text} (user id {os.getuid()})"
        if "full" in text:
            return f"no space left for {self.path}: {text}"
        return f"cannot use {self.path}: {text}"

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

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
            return self._conn is not None
        if time.monotonic() < self._next_disk_try:
            return False
        self._next_disk_try = time.monotonic() + self.disk_retry_every
        try:
            if self._conn is None:
                self._connect()
            saved = self._flush_memory()
        except QueueError as exc:
            self.error = str(exc)
            return False
        except sqlite3.Error as exc:
            self.error = self._sqlite_problem(exc)
            return False
        down = time.monotonic() - (self._failed_since or time.monotonic())
        self.error = None
        self._failed_since = None
        self._log.info("queue on disk again", after_s=round(down), saved_from_memory=saved)
        return True

    def _flush_memory(self) -> int:
        """Readings held in memory go to disk, in order; deletes that failed are done now."""
        assert self._conn is not None
        items = list(self._memory)
        moved: dict[int, int] = {}  # kept only if the transaction commits (ids roll back too)
        with self._transaction() as conn:
            for item in items:
                cursor = conn.execute(
                    "INSERT INTO pending (queued, time, measurement, line) VALUES (?, ?, ?, ?)",
                    (item.queued, item.time, item.measurement, item.line),
                )
                assert cursor.lastrowid is not None
                moved[item.id] = cursor.lastrowid
            if self._gone:
                conn.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in self._gone])
        self._moved.update(moved)
        self._on_disk = int(self._conn.execute("SELECT count(*) FROM pending").fetchone()[0])
        self._gone.clear()
        self._memory.clear()
        return len(items)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        assert self._conn is not None
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- the hot path --------------------------------------------------------------------

    def append(self, time_s: int, measurement: str, line: str) -> bool:
        """Queue one reading; True once it is on disk, False if it is held in memory."""
        queued = self._clock()
        if self._disk_usable():
            try:
                with self._transaction() as conn:
                    conn.execute(
                        "INSERT INTO pending (queued, time, measurement, line) VALUES (?, ?, ?, ?)",
                        (queued, time_s, measurement, line),
                    )
            except sqlite3.Error as exc:
                self._fail(self._sqlite_problem(exc))
            else:
                self._on_disk += 1
                self._trim(queued)
                return True
        self._hold_in_memory(Item(self._memory_next, queued, time_s, measurement, line))
        self._memory_next -= 1
        return False

    def _hold_in_memory(self, item: Item) -> None:
        self._memory.append(item)
        if len(self._memory) > self.memory_limit:
            oldest = self._memory.popleft()
            self.drops.add(1, oldest.time, oldest.time, f"{self.memory_limit} in memory")

    # --- the writer's side ---------------------------------------------------------------

    def peek(self, limit: int) -> list[Item]:
        """The oldest `limit` readings, in order (disk first, then memory)."""
        items: list[Item] = []
        if self._conn is not None:
            try:
                rows = self._conn.execute(
                    "SELECT id, queued, time, measurement, line FROM pending ORDER BY id LIMIT ?",
                    (limit + len(self._gone),),
                ).fetchall()
            except sqlite3.Error as exc:
                self._fail(self._sqlite_problem(exc))
                rows = []
            items = [Item(*row) for row in rows if row[0] not in self._gone][:limit]
            if len(items) > self._on_disk - len(self._gone):
                # Another process (`collector queue retry-rejected`) added rows: count again.
                with contextlib.suppress(sqlite3.Error):
                    self._on_disk = int(
                        self._conn.execute("SELECT count(*) FROM pending").fetchone()[0]
                    )
        for item in self._memory:
            if len(items) >= limit:
                break
            items.append(item)
        return items

    def remove(self, items: list[Item]) -> None:
        """InfluxDB confirmed these: delete them."""
        ids = [self._moved.pop(item.id, item.id) for item in items]
        in_memory = {i for i in ids if i < 0}
        if in_memory:
            self._memory = deque(item for item in self._memory if item.id not in in_memory)
        on_disk = [i for i in ids if i > 0]
        if not on_disk or self._conn is None:
            return
        if self.error is not None:  # the disk is failing: remember, delete when it works
            self._gone.update(on_disk)
            return
        try:
            with self._transaction() as conn:
                low, high = min(on_disk), max(on_disk)
                if high - low + 1 == len(on_disk):  # a whole run of ids: nothing else between
                    cursor = conn.execute(
                        "DELETE FROM pending WHERE id BETWEEN ? AND ?", (low, high)
                    )
                else:
                    cursor = conn.executemany(
                        "DELETE FROM pending WHERE id = ?", [(i,) for i in on_disk]
                    )
                deleted = cursor.rowcount
        except sqlite3.Error as exc:
            self._gone.update(on_disk)
            self._fail(self._sqlite_problem(exc))
            return
        self._on_disk = max(0, self._on_disk - max(deleted, 0))
        if self._on_disk == 0:
            self._moved.clear()
            self._give_back_space()

    def reject(self, item: Item, status: int | None, reason: str) -> bool:
        """Move a reading InfluxDB will never accept aside; False if that was impossible."""
        row_id = self._moved.pop(item.id, item.id)
        if row_id < 0:
            self._memory = deque(i for i in self._memory if i.id != row_id)
            return False
        if self._conn is None or self.error is not None:
            self._gone.add(row_id)
            return False
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO rejected "
                    "(id, queued, time, measurement, line, rejected_at, status, reason) "
                    "SELECT id, queued, time, measurement, line, ?, ?, ? FROM pending WHERE id = ?",
                    (self._clock(), status, reason, row_id),
                )
                deleted = conn.execute("DELETE FROM pending WHERE id = ?", (row_id,)).rowcount
        except sqlite3.Error as exc:
            self._gone.add(row_id)
            self._fail(self._sqlite_problem(exc))
            return False
        self._on_disk = max(0, self._on_disk - deleted)
        self._rejected += deleted
        return deleted > 0

    # --- bounds --------------------------------------------------------------------------

    def _trim(self, now: float, *, force_age: bool = False) -> None:
        if self._conn is None:
            return
        try:
            if force_age or now - self._last_age_check >= AGE_CHECK_EVERY:
                self._last_age_check = now
                self._trim_age(now)
            self._appends_since_size_check += 1
            if force_age or self._appends_since_size_check >= SIZE_CHECK_EVERY:
                self._appends_since_size_check = 0
                used = self._used_bytes()
                if used > self.max_bytes:
                    self._trim_size(used)
        except sqlite3.Error as exc:
            self._fail(self._sqlite_problem(exc))

    def _newest_queued(self) -> float | None:
        """When the newest reading still pending was queued (a clock set back since then must
        not make the queue's ages negative)."""
        assert self._conn is not None
        row = self._conn.execute("SELECT max(queued) FROM pending").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def _used_bytes(self) -> int:
        assert self._conn is not None
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages - free) * self._page_size

    def _trim_age(self, now: float) -> None:
        assert self._conn is not None
        cutoff = now - self.max_age
        oldest = self._conn.execute("SELECT queued FROM pending ORDER BY id LIMIT 1").fetchone()
        if oldest is not None and oldest[0] < cutoff:
            # Readings are appended in time order: walk from the front to the first young one.
            young = self._conn.execute(
                "SELECT id FROM pending WHERE queued >= ? ORDER BY id LIMIT 1", (cutoff,)
            ).fetchone()
            if young is None:
                span = self._drop_front("SELECT id, time FROM pending", ())
            else:
                span = self._drop_front("SELECT id, time FROM pending WHERE id < ?", (young[0],))
            self.drops.add(span.count, span.first, span.last, self._age_limit)
        with self._transaction() as conn:
            gone = conn.execute("DELETE FROM rejected WHERE rejected_at < ?", (cutoff,)).rowcount
        if gone > 0:
            self._rejected = max(0, self._rejected - gone)
            self._log.warning(
                "rejected readings removed",
                removed=gone,
                limit=self._age_limit,
            )

    def _trim_size(self, used: int) -> None:
        assert self._conn is not None
        limit_text = f"BUFFER_MAX_MB={self.max_bytes / 1024 / 1024:g}"
        dropped = _Span()
        rejected_gone = 0
        for _ in range(5):  # estimates per row can be off; a few rounds at most
            rows = self._on_disk + self._rejected
            if rows <= 0 or used <= self.max_bytes * TRIM_TO:
                break
            excess = used - self.max_bytes * TRIM_TO
            count = max(1, math.ceil(excess / (used / rows)))
            if self._on_disk > 0:
                dropped.add(
                    self._drop_front("SELECT id, time FROM pending ORDER BY id LIMIT ?", (count,))
                )
            else:  # only rejected readings are left: the oldest of those go
                with self._transaction() as conn:
                    gone = conn.execute(
                        "DELETE FROM rejected WHERE id IN "
                        "(SELECT id FROM rejected ORDER BY rejected_at LIMIT ?)",
                        (count,),
                    ).rowcount
                self._rejected = max(0, self._rejected - gone)
                rejected_gone += gone
            used = self._used_bytes()
        self.drops.add(dropped.count, dropped.first, dropped.last, limit_text)
        if rejected_gone:
            self._log.warning("rejected readings removed", removed=rejected_gone, limit=limit_text)

    def _drop_front(self, select: str, params: tuple[Any, ...]) -> _Span:
        """Delete the pending readings `select` picks (a front of the queue)."""
        assert self._conn is not None
        with self._transaction() as conn:
            summary = conn.execute(
                f"SELECT count(*), min(time), max(time), max(id) FROM ({select})", params
            ).fetchone()
            count, first, last, last_id = summary
            if not count:
                return _Span()
            deleted = conn.execute("DELETE FROM pending WHERE id <= ?", (last_id,)).rowcount
        self._on_disk = max(0, self._on_disk - deleted)
        self._gone = {i for i in self._gone if i > last_id}
        return _Span(deleted, first, last)

    def _give_back_space(self) -> None:
        assert self._conn is not None
        with contextlib.suppress(sqlite3.Error):
            free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
            if free > VACUUM_FREE_PAGES:
                # executescript steps the pragma to the end; execute() frees one page per call
                self._conn.executescript("PRAGMA incremental_vacuum;")

    # --- `collector queue` ---------------------------------------------------------------

    def stats(self) -> Stats:
        assert self._conn is not None
        conn = self._conn
        pending = int(conn.execute("SELECT count(*) FROM pending").fetchone()[0])
        rejected = int(conn.execute("SELECT count(*) FROM rejected").fetchone()[0])
        first = conn.execute("SELECT queued FROM pending ORDER BY id LIMIT 1").fetchone()
        oldest_time = conn.execute("SELECT min(time) FROM pending").fetchone()[0]
        groups = [
            RejectedGroup(reason, status, count, low, high)
            for reason, status, count, low, high in conn.execute(
                "SELECT reason, status, count(*), min(time), max(time) FROM rejected "
                "GROUP BY reason, status ORDER BY count(*) DESC LIMIT 10"
            )
        ]
        size = sum(
            Path(f"{self.path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{self.path}{suffix}").exists()
        )
        return Stats(
            path=str(self.path),
            size_bytes=size,
            pending=pending,
            rejected=rejected,
            oldest_time=oldest_time,
            oldest_queued=first[0] if first else None,
            rejected_groups=groups,
        )

    def retry_rejected(self) -> int:
        """Put every rejected reading back in the queue, at its old place."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO pending (id, queued, time, measurement, line) "
                "SELECT id, queued, time, measurement, line FROM rejected"
            )
            moved = conn.execute("DELETE FROM rejected").rowcount
        self._rejected = 0
        self._on_disk += moved
        return int(moved)


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


T = TypeVar("T")


class DurableQueue:
    """The QueueStore for the asyncio daemon: every call runs in one worker thread, which also
    takes the queue's figures after it (`state`): the store is touched by that thread alone."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.state = QueueState()
        self.changed = asyncio.Event()  # set after every append: wakes the writer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue")

    def _with_state(self, function: Callable[..., T], *args: Any) -> tuple[T, QueueState]:
        result = function(*args)
        return result, self.store.state()

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        result, self.state = await loop.run_in_executor(
            self._executor, self._with_state, function, *args
        )
        return result

    @property
    def pending(self) -> int:
        return self.state.pending

    async def open(self) -> bool:
        return await self._call(self.store.open_or_hold_in_memory)

    async def append(self, reading: Reading) -> bool:
        """Queue a reading and wait: True once it is on disk, False if held in memory."""
        on_disk = await self._call(_append, self.store, reading)
        self.changed.set()
        return on_disk

    def submit(self, reading: Reading, done: Callable[[bool], None]) -> None:
        """Queue a reading without waiting for the disk (the poll loop's way).

        The queue thread appends it (readings keep their order); then `done(on_disk)` runs on
        the event loop, which is where the poll loop logs the reading as collected.
        """
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._with_state, _append, self.store, reading
        )

        def finished(result: asyncio.Future[tuple[bool, QueueState]]) -> None:
            self.changed.set()
            if result.cancelled():
                return
            error = result.exception()
            if error is not None:  # a bug: the store handles disk errors itself
                get_logger(component="queue").error(
                    "reading could not be queued", error=repr(error), time=reading.time.isoformat()
                )
                return
            on_disk, self.state = result.result()
            done(on_disk)

        future.add_done_callback(finished)

    async def peek(self, limit: int) -> list[Item]:
        return await self._call(self.store.peek, limit)

    async def remove(self, items: list[Item]) -> None:
        await self._call(self.store.remove, items)

    async def reject(self, item: Item, status: int | None, reason: str) -> bool:
        return await self._call(self.store.reject, item, status, reason)

    async def close(self) -> None:
        await self._call(self.store.close)
        self._executor.shutdown(wait=True)


def _append(store: QueueStore, reading: Reading) -> bool:
    from collector.sinks.line_protocol import to_line

    return store.append(int(reading.time.timestamp()), reading.measurement, to_line(reading))


def open_existing(path: Path) -> QueueStore:
    """For `collector queue`: the queue file as it is, never a new one."""
    if not path.exists():
        raise QueueError(f"no queue at {path}: the collector has not run with this DATA_DIR")
    store = QueueStore(path)
    try:
        store._conn = store._connect_file()
    except sqlite3.Error as exc:
        raise QueueError(store._sqlite_problem(exc)) from None
    return store
