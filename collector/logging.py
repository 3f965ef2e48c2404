"""structlog set-up: one event per line, key=value for humans, JSON for machines.

Configured once, at the edge of the program (cli.py). Logs go to stdout so that `docker logs`
shows them, except in `collector check`, whose stdout carries line protocol.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(
    level: str = "info", fmt: str = "console", stream: TextIO | None = None
) -> None:
    out = stream or sys.stdout
    renderer: Any
    processors: list[Any]
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), sort_keys=False, exception_formatter=structlog.dev.plain_traceback
        )
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="%Y-%m-%dT%H:%M:%SZ", utc=True),
        structlog.processors.format_exc_info if fmt == "json" else _nothing,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries that use the standard logging module (influxdb-client, urllib3): warnings only,
    # on the same stream.
    logging.basicConfig(
        level=logging.WARNING,
        stream=out,
        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s",
        force=True,
    )


def _nothing(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    return event


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**context)
    return logger
