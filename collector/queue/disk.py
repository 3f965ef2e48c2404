"""The queue file: opening it (as the schema `disk` of the store's connection), its schema and
settings, and the words for what goes wrong with DATA_DIR and SQLite."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from collector.errors import CollectorError

QUEUE_FILE = "queue.sqlite3"
SCHEMA_VERSION = 1
DISK = "disk"  # the queue file's schema name on the store's connection
HELD = "main"  # the readings held in memory (collector.queue.fallback)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {schema}.pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queued REAL NOT NULL,          -- when it was appended (Unix seconds; SteadyClock)
    time INTEGER NOT NULL,         -- the reading's own time (Unix seconds)
    measurement TEXT NOT NULL,
    line TEXT NOT NULL             -- line protocol, precision seconds
);
CREATE TABLE IF NOT EXISTS {schema}.rejected (
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


def create_tables(conn: sqlite3.Connection, schema: str) -> None:
    """The queue's tables in a schema: the file's, or the memory database's (the same)."""
    conn.executescript(_SCHEMA.format(schema=schema))


class QueueError(CollectorError):
    """The queue file cannot be opened or used; the message says why and what to do."""


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


def sqlite_problem(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only: {text} (user id {os.getuid()})"
    if "full" in text:
        return f"no space left for {path}: {text}"
    return f"cannot use {path}: {text}"


def is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def probe(directory: Path) -> None:
    """Write a byte to DATA_DIR: the clearest way to learn it is read-only or full."""
    test = directory / f".write-test-{os.getpid()}"
    try:
        with test.open("wb") as handle:
            handle.write(b"x")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise QueueError(data_dir_problem(directory, exc, "written")) from None
    finally:
        with contextlib.suppress(OSError):
            test.unlink()


def attach(conn: sqlite3.Connection, path: Path, max_pages: int | None = None) -> int:
    """Attach the queue file as `disk`, in WAL mode with synchronous=FULL, its tables made;
    the page size. Detached again if anything fails (sqlite3.Error or QueueError)."""
    conn.execute(f"ATTACH DATABASE ? AS {DISK}", (str(path),))
    try:
        version = conn.execute(f"PRAGMA {DISK}.user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise QueueError(
                f"{path} was made by a newer collector (queue schema {version}); "
                f"this one knows schema {SCHEMA_VERSION}"
            )
        conn.execute(f"PRAGMA {DISK}.auto_vacuum = INCREMENTAL")  # takes effect on a new file
        mode = conn.execute(f"PRAGMA {DISK}.journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise QueueError(f"{path}: SQLite cannot use WAL mode here (got {mode})")
        conn.execute(f"PRAGMA {DISK}.synchronous = FULL")
        conn.execute(f"PRAGMA {DISK}.journal_size_limit = 4194304")
        if max_pages is not None:
            conn.execute(f"PRAGMA {DISK}.max_page_count = {int(max_pages)}")
        create_tables(conn, DISK)
        conn.execute(f"PRAGMA {DISK}.user_version = {SCHEMA_VERSION}")
        return int(conn.execute(f"PRAGMA {DISK}.page_size").fetchone()[0])
    except BaseException:
        detach(conn)
        raise


def attached(conn: sqlite3.Connection) -> bool:
    return any(row[1] == DISK for row in conn.execute("PRAGMA database_list"))


def detach(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    with contextlib.suppress(sqlite3.Error):
        conn.execute(f"DETACH DATABASE {DISK}")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (over every attached database)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
