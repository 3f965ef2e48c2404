"""The writer: takes readings from the buffer in batches and writes them, with retries.

- Transient failures (connection, timeout, 5xx, 429, 401/403, 404) are retried with exponential
  back-off and jitter (tenacity), honouring Retry-After. The first failure of an outage is logged
  with its cause, then one reminder per hour, then one line on recovery.
- Points the database will never accept (400, 422) are split out one by one; each rejected point
  is logged with the database's reason and dropped, so one bad point never blocks the rest.
- At shutdown the writer keeps going for a grace period, then stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from collector.errors import SinkError
from collector.logging import get_logger
from collector.reading import Reading
from collector.sinks import Sink
from collector.sinks.line_protocol import to_line

REMINDER_EVERY = 3600.0
MAX_RETRY_AFTER = 300.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SinkError) and exc.retryable


class Writer:
    def __init__(
        self,
        sink: Sink,
        buffer: asyncio.Queue[Reading],
        *,
        batch_size: int = 5000,
        max_backoff: float = 60.0,
    ) -> None:
        self.sink = sink
        self.buffer = buffer
        self.batch_size = batch_size
        self.delivered = 0
        self.rejected = 0
        self._log = get_logger(component="writer")
        self._backoff = wait_exponential_jitter(initial=1, max=max_backoff, jitter=1)
        self._shutdown = asyncio.Event()
        self._deadline: float | None = None
        self._outage_since: float | None = None
        self._last_reminder = 0.0
        self._in_flight = 0

    @property
    def pending(self) -> int:
        return self.buffer.qsize() + self._in_flight

    def begin_shutdown(self, grace: float) -> None:
        self._deadline = time.monotonic() + grace
        self._shutdown.set()

    async def run(self) -> None:
        while True:
            first = await self._next_reading()
            if first is None:
                return
            batch = [first]  # _write adds whatever else is waiting
            try:
                delivered = await self._deliver(batch)
            finally:
                self._in_flight = 0
            if not delivered:
                lost = len(batch) + self.buffer.qsize()
                self._log.warning(
                    "shutdown: readings not written",
                    readings=lost,
                    reason="InfluxDB did not take them within the grace period",
                )
                return

    async def _next_reading(self) -> Reading | None:
        """Wait for a reading; None once shutdown has begun and nothing is buffered."""
        if self.buffer.empty():
            if self._shutdown.is_set():
                return None
            getter = asyncio.ensure_future(self.buffer.get())
            stopper = asyncio.ensure_future(self._shutdown.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                getter.cancel()
                return None
            reading: Reading = getter.result()
            return reading
        return self.buffer.get_nowait()

    async def _deliver(self, batch: list[Reading]) -> bool:
        """Write a batch; False when shutdown came before the database took it.

        Before every attempt, readings waiting in the buffer join the batch (up to the batch
        size), so that the first write after an outage delivers the backlog at once.
        """
        try:
            await self._write(batch, grow=True)
        except SinkError as exc:
            if exc.retryable:
                return False
            if len(batch) == 1:
                self._reject(batch[0], exc)
                return True
            # Find the bad points: write one by one (rewriting a good point is harmless: same
            # series and time overwrite).
            for reading in batch:
                try:
                    await self._write([reading], grow=False)
                except SinkError as single:
                    if single.retryable:
                        return False
                    self._reject(reading, single)
                else:
                    self.delivered += 1
            return True
        self.delivered += len(batch)
        self._log.debug("written", readings=len(batch), pending=self.buffer.qsize())
        return True

    async def _write(self, batch: list[Reading], *, grow: bool) -> None:
        lines = [to_line(reading) for reading in batch]
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
                if grow:
                    while len(batch) < self.batch_size and not self.buffer.empty():
                        reading = self.buffer.get_nowait()
                        batch.append(reading)
                        lines.append(to_line(reading))
                self._in_flight = len(batch)
                await self.sink.write(lines)
        self._on_success(len(lines))

    # --- tenacity hooks ----------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, SinkError) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER)
        backoff: float = self._backoff(state)
        return backoff

    def _stop(self, _: RetryCallState) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    async def _sleep(self, seconds: float) -> None:
        if self._deadline is not None:
            await asyncio.sleep(max(0.0, min(seconds, self._deadline - time.monotonic())))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._shutdown.wait(), timeout=seconds)

    def _on_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        now = time.monotonic()
        details: dict[str, Any] = {"pending": self.pending}
        if self._outage_since is None:
            self._outage_since = now
            self._last_reminder = now
            self._log.error(
                "write failed",
                error=str(exc),
                **details,
                note="readings are kept and retried; next message when it works again",
            )
        elif now - self._last_reminder >= REMINDER_EVERY:
            self._last_reminder = now
            self._log.warning(
                "InfluxDB still unavailable",
                since_s=round(now - self._outage_since),
                error=str(exc),
                **details,
            )

    def _on_success(self, count: int) -> None:
        if self._outage_since is not None:
            outage = time.monotonic() - self._outage_since
            self._outage_since = None
            self._log.info(
                "InfluxDB back", after_s=round(outage), delivered=count, pending=self.buffer.qsize()
            )

    def _reject(self, reading: Reading, exc: SinkError) -> None:
        self.rejected += 1
        self._log.error(
            "point rejected",
            measurement=reading.measurement,
            time=reading.time.isoformat(),
            status=exc.status,
            reason=str(exc),
            note="InfluxDB will never accept this point; it was dropped",
        )
