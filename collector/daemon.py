"""The running collector: source instances → durable queue → writer (InfluxDB), and the live
view on MQTT beside it, until SIGTERM or SIGINT. Either output may be configured alone."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import platform
import sys
import time
from collections.abc import Callable, Coroutine
from signal import SIGINT, SIGTERM
from typing import TYPE_CHECKING, Any

import structlog

from collector import __version__
from collector.backfill import MARKS_FILE, Filler, LogMarks, device_log_of, watched
from collector.clock import WallClockSteps
from collector.config import Config, RuntimeSettings
from collector.health import BacklogTrend, QueueHealth, SourceHealth, write_health
from collector.lock import DataDirLock
from collector.logging import get_logger
from collector.queue import QUEUE_FILE, DurableQueue, QueueStore, iso
from collector.reading import Reading, apply_negative, check_fields
from collector.selfreport import SelfReport, Source
from collector.settings import format_duration
from collector.sinks import make_sink
from collector.sinks.writer import Writer
from collector.sources import Done, Emit, Instance, InstanceConfig, KindLoadError, SourceKind

if TYPE_CHECKING:
    from collector.mqtt.publisher import LivePublisher


@dataclasses.dataclass
class Running:
    """A built instance with its configuration and kind."""

    instance: Instance
    config: InstanceConfig
    kind: SourceKind

    @property
    def label(self) -> str:
        device = self.instance.device
        return f"{self.instance.name} {device}" if device else self.instance.name

    def emitter(self, submit: Emit) -> Emit:
        """The instance's emit: its tags added, its fields checked against its kind's catalogue.

        A reading with the same time (second) as the instance's previous one is dropped: it is
        the same point (series and time) in InfluxDB, which would overwrite the first with it,
        while VictoriaMetrics would keep two samples for one second. (Two polls of a 1 s
        interval can see one device second when an answer is slow.)
        """
        tags = dict(self.config.tags)
        catalogue = self.kind.fields
        log = get_logger(source=self.instance.name)
        last: dict[tuple[tuple[str, str], ...], _LastSecond] = {}  # per series of the instance
        series_tag = self.kind.series_tag if self.config.shared else None
        said: set[str] = set()  # what was said once: an untagged reading, a negative field

        def emit(reading: Reading, done: Callable[[bool], None]) -> None:
            if series_tag is not None and not reading.tags.get(series_tag):
                # It would land in another instance's series: InfluxDB keeps one of the two.
                if series_tag not in said:
                    said.add(series_tag)
                    log.error(
                        "reading not written: it has no series tag",
                        tag=series_tag,
                        measurement=reading.measurement,
                        note="this instance shares its measurement with another, so its "
                        f"readings must carry {series_tag!r}; a bug of the kind "
                        f"{self.kind.name!r}: please report this line",
                    )
                return
            series = tuple(sorted(reading.tags.items()))
            if series not in last:
                last[series] = _LastSecond(log)
            if last[series].repeated(reading):
                return
            fields, invalid = apply_negative(reading.fields, catalogue)
            for name in invalid:
                if name not in said:
                    said.add(name)
                    log.warning(
                        "negative value left out",
                        field=name,
                        value=reading.fields[name],
                        note="this field is never below 0: such a value is no reading "
                        "(said once per field)",
                    )
            if not fields:
                return  # nothing left that is a reading (said above)
            if tags or invalid or fields != reading.fields:
                reading = dataclasses.replace(reading, fields=fields, tags={**tags, **reading.tags})
            check_fields(reading.fields, catalogue)
            submit(reading, done)

        return emit

    def banner(self) -> dict[str, Any]:
        context: dict[str, Any] = {"source": self.instance.name, "kind": self.kind.name}
        if self.instance.device:
            context["device_id"] = self.instance.device
        context.update(self.instance.banner())
        context["measurement"] = self.config.settings.measurement
        if self.config.tags:
            context["tags"] = ",".join(f"{k}={v}" for k, v in sorted(self.config.tags.items()))
        return context


STILL_CLOCK_AFTER = 3  # readings of one second in a row before the clock is called frozen


class _LastSecond:
    """The previous reading's second of one instance; says once when the clock stands still."""

    def __init__(self, log: Any) -> None:
        self.second: int | None = None
        self.skipped = 0
        self._log = log

    def repeated(self, reading: Reading) -> bool:
        if reading.timestamp != self.second:
            if self.skipped >= STILL_CLOCK_AFTER:
                self._log.info("device clock moves again", skipped=self.skipped)
            self.second, self.skipped = reading.timestamp, 0
            return False
        self.skipped += 1
        self._log.debug("reading skipped: same second as the one before", time=reading.time)
        if self.skipped == STILL_CLOCK_AFTER:
            self._log.warning(
                "device clock stands still",
                time=reading.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                note="readings with the time of the previous one are the same point in InfluxDB "
                "and are skipped until the device's clock moves",
            )
        return True


