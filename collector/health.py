"""The daemon's heartbeat file and `collector healthcheck`, which reads it.

The daemon rewrites DATA_DIR/health.json every HEARTBEAT_EVERY seconds. The check
fails when the file is stale (the daemon hangs or is gone) or when a source has produced no
reading for several intervals, and says which.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEALTH_FILE = "health.json"
STALE_INTERVALS = 6
STALE_MINIMUM = 60.0
HEARTBEAT_EVERY = 10.0


@dataclass
class SourceHealth:
    name: str
    interval: float
    last_reading: float | None


def write_health(data_dir: Path, started: float, sources: list[SourceHealth], pending: int) -> None:
    document = {
        "pid": os.getpid(),
        "updated": time.time(),
        "started": started,
        "pending": pending,
        "sources": [
            {"name": s.name, "interval": s.interval, "last_reading": s.last_reading}
            for s in sources
        ],
    }
    target = data_dir / HEALTH_FILE
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(document), encoding="utf-8")
    temporary.replace(target)


def check_health(data_dir: Path, now: float | None = None) -> list[str]:
    """Problems found; an empty list means healthy."""
    now = time.time() if now is None else now
    path = data_dir / HEALTH_FILE
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"no {path}: the collector is not running (or DATA_DIR differs)"]
    except (OSError, ValueError) as exc:
        return [f"cannot read {path}: {exc}"]
    problems: list[str] = []
    age = now - float(document.get("updated", 0))
    if age > HEARTBEAT_EVERY * 6:
        problems.append(f"the collector has not updated {path} for {age:.0f} s")
    started = float(document.get("started", now))
    for source in document.get("sources", []):
        limit = max(STALE_INTERVALS * float(source["interval"]), STALE_MINIMUM)
        last = source.get("last_reading")
        since = now - float(last if last is not None else started)
        if since > limit:
            what = "no reading yet" if last is None else "no reading"
            problems.append(f"{source['name']}: {what} for {since:.0f} s (limit {limit:.0f} s)")
    return problems
