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

The parts: `disk` (the file, its schema and the words for its problems), `fallback` (the
readings held in memory: a `:memory:` SQLite database with the same schema, the file attached
beside it), `store` (QueueStore: both, synchronous, plain SQL), `drops` (the limits' messages),
`worker` (DurableQueue: the store in one worker thread for the asyncio daemon, so that a slow
disk, an SD card's fsync, never stalls the event loop).
"""

from collector.queue.bounds import AGE_CHECK_EVERY
from collector.queue.disk import QUEUE_FILE, SCHEMA_VERSION, QueueError, data_dir_problem
from collector.queue.drops import iso
from collector.queue.store import QueuedReading, QueueStore, open_existing
from collector.queue.worker import DurableQueue

__all__ = [  # what the daemon, the writer, the CLI and the tests use
    "AGE_CHECK_EVERY",
    "QUEUE_FILE",
    "SCHEMA_VERSION",
    "DurableQueue",
    "QueueError",
    "QueueStore",
    "QueuedReading",
    "data_dir_problem",
    "iso",
    "open_existing",
]
