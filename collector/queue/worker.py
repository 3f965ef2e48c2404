"""DurableQueue: the QueueStore for the asyncio daemon, in one worker thread of its own, so that
a slow disk (an SD card's fsync) never stalls the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from collector.logging import get_logger
from collector.queue.store import QueuedReading, QueueState, QueueStore
from collector.reading import Reading

T = TypeVar("T")


class DurableQueue:
    """The QueueStore for the asyncio daemon: every call runs in one worker thread, which also
    takes the queue's figures after it (`state`): the store is touched by that thread alone."""

    def __init__(self, store: QueueStore) -> None:
        self.store = store
        self.state = QueueState()
        self.changed = asyncio.Event()  # set after every append: wakes the writer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue")

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
        on_disk = await self._call(_append, self.store, reading)
        self.changed.set()
        return on_disk

    def submit(self, reading: Reading, done: Callable[[bool], None]) -> None:
        """Queue a reading without waiting for the disk (the poll loop's way).

        The queue thread appends it (readings keep their order); then `done(on_disk)` runs on
        the event loop, which is where the poll loop logs the reading as collected.
        """
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._with_state, _append, self.store, reading
        )

        def finished(result: asyncio.Future[tuple[bool, QueueState]]) -> None:
            self.changed.set()
            if result.cancelled():
                return
            error = result.exception()
            if error is not None:  # a bug: the store handles disk errors itself
                get_logger(component="queue").error(
                    "reading could not be queued", error=repr(error), time=reading.time.isoformat()
                )
                return
            on_disk, self.state = result.result()
            done(on_disk)

        future.add_done_callback(finished)

    async def peek(self, limit: int) -> list[QueuedReading]:
        return await self._call(self.store.peek, limit)

    async def remove(self, items: list[QueuedReading]) -> None:
        await self._call(self.store.remove, items)

    async def reject(self, item: QueuedReading, status: int | None, reason: str) -> bool:
        return await self._call(self.store.reject, item, status, reason)

    async def close(self) -> None:
        await self._call(self.store.close)
        self._executor.shutdown(wait=True)


def _append(store: QueueStore, reading: Reading) -> bool:
    from collector.sinks.line_protocol import to_line

    return store.append(int(reading.time.timestamp()), reading.measurement, to_line(reading))
