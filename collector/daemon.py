"""The running collector: sources → buffer → writer, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import signal
import sys
import time

from collector import __version__
from collector.config import Config
from collector.health import HEARTBEAT_EVERY, SourceHealth, write_health
from collector.logging import get_logger
from collector.loop import PollLoop
from collector.reading import Reading
from collector.sinks import make_sink
from collector.sinks.writer import Writer
from collector.sources import Source

BUFFER_LIMIT = 100_000  # readings held in memory while InfluxDB is away (about a week at 5 s)


def build_sources(config: Config) -> list[Source]:
    sources: list[Source] = []
    if config.senec is not None:
        from collector.sources.senec_local.source import SenecLocalSource

        measurement = config.influx.measurement if config.influx else "SENEC"
        sources.append(SenecLocalSource(config.senec, measurement))
    return sources


class Buffer:
    """In-memory buffer between the sources and the writer; drops the oldest when full."""

    def __init__(self, limit: int = BUFFER_LIMIT) -> None:
        self.queue: asyncio.Queue[Reading] = asyncio.Queue()
        self.limit = limit
        self.dropped = 0
        self._log = get_logger(component="buffer")

    async def put(self, reading: Reading) -> None:
        if self.queue.qsize() >= self.limit:
            oldest = self.queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                self._log.warning(
                    "buffer full, dropping the oldest readings",
                    limit=self.limit,
                    dropped=self.dropped,
                    oldest=oldest.time.isoformat(),
                )
        self.queue.put_nowait(reading)


async def run_daemon(config: Config) -> int:
    log = get_logger()
    assert config.influx is not None
    sink = make_sink(config.influx)
    sources = build_sources(config)
    log.info(
        "starting",
        version=__version__,
        python=f"{platform.python_implementation()} {platform.python_version()}",
    )
    log.info("writing to", target=sink.describe(), measurement=config.influx.measurement)
    for source in sources:
        log.info(
            "reading from",
            source=source.name,
            device=source.describe(),
            interval_s=source.interval,
            timeout_s=source.timeout,
        )
    if config.senec is not None and config.senec.ignored_fields:
        log.info("ignoring fields", fields=",".join(config.senec.ignored_fields))
    for warning in config.warnings:
        log.warning("configuration", note=warning)

    data_dir = config.runtime.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.error(
            "cannot create DATA_DIR; health checks will fail", path=str(data_dir), error=str(exc)
        )

    buffer = Buffer()
    writer = Writer(sink, buffer.queue)
    loops = [PollLoop(source, buffer.put) for source in sources]
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)

    started = time.time()
    writer_task = asyncio.create_task(writer.run(), name="writer")
    poll_tasks = [asyncio.create_task(poll.run(stop), name=poll.source.name) for poll in loops]
    health_failed = False
    while not stop.is_set():
        try:
            write_health(
                data_dir,
                started,
                [SourceHealth(p.source.name, p.source.interval, p.last_reading_at) for p in loops],
                writer.pending,
            )
            health_failed = False
        except OSError as exc:
            if not health_failed:
                log.error("cannot write the health file", path=str(data_dir), error=str(exc))
            health_failed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=HEARTBEAT_EVERY)
        if writer_task.done():  # the writer never ends on its own: a bug, do not hide it
            writer_task.result()

    grace = config.runtime.shutdown_grace
    log.info("stopping", pending=writer.pending, grace_s=grace)
    for task in poll_tasks:
        task.cancel()
    await asyncio.gather(*poll_tasks, return_exceptions=True)
    writer.begin_shutdown(grace)
    await writer_task
    for source in sources:
        await source.aclose()
    await sink.aclose()
    log.info(
        "stopped",
        readings=sum(p.readings for p in loops),
        delivered=writer.delivered,
        rejected=writer.rejected,
        failed_polls=sum(p.failed_polls for p in loops),
    )
    sys.stdout.flush()
    return 0
