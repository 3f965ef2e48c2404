"""One daemon per DATA_DIR: an exclusive lock on `DATA_DIR/collector.lock`, held while it runs.

Two daemons with one DATA_DIR would both poll the devices and both deliver the queue. The lock
is the kernel's (flock), so it goes away with the process however it ends, and the file holds
the holder's process id for the message the second daemon gives. When DATA_DIR cannot be
written, the lock is taken on a file named after DATA_DIR in the temporary directory instead.
`collector queue` and `collector healthcheck` never take it: they work beside a running daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from collector.errors import CollectorError
from collector.health import beside_data_dir

LOCK_FILE = "collector.lock"


class AlreadyRunning(CollectorError):
    """Another daemon holds the lock on this DATA_DIR."""


class DataDirLock:
    def __init__(self, handle: int, path: Path) -> None:
        self._handle = handle
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            path = data_dir / LOCK_FILE
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            path = beside_data_dir(data_dir, "collector-lock")
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            raise AlreadyRunning(
                f"another collector (process {holder}) is running with DATA_DIR {data_dir}: "
                "stop it first, or give this one another DATA_DIR"
            ) from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
        return cls(handle, path)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self._handle, 0)
        os.close(self._handle)