def build_instances(config: Config) -> list[Running]:
    """Every configured instance, each kind's built together (they may share a socket)."""
    running: list[Running] = []
    for kind in config.kinds.values():
        configs = [item for item in config.instances if item.kind == kind.name]
        if not configs:
            continue
        state = config.runtime.data_dir / "state"
        configs = [dataclasses.replace(item, state_dir=state / item.name) for item in configs]
        by_name = {item.name: item for item in configs}
        built = kind.build(configs)  # a configuration may give several (one per device)
        strangers = sorted({item.name for item in built} - set(by_name))
        if strangers:
            raise KindLoadError(
                f"source kind {kind.name!r} built instances named {', '.join(strangers)}, "
                f"which are not configured ({', '.join(sorted(by_name))} are): a kind's build "
                "must name each instance after its configuration (a bug of the kind)"
            )
        for instance in built:
            running.append(Running(instance, by_name[instance.name], kind))
    order = [item.name for item in config.instances]
    running.sort(key=lambda item: order.index(item.instance.name))
    return running


MQTT_MEMORY = "mqtt-instances.json"  # in DATA_DIR: the instances announced to Home Assistant


def live_view(config: Config, instances: list[Running]) -> LivePublisher | None:
    """The MQTT publisher for these instances, when MQTT_URL is set (aiomqtt is imported
    only then)."""
    if config.mqtt is None:
        return None
    from collector.mqtt.publisher import LivePublisher, Member

    members = [
        Member(item.instance.name, item.kind, item.instance.status, item.instance.interval)
        for item in instances
    ]
    return LivePublisher(config.mqtt, members, config.runtime.data_dir / MQTT_MEMORY)


def _offered(live: LivePublisher, item: Running, submit: Emit) -> Emit:
    """`submit`, after the reading went to the live view (which never waits)."""
    member = next(m for m in live.members if m.status is item.instance.status)

    def emit(reading: Reading, done: Done) -> None:
        live.offer(member, reading)
        submit(reading, done)

    return emit


def _collected_at_once(reading: Reading, done: Done) -> None:
    """Without InfluxDB there is no queue: a reading is collected once it is published."""
    done(True)


