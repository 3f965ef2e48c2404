"""The daemon's heartbeat file and `collector healthcheck`, which reads it.

The daemon rewrites DATA_DIR/health.json every HEARTBEAT_EVERY seconds (or, when DATA_DIR
cannot be written, a file named after DATA_DIR in the temporary directory). The check fails,
saying which, when:

- the daemon that wrote it is gone (its process id, in the file, no longer runs) or has stopped;
- the file is stale (the daemon hangs);
- a source instance has stopped for good (a wrong password), with its cause;
- a source instance has produced no reading for several intervals;
- the backlog has kept growing for longer than HEALTH_BACKLOG_GROWING (InfluxDB is away);
- the queue cannot be written, so readings are held in memory only.

`collector healthcheck` runs every 30 s on small machines: this module imports nothing but the
standard library, and the command reads nothing but the environment and this file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

HEALTH_FILE = "health.json"
STALE_INTERVALS = 6
STALE_MINIMUM = 60.0
ASLEEP_AT_MOST = 24 * 3600.0  # a device silent for longer is not asleep: unhealthy
STALE_HEARTBEATS = 6


class SourceHealth(NamedTuple):
    name: str  # the instance's name, and the device when the instance has several
    interval: float
    last_reading: float | None
    stopped: str | None = None
    asleep_since: float | None = None  # wall clock: the device sleeps (an inverter at night)


class QueueHealth(NamedTuple):
    pending: int
    on_disk: bool
    error: str | None
    growing_since: float | None  # wall clock; None when the backlog is not growing
    write_error: str | None


class BacklogTrend:
    """Since when the backlog has not shrunk below its lowest level (None: it is not growing).

    Fed at every heartbeat. An empty queue resets it; so does a level below the lowest seen
    since it started, which means the writer is making net progress.
    """

    def __init__(self) -> None:
        self.since: float | None = None
        self.lowest = 0

    def update(self, pending: int, now: float) -> None:
        if pending == 0:
            self.since = None
        elif self.since is None or pending < self.lowest:
            self.since = now
            self.lowest = pending

    def growing_since(self, pending: int) -> float | None:
        return self.since if self.since is not None and pending > self.lowest else None


def beside_data_dir(data_dir: Path, stem: str, suffix: str = "") -> Path:
    """A file in the temporary directory named after DATA_DIR, for when it cannot be written."""
    key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"{stem}-{key}{suffix}"


def fallback_path(data_dir: Path) -> Path:
    """Where the heartbeat goes when DATA_DIR cannot be written."""
    return beside_data_dir(data_dir, "collector-health", ".json")


def write_health(
    data_dir: Path,
    started: float,
    sources: list[SourceHealth],
    queue: QueueHealth,
    backlog_limit: float,
    every: float,
    exited: bool = False,
) -> Path:
    """Write the heartbeat; returns where it went. OSError if neither place can be written."""
    document = {
        "pid": os.getpid(),
        "updated": time.time(),
        "every": every,
        "started": started,
        "exited": exited,
        "sources": [
            {
                "name": s.name,
                "interval": s.interval,
                "last_reading": s.last_reading,
                "stopped": s.stopped,
                "asleep_since": s.asleep_since,
            }
            for s in sources
        ],
        "queue": {
            "pending": queue.pending,
            "on_disk": queue.on_disk,
            "error": queue.error,
            "growing_since": queue.growing_since,
            "write_error": queue.write_error,
            "backlog_limit": backlog_limit,
        },
    }
    text = json.dumps(document)
    try:
        _replace(data_dir / HEALTH_FILE, text)
        return data_dir / HEALTH_FILE
    except OSError:
        target = fallback_path(data_dir)
        _replace(target, text)
        return target


def _replace(target: Path, text: str) -> None:
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)


def _newest_document(data_dir: Path) -> tuple[Path, dict[str, Any]] | str:
    found: list[tuple[float, Path, dict[str, Any]]] = []
    errors: list[str] = []
    for path in (data_dir / HEALTH_FILE, fallback_path(data_dir)):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            errors.append(f"cannot read {path}: {exc}")
            continue
        if isinstance(document, dict):
            found.append((float(document.get("updated", 0)), path, document))
    if not found:
        return (
            errors[0]
            if errors
            else (
                f"no {data_dir / HEALTH_FILE}: the collector is not running (or DATA_DIR differs)"
            )
        )
    _, path, document = max(found, key=lambda entry: entry[0])
    return path, document


def check_health(
    data_dir: Path, now: float | None = None, notes: list[str] | None = None
) -> list[str]:
    """Problems found; an empty list means healthy. `notes` gets why a silent source is healthy
    all the same (`sma: asleep since 17:42`)."""
    now = time.time() if now is None else now
    newest = _newest_document(data_dir)
    if isinstance(newest, str):
        return [newest]
    path, document = newest
    pid = document.get("pid")
    if document.get("exited"):
        return [f"the collector (process {pid}) has stopped"]
    if isinstance(pid, int) and not _running(pid):
        return [f"the collector (process {pid}) is not running any more"]
    problems: list[str] = []
    age = now - float(document.get("updated", 0))
    if age > float(document.get("every", 10.0)) * STALE_HEARTBEATS:
        problems.append(f"the collector has not updated {path} for {age:.0f} s")
    started = float(document.get("started", now))
    for source in document.get("sources", []):
        if source.get("stopped"):
            problems.append(f"{source['name']}: stopped: {source['stopped']}")
            continue
        limit = max(STALE_INTERVALS * float(source["interval"]), STALE_MINIMUM)
        last = source.get("last_reading")
        since = now - float(last if last is not None else started)
        asleep = source.get("asleep_since")
        if since > limit and asleep is not None and now - float(asleep) <= ASLEEP_AT_MOST:
            if notes is not None:
                clock = time.strftime("%H:%M", time.localtime(float(asleep)))
                notes.append(f"{source['name']}: asleep since {clock}")
            continue
        if since > limit:
            what = "no reading yet" if last is None else "no reading"
            problems.append(f"{source['name']}: {what} for {since:.0f} s (limit {limit:.0f} s)")
    queue = document.get("queue") or {}
    if queue.get("on_disk") is False:
        problems.append(
            f"queue not on disk, readings held in memory only: {queue.get('error') or 'unknown'}"
        )
    growing = queue.get("growing_since")
    limit = float(queue.get("backlog_limit") or 600.0)
    if growing is not None and now - float(growing) > limit:
        cause = queue.get("write_error")
        problems.append(
            f"backlog growing for {now - float(growing):.0f} s (limit {limit:.0f} s): "
            f"{queue.get('pending', 0)} readings not yet in InfluxDB"
            + (f"; last error: {cause}" if cause else "")
        )
    return problems


def _running(pid: int) -> bool:
    """Whether a process with this id exists (one of another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a process that has exited but was not reaped yet (Linux): gone all the same
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
