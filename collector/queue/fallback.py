"""Readings held in memory while DATA_DIR cannot be used.

They live in the store connection's own database, `:memory:` (schema `main`), in the same
`pending` table as on disk, with two small tables for what the disk owes once it works again:

- `moved`: readings that went from memory to disk while a batch of them was with the writer:
  their disk id, so that the writer's confirmation still finds them;
- `gone`: readings on disk that InfluxDB took (or rejected) while the disk refused the delete:
  deleted when it works again, and never handed to the writer meanwhile.

Moving to disk is one transaction: if the disk fails half-way, nothing moved, and no id of a
rolled-back row is kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from collector.queue.disk import DISK, HELD, create_tables

_BOOKS = f"""
CREATE TABLE IF NOT EXISTS {HELD}.moved (
    held_id INTEGER PRIMARY KEY,   -- its id in memory, as the writer knows it
    disk_id INTEGER NOT NULL       -- its id on disk now
);
CREATE TABLE IF NOT EXISTS {HELD}.gone (
    id INTEGER PRIMARY KEY         -- on disk, delivered or rejected, delete failed
);
"""


class Held:
    """The memory database's SQL. The caller (QueueStore) holds the transaction."""

    def __init__(self, conn: sqlite3.Connection, limit: int) -> None:
        self.conn = conn
        self.limit = limit
        create_tables(conn, HELD)
        conn.executescript(_BOOKS)

    def count(self) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {HELD}.pending").fetchone()[0])

    def counts(self) -> tuple[int, int]:
        """How many readings are held, and how many deletes the disk owes."""
        held, gone = self.conn.execute(
            f"SELECT (SELECT count(*) FROM {HELD}.pending), (SELECT count(*) FROM {HELD}.gone)"
        ).fetchone()
        return int(held), int(gone)

    def hold(self, queued: float, time_s: int, measurement: str, line: str) -> int | None:
        """Keep a reading; beyond the limit the oldest goes: its reading time, else None."""
        self.conn.execute(
            f"INSERT INTO {HELD}.pending (queued, time, measurement, line) VALUES (?, ?, ?, ?)",
            (queued, time_s, measurement, line),
        )
        if self.count() <= self.limit:
            return None
        oldest = self.conn.execute(
            f"DELETE FROM {HELD}.pending WHERE id = (SELECT min(id) FROM {HELD}.pending) "
            "RETURNING time"
        ).fetchone()
        return int(oldest[0])

    def front(self, limit: int) -> list[tuple[int, float, int, str, str]]:
        return self.conn.execute(
            f"SELECT id, queued, time, measurement, line FROM {HELD}.pending ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()

    def disk_ids(self, held_ids: Iterable[int]) -> dict[int, int]:
        """The disk ids of readings moved since the writer took them (and forgets them)."""
        found: dict[int, int] = {}
        for held_id in held_ids:
            row = self.conn.execute(
                f"DELETE FROM {HELD}.moved WHERE held_id = ? RETURNING disk_id", (held_id,)
            ).fetchone()
            if row is not None:
                found[held_id] = int(row[0])
        return found

    def forget(self, held_ids: Iterable[int]) -> None:
        """Readings held in memory that InfluxDB took or rejected."""
        self.conn.executemany(f"DELETE FROM {HELD}.pending WHERE id = ?", [(i,) for i in held_ids])

    def owe_deletes(self, disk_ids: Iterable[int]) -> None:
        self.conn.executemany(
            f"INSERT OR IGNORE INTO {HELD}.gone (id) VALUES (?)", [(i,) for i in disk_ids]
        )

    def forget_gone_up_to(self, disk_id: int) -> None:
        """The front of the disk queue was dropped up to `disk_id`: those deletes are done."""
        self.conn.execute(f"DELETE FROM {HELD}.gone WHERE id <= ?", (disk_id,))

    def forget_moves(self) -> None:
        """The disk queue is empty: no batch in flight can name a moved reading any more."""
        self.conn.execute(f"DELETE FROM {HELD}.moved")

    def move_to_disk(self) -> int:
        """Within the caller's transaction: the held readings go to disk in order, their disk
        ids noted in `moved`, and the owed deletes are done. Returns how many moved."""
        count = self.count()
        if count:
            last = self.conn.execute(
                f"INSERT INTO {DISK}.pending (queued, time, measurement, line) "
                f"SELECT queued, time, measurement, line FROM {HELD}.pending ORDER BY id "
                "RETURNING id"
            ).fetchall()
            ids = [int(row[0]) for row in last]
            first_disk_id = min(ids)
            assert len(ids) == count == max(ids) - first_disk_id + 1
            # one INSERT on a table of its own under BEGIN IMMEDIATE: the ids follow each other
            self.conn.execute(
                f"INSERT OR REPLACE INTO {HELD}.moved (held_id, disk_id) "
                f"SELECT id, ? + row_number() OVER (ORDER BY id) - 1 FROM {HELD}.pending",
                (first_disk_id,),
            )
            self.conn.execute(f"DELETE FROM {HELD}.pending")
        self.conn.execute(f"DELETE FROM {DISK}.pending WHERE id IN (SELECT id FROM {HELD}.gone)")
        self.conn.execute(f"DELETE FROM {HELD}.gone")
        return count
