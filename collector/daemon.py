"""The running collector: sources → durable queue → writer, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import signal
import sys
import time

from collector import __version__
from collector.config import Config, format_duration
from collector.health import (
    HEARTBEAT_EVERY,
    BacklogTrend,
    QueueHealth,
    SourceHealth,
    write_health,
)
from collector.logging import get_logger
from collector.loop import PollLoop
from collector.queue import QUEUE_FILE, DurableQueue, QueueStore, iso
from collector.sinks import make_sink
from collector.sinks.writer import Writer
from collector.sources import Source


def build_sources(config: Config) -> list[Source]:
    sources: list[Source] = []
    if config.senec is not None:
        from collector.sources.senec_local.source import SenecLocalSource

        measurement = config.influx.measurement if config.influx else "SENEC"
        sources.append(SenecLocalSource(config.senec, measurement))
    if config.sma is not None:
        from collector.sources.sma_speedwire import codec
        from collector.sources.sma_speedwire.source import SmaSource

        targets = config.sma.targets
        group = codec.GROUP_INSTALLER if config.sma.user_group == "installer" else codec.GROUP_USER
        for target in targets:
            sources.append(
                SmaSource(
                    target,
                    config.sma.password.get_secret_value(),
                    group,
                    interval=config.sma.interval,
                    timeout=config.sma.timeout,
                    measurement=config.sma.measurement,
                    tag_serial=len(targets) > 1,
                )
            )
    return sources


async def run_daemon(config: Config) -> int:
    log = get_logger()
    assert config.influx is not None
    runtime = config.runtime
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

    store = QueueStore(
        runtime.data_dir / QUEUE_FILE,
        max_age=runtime.buffer_max_age,
        max_bytes=runtime.buffer_max_bytes,
    )
    queue = DurableQueue(store)
    if await queue.open():
        log.info(
            "queue",
            path=str(store.path),
            pending=store.pending,
            rejected=store.rejected,
            max_age=format_duration(runtime.buffer_max_age),
            max_mb=f"{runtime.buffer_max_mb:g}",
        )
        if store.pending:
            oldest = await queue.peek(1)
            log.info(
                "delivering readings from before the start",
                pending=store.pending,
                oldest=iso(oldest[0].time) if oldest else None,
            )

    writer = Writer(sink, queue)
    loops = [PollLoop(source, queue.submit) for source in sources]
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        running.add_signal_handler(signum, stop.set)

    started = time.time()
    writer_task = asyncio.create_task(writer.run(), name="writer")
    poll_tasks = [asyncio.create_task(poll.run(stop), name=poll.source.name) for poll in loops]
    trend = BacklogTrend()
    health_failed = False
    while not stop.is_set():
        pending = queue.pending
        trend.update(pending, time.time())
        try:
            write_health(
                runtime.data_dir,
                started,
                [SourceHealth(p.source.name, p.source.interval, p.last_reading_at) for p in loops],
                QueueHealth(
                    pending=pending,
                    on_disk=store.on_disk,
                    error=store.error,
                    growing_since=trend.growing_since(pending),
                    write_error=writer.last_error,
                ),
                runtime.health_backlog_growing,
            )
            health_failed = False
        except OSError as exc:
            if not health_failed:
                log.error(
                    "cannot write the health file", path=str(runtime.data_dir), error=str(exc)
                )
            health_failed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=HEARTBEAT_EVERY)
        if writer_task.done():  # the writer never ends on its own: a bug, do not hide it
            writer_task.result()

    grace = runtime.shutdown_grace
    log.info("stopping", pending=queue.pending, grace_s=grace)
    for task in poll_tasks:
        task.cancel()
    await asyncio.gather(*poll_tasks, return_exceptions=True)
    writer.begin_shutdown(grace)
    await writer_task
    for source in sources:
        await source.aclose()
    await sink.aclose()
    in_memory = store.in_memory
    left = queue.pending
    await queue.close()
    if in_memory:
        log.warning(
            "shutdown: readings lost",
            readings=in_memory,
            reason="they were held in memory because the queue could not be written",
            error=store.error,
        )
    log.info(
        "stopped",
        readings=sum(p.readings for p in loops),
        delivered=writer.delivered,
        rejected=writer.rejected,
        left_in_queue=left - in_memory,
        failed_polls=sum(p.failed_polls for p in loops),
    )
    sys.stdout.flush()
    return 0
