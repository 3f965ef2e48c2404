"""What every simulator's command line does once its server runs."""

from __future__ import annotations

import signal
import threading


def until_signalled() -> None:
    """Block until SIGTERM or SIGINT (docker stop, Ctrl-C)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
