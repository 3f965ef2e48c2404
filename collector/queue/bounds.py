"""The queue file's bounds: readings queued longer than BUFFER_MAX_AGE, or beyond BUFFER_MAX_MB,
go oldest first; rejected readings older than BUFFER_MAX_AGE go, and when only rejected ones
are left beyond the size, the oldest of those. Plain SQL on the file (schema `disk`); the store
keeps its counts and says what went (collector.queue.drops)."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from collector.queue.disk import DISK, transaction
from collector.queue.drops import Span
from collector.settings import format_duration

AGE_CHECK_EVERY = 60.0
SIZE_CHECK_EVERY = 16  # appends between two size checks (16 SENEC readings are ~10 kB)
TRIM_TO = 0.9  # a size trim goes down to 90 % of the limit, so it does not run at every append


@dataclass
class Trimmed:
    """What one limit took: pending readings (their span, up to which id) and rejected ones."""

    limit: str
    dropped: Span = field(default_factory=Span)
    last_id: int | None = None
    rejected: int = 0


class Bounds:
    """When to check, and the checks. `trim` returns what each limit took."""

    def __init__(self, max_age: float, max_bytes: int) -> None:
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.age_limit = f"BUFFER_MAX_AGE={format_duration(max_age)}"
        self.size_limit = f"BUFFER_MAX_MB={max_bytes / 1024 / 1024:g}"
        self._last_age_check = -math.inf
        self._appends_since_size_check = 0

    def trim(
        self,
        conn: sqlite3.Connection,
        now: float,
        page_size: int,
        counts: tuple[int, int],
        taken: list[Trimmed],
        *,
        force: bool = False,
    ) -> None:
        """After an append (or at open, `force`): the checks that are due. `counts` are the
        pending and rejected readings on disk; what each limit took goes into `taken` as it is
        taken, so that the caller learns it even when SQLite fails half-way."""
        pending, rejected = counts
        if force or now - self._last_age_check >= AGE_CHECK_EVERY:
            self._last_age_check = now
            aged = Trimmed(self.age_limit)
            taken.append(aged)
            self._trim_age(conn, now, aged)
            pending -= aged.dropped.count
            rejected -= aged.rejected
        self._appends_since_size_check += 1
        if force or self._appends_since_size_check >= SIZE_CHECK_EVERY:
            self._appends_since_size_check = 0
            used = used_bytes(conn, page_size)
            if used > self.max_bytes:
                sized = Trimmed(self.size_limit)
                taken.append(sized)
                self._trim_size(conn, used, page_size, (pending, rejected), sized)

    def _trim_age(self, conn: sqlite3.Connection, now: float, trimmed: Trimmed) -> None:
        cutoff = now - self.max_age
        oldest = conn.execute(f"SELECT queued FROM {DISK}.pending ORDER BY id LIMIT 1").fetchone()
        if oldest is not None and oldest[0] < cutoff:
            # Readings are appended in time order: walk from the front to the first young one.
            young = conn.execute(
                f"SELECT id FROM {DISK}.pending WHERE queued >= ? ORDER BY id LIMIT 1", (cutoff,)
            ).fetchone()
            if young is None:
                _drop_front(conn, trimmed, f"SELECT id, time FROM {DISK}.pending", ())
            else:
                _drop_front(
                    conn, trimmed, f"SELECT id, time FROM {DISK}.pending WHERE id < ?", (young[0],)
                )
        with transaction(conn):
            trimmed.rejected = conn.execute(
                f"DELETE FROM {DISK}.rejected WHERE rejected_at < ?", (cutoff,)
            ).rowcount

    def _trim_size(
        self,
        conn: sqlite3.Connection,
        used: int,
        page_size: int,
        counts: tuple[int, int],
        trimmed: Trimmed,
    ) -> None:
        pending, rejected = counts
        for _ in range(5):  # estimates per row can be off; a few rounds at most
            rows = pending + rejected
            if rows <= 0 or used <= self.max_bytes * TRIM_TO:
                break
            excess = used - self.max_bytes * TRIM_TO
            count = max(1, math.ceil(excess / (used / rows)))
            if pending > 0:
                before = trimmed.dropped.count
                _drop_front(
                    conn,
                    trimmed,
                    f"SELECT id, time FROM {DISK}.pending ORDER BY id LIMIT ?",
                    (count,),
                )
                pending -= trimmed.dropped.count - before
            else:  # only rejected readings are left: the oldest of those go
                with transaction(conn):
                    gone = conn.execute(
                        f"DELETE FROM {DISK}.rejected WHERE id IN "
                        f"(SELECT id FROM {DISK}.rejected ORDER BY rejected_at LIMIT ?)",
                        (count,),
                    ).rowcount
                rejected -= gone
                trimmed.rejected += gone
            used = used_bytes(conn, page_size)


def _drop_front(
    conn: sqlite3.Connection, trimmed: Trimmed, select: str, params: tuple[Any, ...]
) -> None:
    """Delete the pending readings `select` picks (a front of the queue)."""
    with transaction(conn):
        count, first, last, last_id = conn.execute(
            f"SELECT count(*), min(time), max(time), max(id) FROM ({select})", params
        ).fetchone()
        if not count:
            return
        deleted = conn.execute(f"DELETE FROM {DISK}.pending WHERE id <= ?", (last_id,)).rowcount
    trimmed.dropped.add(Span(deleted, first, last))
    trimmed.last_id = last_id


def used_bytes(conn: sqlite3.Connection, page_size: int) -> int:
    pages = conn.execute(f"PRAGMA {DISK}.page_count").fetchone()[0]
    free = conn.execute(f"PRAGMA {DISK}.freelist_count").fetchone()[0]
    return int(pages - free) * page_size
