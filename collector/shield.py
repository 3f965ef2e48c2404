"""A login that outlives a cancelled poll, so that its session can still be logged out.

A device with few session slots must see every session it opened logged out. When the collector
stops while a login is on its way, cancelling the request would leave the device with a session
nobody knows the id of. So the login runs as a task of its own: the poll awaits it shielded, and
at shutdown `settle` waits (briefly) for its result, which the caller then logs out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Shielded(Generic[T]):
    """One awaited operation at a time, not cancelled with its caller."""

    def __init__(self) -> None:
        self._task: asyncio.Future[T] | None = None

    async def run(self, start: Callable[[], Awaitable[T]]) -> T:
        if self._task is None:
            self._task = asyncio.ensure_future(start())
        task = self._task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._task = None

    async def settle(self, seconds: float) -> T | None:
        """The result of an operation still on its way (None if there is none, or it failed)."""
        task, self._task = self._task, None
        if task is None:
            return None
        with contextlib.suppress(Exception, asyncio.CancelledError):
            return await asyncio.wait_for(task, seconds)
        return None