async def run_daemon(config: Config) -> int:
    log = get_logger()
    runtime = config.runtime
    lock = DataDirLock.acquire(runtime.data_dir)  # AlreadyRunning: said by the cli, exit 2
    sink = make_sink(config.influx) if config.influx is not None else None
    instances = build_instances(config)
    live = live_view(config, instances)
    log.info(
        "starting",
        version=__version__,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        settings_from=", ".join(["environment", *config.files]),
    )
    if sink is not None:
        log.info("writing to", target=sink.describe())
    if live is not None:
        log.info("publishing to", **live.banner())
    for item in instances:
        context = item.banner()
        found = device_log_of(item.instance)
        if found is not None and sink is not None:
            days = runtime.backfill_days
            context["backfill"] = f"{found[0].describe_log()}, {days:g} days" if days else "off"
        log.info("reading from", **context)
    for warning in config.warnings:
        log.warning("configuration", note=warning)

    queue: DurableQueue | None = None
    writer: Writer | None = None
    if sink is not None and config.influx is not None:
        queue = await open_queue(runtime)
        writer = Writer(sink, queue, flush_interval=config.influx.flush_interval)
    stop = asyncio.Event()
    wake = asyncio.Event()  # an instance stopped for good: say so in the health file at once
    running = asyncio.get_running_loop()
    for signum in (SIGTERM, SIGINT):
        running.add_signal_handler(signum, stop.set)

    def on_change() -> None:
        if any(item.instance.status.stopped for item in instances):
            wake.set()

    started = time.time()
    writer_task = None if writer is None else asyncio.create_task(writer.run(), name="writer")
    live_task = None if live is None else asyncio.create_task(live.run(), name="mqtt")
    submit: Emit = _collected_at_once if queue is None else queue.submit
    marks = _log_marks(runtime) if queue is not None else None
    tasks = []
    for item in instances:
        item.instance.status.listeners.append(on_change)
        emit = submit if live is None else _offered(live, item, submit)
        filler = None if marks is None else _filler(item, marks, runtime)
        if filler is not None:
            emit = watched(filler, emit)
            # the log's readings go to the queue only, never to the live view
            fill = filler.run(item.emitter(submit), stop)
            tasks.append(asyncio.create_task(_bound(item, fill), name=f"{item.label} backfill"))
        task = asyncio.create_task(_run_bound(item, item.emitter(emit), stop), name=item.label)
        task.add_done_callback(functools.partial(_ended, item=item, wake=wake))
        tasks.append(task)
    trend = BacklogTrend()
    wall_clock = WallClockSteps(log)
    health_failed = False
    report = None if queue is None else _self_report(runtime.self_measurement, instances, started)
    next_report = time.monotonic() + runtime.self_every

    def report_now() -> None:
        if report is None or queue is None or writer is None:
            return
        for point in report.points(writer, queue.state.pending, queue.state.rejected):
            queue.submit(point, _ignore)

    def heartbeat(exited: bool = False) -> None:
        nonlocal health_failed
        pending = queue.pending if queue is not None else 0
        trend.update(pending, time.time())
        try:
            write_health(
                runtime.data_dir,
                started,
                [
                    SourceHealth(
                        item.label,
                        item.instance.interval,
                        item.instance.status.last_reading_at,
                        item.instance.status.stopped,
                        item.instance.status.asleep_since,
                    )
                    for item in instances
                ],
                QueueHealth(
                    pending=pending,
                    on_disk=queue.state.on_disk if queue is not None else True,
                    error=queue.state.error if queue is not None else None,
                    growing_since=trend.growing_since(pending),
                    write_error=writer.last_error if writer is not None else None,
                ),
                runtime.health_backlog_growing,
                runtime.health_every,
                exited=exited,
            )
            health_failed = False
        except OSError as exc:
            if not health_failed:
                log.error(
                    "cannot write the health file", path=str(runtime.data_dir), error=str(exc)
                )
            health_failed = True

    while not stop.is_set():
        wake.clear()
        wall_clock.check()
        heartbeat()
        if time.monotonic() >= next_report:
            report_now()
            next_report = max(next_report + runtime.self_every, time.monotonic())
        timeout = min(runtime.health_every, max(0.0, next_report - time.monotonic()))
        waiting = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        try:  # asyncio.wait returns at the timeout: nothing to catch
            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in waiting:
                future.cancel()
        for output in (writer_task, live_task):  # neither ends on its own: a bug, do not hide it
            if output is not None and output.done():
                output.result()

    grace = runtime.shutdown_grace
    log.info("stopping", pending=queue.pending if queue is not None else 0, grace_s=grace)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if live is not None and live_task is not None:
        live.stop()  # the last states go out while the writer finishes
    if writer is not None and writer_task is not None:
        writer.begin_shutdown(grace)
        await writer_task
    if live_task is not None:
        await _within(live_task, grace)
    for item in instances:
        await item.instance.aclose()
    if sink is not None:
        await sink.aclose()
    in_memory = left = 0
    if queue is not None:
        in_memory = queue.state.in_memory
        left = queue.pending
        await queue.close()
        if in_memory:
            log.warning(
                "shutdown: readings lost",
                readings=in_memory,
                reason="they were held in memory because the queue could not be written",
                error=queue.state.error,
            )
    if marks is not None and marks.dirty:  # the readings stored during the shutdown
        with contextlib.suppress(OSError):  # said by the filler, when it could not write it
            marks.save()
    heartbeat(exited=True)
    unchanged = sum(item.instance.status.unchanged for item in instances)
    outputs: dict[str, Any] = {}
    if writer is not None:
        outputs.update(
            delivered=writer.delivered, rejected=writer.rejected, left_in_queue=left - in_memory
        )
    if live is not None:
        outputs["published"] = live.published
    log.info(
        "stopped",
        readings=sum(item.instance.status.readings for item in instances),
        **outputs,
        failed_polls=sum(item.instance.status.failed_polls for item in instances),
        **({"unchanged_polls": unchanged} if unchanged else {}),
    )
    sys.stdout.flush()
    lock.release()
    return 0


