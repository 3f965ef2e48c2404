"""The writer: delivers the queue to the database, oldest first, and deletes what it confirmed.

- Batches of up to `batch_size` readings (5000): a day's backlog goes in a few requests, and a
  new reading waits at most for the batches in front of it.
- When the queue was empty, a new reading waits `flush_interval` (INFLUX_FLUSH_INTERVAL, 1 s)
  for the others of its moment, so that a house's readings of one second go in one request,
  not one each. It is on disk already; a backlog is written without such pauses.
- Transient failures (connection, timeout, 5xx, 429, 401/403, 404) are retried with exponential
  back-off and jitter (tenacity), honouring Retry-After. Before each attempt the batch is read
  from the queue again, so the first write after an outage carries as much backlog as fits.
- Logs: the first failure of an outage with its cause, then one reminder per hour with the
  backlog, then one `InfluxDB back` line once the backlog is delivered, with the outage's
  length and the number of readings delivered since it ended.
- Points the database will never accept (400, 422, 413 for a single point) are found by
  halving the batch, moved to the queue's rejected table with the database's reason, and
  logged, so one bad point never blocks the rest and never silently vanishes.
- At shutdown the writer keeps going for the grace period; what is left stays on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from collector.errors import SinkError
from collector.logging import get_logger
from collector.queue import DurableQueue, QueuedReading, iso
from collector.sinks import Sink

REMINDER_EVERY = 3600.0
MAX_RETRY_AFTER = 300.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SinkError) and exc.retryable


class Writer:
    def __init__(
        self,
        sink: Sink,
        queue: DurableQueue,
        *,
        batch_size: int = 5000,
        max_backoff: float = 60.0,
        flush_interval: float = 0.0,
    ) -> None:
        self.sink = sink
        self.queue = queue
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.delivered = 0
        self.rejected = 0
        self.last_error: str | None = None
        self._log = get_logger(component="writer")
        self._backoff = wait_exponential_jitter(initial=1, max=max_backoff, jitter=1)
        self._shutdown = asyncio.Event()
        self._deadline: float | None = None
        self._outage_since: float | None = None  # monotonic; set from the first failure
        self._catching_up = 0  # readings delivered since the outage ended, until caught up
        self._last_reminder = 0.0
        # The batch of the latest write attempt. A retry may grow the batch (more readings came
        # while waiting), so when InfluxDB refuses a point for good it is this batch, not the
        # first one, that _split searches for the bad point.
        self._attempted: list[QueuedReading] = []

    @property
    def pending(self) -> int:
        return self.queue.pending

    def begin_shutdown(self, grace: float) -> None:
        self._deadline = time.monotonic() + grace
        self._shutdown.set()

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    async def run(self) -> None:
        while True:
            self.queue.changed.clear()  # before peeking, so no append can slip through
            items = await self.queue.peek(self.batch_size)
            if not items:
                if self._shutdown.is_set():
                    return
                await self._wait_for_readings()
                if self.flush_interval > 0 and not self._shutdown.is_set():
                    await self._sleep(self.flush_interval)  # the others of this moment join it
                continue
            if self._past_deadline() or not await self._deliver(items):
                self._log.info(
                    "shutdown: readings left in the queue",
                    pending=self.pending,
                    note="they are delivered after the next start",
                )
                return

    async def _wait_for_readings(self) -> None:
        changed = asyncio.ensure_future(self.queue.changed.wait())
        stopping = asyncio.ensure_future(self._shutdown.wait())
        await asyncio.wait({changed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (changed, stopping):
            task.cancel()

    async def _deliver(self, items: list[QueuedReading]) -> bool:
        """Write the front of the queue; False when shutdown came before the database took it."""
        try:
            written = await self._write(items, grow=True)
        except SinkError as exc:
            if exc.retryable:
                return False
            return await self._split(self._attempted, exc)
        await self._confirmed(written)
        return True

    async def _confirmed(self, items: list[QueuedReading], *, whole: bool = True) -> None:
        """InfluxDB took these. `whole`: the batch as read from the queue, not a part of a
        refused one (a part is small because it was halved, not because the backlog is gone)."""
        await self.queue.remove(items)
        self.delivered += len(items)
        if self._outage_since is not None:
            self._catching_up += len(items)
            if self.pending == 0 or (whole and len(items) < self.batch_size):  # caught up
                outage = time.monotonic() - self._outage_since
                self._log.info(
                    "InfluxDB back",
                    after_s=round(outage),
                    delivered=self._catching_up,
                    pending=self.pending,
                )
                self._outage_since = None
                self._catching_up = 0
                self.last_error = None
        self._log.debug("written", readings=len(items), pending=self.pending)

    async def _split(self, items: list[QueuedReading], exc: SinkError) -> bool:
        """Halve a refused batch until the bad points are alone; move those aside."""
        if len(items) == 1:
            await self._reject(items[0], exc)
            return True
        middle = len(items) // 2
        for half in (items[:middle], items[middle:]):
            try:
                await self._write(half, grow=False)
            except SinkError as refused:
                if refused.retryable:
                    return False
                if not await self._split(half, refused):
                    return False
            else:
                await self._confirmed(half, whole=False)
        return True

    async def _write(self, items: list[QueuedReading], *, grow: bool) -> list[QueuedReading]:
        """Write with retries; returns the batch that was written (it may have grown)."""
        batch = items
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=self._stop,
            sleep=self._sleep,
            before_sleep=self._on_failure,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if grow and attempt.retry_state.attempt_number > 1:
                    batch = await self.queue.peek(self.batch_size) or batch
                self._attempted = batch
                await self.sink.write([item.line for item in batch])
        return batch

    # --- tenacity hooks ----------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, SinkError) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER)
        backoff: float = self._backoff(state)
        return backoff

    def _stop(self, _: RetryCallState) -> bool:
        return self._past_deadline()

    async def _sleep(self, seconds: float) -> None:
        if self._deadline is not None:
            await asyncio.sleep(max(0.0, min(seconds, self._deadline - time.monotonic())))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._shutdown.wait(), timeout=seconds)

    def _on_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        now = time.monotonic()
        self.last_error = str(exc)
        details: dict[str, Any] = {"pending": self.pending}
        if self._outage_since is None:
            self._outage_since = now
            self._last_reminder = now
            self._catching_up = 0
            self._log.error(
                "write failed",
                error=str(exc),
                **details,
                note="readings stay in the queue and are retried; "
                "next message when InfluxDB takes them again",
            )
        elif now - self._last_reminder >= REMINDER_EVERY:
            self._last_reminder = now
            self._log.warning(
                "InfluxDB still unavailable",
                since_s=round(now - self._outage_since),
                error=str(exc),
                **details,
            )

    async def _reject(self, item: QueuedReading, exc: SinkError) -> None:
        self.rejected += 1
        kept = await self.queue.reject(item, exc.status, str(exc))
        self._log.error(
            "point rejected",
            measurement=item.measurement,
            time=iso(item.time),
            status=exc.status,
            reason=str(exc),
            note="moved to the rejected table: `collector queue` lists it, "
            "`collector queue retry-rejected` puts it back"
            if kept
            else "it could not be kept (the queue cannot be written) and was dropped",
        )
