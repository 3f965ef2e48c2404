"""DurableQueue: the QueueStore for the asyncio daemon, in one worker thread of its own, so that
a slow disk (an SD card's fsync) never stalls the event loop.

Readings submitted while the thread is writing others wait, and then go to disk together in one
transaction (group commit): the readings of one moment share one fsync, and each is still
reported on disk only once its transaction is committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from collector.logging import get_logger
from collector.queue.store import QueuedReading, QueueState, QueueStore
from collector.reading import Reading

T = TypeVar("T")


@dataclass(frozen=True)
class _Submitted:
    """A reading on its way to the queue: what to call once it is (or cannot be) appended."""

    reading: Reading
    done: Callable[[bool], None]  # with True once on disk, False when held in memory
    failed: Callable[[BaseException], None] | None = None  # a bug; None: it is logged only


class DurableQueue:
    """The QueueStore for the asyncio daemon: every call runs in one worker thread, which also
    takes the queue's figures after it (`state`): the store is touched by that thread alone."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.state = QueueState()
        self.changed = asyncio.Event()  # set after every append: wakes the writer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue")
        # readings submitted while a group is being written, and whether one is
        self._waiting: list[_Submitted] = []
        self._writing = False
        self._idle = asyncio.Event()
        self._idle.set()

    def _with_state(self, function: Callable[..., T], *args: Any) -> tuple[T, QueueState]:
        result = function(*args)
        return result, self.store.state()

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        result, self.state = await loop.run_in_executor(
            self._executor, self._with_state, function, *args
        )
        return result

    @property
    def pending(self) -> int:
        return self.state.pending

    async def open(self) -> bool:
        return await self._call(self.store.open_or_hold_in_memory)

    async def append(self, reading: Reading) -> bool:
        """Queue a reading and wait: True once it is on disk, False if held in memory."""
        result: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._submit(_Submitted(reading, result.set_result, result.set_exception))
        return await result

    def submit(self, reading: Reading, done: Callable[[bool], None]) -> None:
        """Queue a reading without waiting for the disk (the poll loop's way).

        The queue thread appends it (readings keep their order), with whatever else was
        submitted meanwhile; then `done(on_disk)` runs on the event loop, which is where the
        poll loop logs the reading as collected.
        """
        self._submit(_Submitted(reading, done))

    def _submit(self, submitted: _Submitted) -> None:
        self._waiting.append(submitted)
        if not self._writing:
            self._write_group()

    def _write_group(self) -> None:
        group, self._waiting = self._waiting, []
        self._writing = True
        self._idle.clear()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._with_state, _append, self.store, [s.reading for s in group]
        )
        future.add_done_callback(lambda result: self._written(result, group))

    def _written(
        self, result: asyncio.Future[tuple[bool, QueueState]], group: list[_Submitted]
    ) -> None:
        self._writing = False
        self.changed.set()
        if self._waiting:
            self._write_group()
        else:
            self._idle.set()
        if result.cancelled():
            return
        error = result.exception()
        if error is not None:  # a bug: the store handles disk errors itself
            get_logger(component="queue").error(
                "readings could not be queued",
                error=repr(error),
                readings=len(group),
                times=[submitted.reading.time.isoformat() for submitted in group[:5]],
            )
            for submitted in group:
                if submitted.failed is not None:
                    submitted.failed(error)
            return
        on_disk, self.state = result.result()
        for submitted in group:
            submitted.done(on_disk)

    async def peek(self, limit: int) -> list[QueuedReading]:
        return await self._call(self.store.peek, limit)

    async def remove(self, items: list[QueuedReading]) -> None:
        await self._call(self.store.remove, items)

    async def reject(self, item: QueuedReading, status: int | None, reason: str) -> bool:
        return await self._call(self.store.reject, item, status, reason)

    async def close(self) -> None:
        await self._idle.wait()  # the readings submitted so far are appended first
        await self._call(self.store.close)
        self._executor.shutdown(wait=True)


def _append(store: QueueStore, readings: list[Reading]) -> bool:
    from collector.sinks.line_protocol import to_line

    return store.append_many(
        [(reading.timestamp, reading.measurement, to_line(reading)) for reading in readings]
    )