async def open_queue(runtime: RuntimeSettings) -> DurableQueue:
    """The queue in DATA_DIR (or, when it cannot be written, in memory), its state said."""
    log = get_logger()
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
            pending=queue.state.pending,
            rejected=queue.state.rejected,
            max_age=format_duration(runtime.buffer_max_age),
            max_mb=f"{runtime.buffer_max_mb:g}",
        )
        if queue.state.pending:
            oldest = await queue.peek(1)
            log.info(
                "delivering readings from before the start",
                pending=queue.state.pending,
                oldest=iso(oldest[0].time) if oldest else None,
            )
    return queue


async def _within(task: asyncio.Task[None], seconds: float) -> None:
    """Wait for a task that was asked to end; cancel it after `seconds`."""
    done, _ = await asyncio.wait([task], timeout=max(seconds, 1.0))
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    elif task.exception() is not None:
        task.result()


def _self_report(measurement: str, instances: list[Running], started: float) -> SelfReport | None:
    if not measurement.strip():
        return None
    sources = [
        Source(item.instance.name, item.kind.name, item.instance.device, item.instance.status)
        for item in instances
    ]
    return SelfReport(measurement.strip(), sources, started)


def _ignore(on_disk: bool) -> None:
    """The self-report's points are not logged one by one as readings are."""


async def _run_bound(item: Running, emit: Emit, stop: asyncio.Event) -> None:
    """Run an instance with its name bound to every log line of its task."""
    await _bound(item, item.instance.run(emit, stop))


async def _bound(item: Running, work: Coroutine[Any, Any, None]) -> None:
    """Run an instance's work with its name bound to every log line of its task."""
    context = {"source": item.instance.name}
    if item.instance.device:
        context["device"] = item.instance.device
    structlog.contextvars.bind_contextvars(**context)  # this task's own copy of the context
    await work


def _log_marks(runtime: RuntimeSettings) -> LogMarks:
    """The series' marks for backfill (kept also with BACKFILL_DAYS=0, for `collector
    backfill`); a file that cannot be read is said, and every series starts afresh."""
    marks = LogMarks.load(runtime.data_dir / MARKS_FILE)
    if marks.error is not None:
        get_logger().warning("backfill marks unreadable", error=marks.error)
    return marks


def _filler(item: Running, marks: LogMarks, runtime: RuntimeSettings) -> Filler | None:
    """The backfill of an instance whose device keeps a log."""
    found = device_log_of(item.instance)
    if found is None:
        return None
    log, turn = found
    return Filler(
        item.instance.name,
        log,
        turn,
        marks,
        catalogue=item.kind.fields,
        series_tag=item.kind.series_tag,
        interval=item.instance.interval,
        days=runtime.backfill_days,
    )


def _ended(task: asyncio.Task[None], item: Running, wake: asyncio.Event) -> None:
    """An instance's task that ended with an exception is a bug: say so, and report it."""
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    item.instance.status.stopped = f"internal error: {type(exc).__name__}: {exc}"
    get_logger(source=item.instance.name).error(
        "source crashed",
        error=f"{type(exc).__name__}: {exc}",
        note="a bug in the collector: please report this line; the other sources go on",
        exc_info=exc,
    )
    wake.set()
