"""What `collector queue` shows and does beside a running daemon: the file's figures, the
rejected readings by reason, and putting them back."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from collector.queue.disk import DISK, transaction


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


def stats(conn: sqlite3.Connection, path: Path) -> Stats:
    pending = int(conn.execute(f"SELECT count(*) FROM {DISK}.pending").fetchone()[0])
    rejected = int(conn.execute(f"SELECT count(*) FROM {DISK}.rejected").fetchone()[0])
    first = conn.execute(f"SELECT queued FROM {DISK}.pending ORDER BY id LIMIT 1").fetchone()
    oldest_time = conn.execute(f"SELECT min(time) FROM {DISK}.pending").fetchone()[0]
    groups = [
        RejectedGroup(reason, status, count, low, high)
        for reason, status, count, low, high in conn.execute(
            f"SELECT reason, status, count(*), min(time), max(time) FROM {DISK}.rejected "
            "GROUP BY reason, status ORDER BY count(*) DESC LIMIT 10"
        )
    ]
    size = sum(
        Path(f"{path}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{path}{suffix}").exists()
    )
    return Stats(
        path=str(path),
        size_bytes=size,
        pending=pending,
        rejected=rejected,
        oldest_time=oldest_time,
        oldest_queued=first[0] if first else None,
        rejected_groups=groups,
    )


def retry_rejected(conn: sqlite3.Connection) -> int:
    """Put every rejected reading back in the queue, at its old place; how many."""
    with transaction(conn):
        conn.execute(
            f"INSERT OR IGNORE INTO {DISK}.pending (id, queued, time, measurement, line) "
            f"SELECT id, queued, time, measurement, line FROM {DISK}.rejected"
        )
        moved = conn.execute(f"DELETE FROM {DISK}.rejected").rowcount
    return int(moved)
