"""structlog set-up: one event per line, key=value for humans, JSON for machines.

Configured once, at the edge of the program (cli.py). Logs go to stdout so that `docker logs`
shows them, except in `collector check`, whose stdout carries line protocol.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
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
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _timestamp,
    ]
    processors = [
        *shared,
        structlog.processors.format_exc_info if fmt == "json" else _nothing,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries that use the standard logging module (httpx, asyncio): warnings only,
    # on the same stream, rendered by the same processors (so JSON stays JSON).
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def _timestamp(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """UTC with milliseconds: lines of one second stay apart, and how late a poll was shows."""
    now = datetime.now(UTC)
    event["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return event


def _nothing(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    return event


def get_logger(**context: Any) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(**context)
    return logger
