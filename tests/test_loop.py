"""PollLoop: only a permanent SourceError ends an instance; a bug of a kind is said once, counted
as a failed poll, and the device is asked again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from structlog.testing import capture_logs

from collector.errors import AuthError, LoginRefused, ProtocolError, SourceError
from collector.loop import PollLoop
from collector.reading import Reading
from collector.sources import Done


class Scripted:
    """A poller that, poll by poll, raises or answers as its script says, then answers."""

    def __init__(self, script: list[BaseException | None], stop: asyncio.Event) -> None:
        self.script = list(script)
        self.interval = 0.01
        self.timeout = 0.01
        self.polls = 0
        self.answers = 0
        self._stop = stop

    def describe(self) -> str:
        return "scripted"

    async def poll(self) -> Reading:
        self.polls += 1
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        self.answers += 1
        if self.answers == 2:
            self._stop.set()
        return Reading(datetime.now(UTC), "m", {"count": self.polls})

    def summary(self, reading: Reading) -> dict[str, Any]:
        return dict(reading.fields)

    async def aclose(self) -> None:
        pass


def run_script(script: list[BaseException | None]) -> tuple[PollLoop, Scripted, list[Any]]:
    async def main() -> tuple[PollLoop, Scripted]:
        stop = asyncio.Event()
        poller = Scripted(script, stop)
        loop = PollLoop("scripted", poller, max_backoff=0.01)

        def emit(reading: Reading, done: Done) -> None:
            done(True)

        await asyncio.wait_for(loop.run(emit, stop), timeout=30)
        return loop, poller

    with capture_logs() as logs:
        loop, poller = asyncio.run(main())
    return loop, poller, logs


def test_an_unexpected_exception_is_a_failed_poll_said_once_and_polling_goes_on() -> None:
    # On main before issue 19 the ValueError ended the task: `run` raised it.
    loop, poller, logs = run_script([ValueError("a record of 24 bytes")] * 5)
    assert poller.answers == 2  # asked again after the bug, and answered
    assert loop.status.failed_polls == 5
    assert loop.status.stopped is None
    bugs = [entry for entry in logs if entry["event"] == "poll failed: a bug in the collector"]
    assert len(bugs) == 1  # five times the same bug: one line, with its traceback
    assert bugs[0]["log_level"] == "error"
    assert isinstance(bugs[0]["exc_info"], ValueError)
    assert "a record of 24 bytes" in bugs[0]["error"]
    assert loop.status.last_error == "internal error: ValueError: a record of 24 bytes"
    assert any(entry["event"] == "device back" for entry in logs)


def test_only_a_permanent_source_error_stops_an_instance() -> None:
    loop, poller, _ = run_script([ProtocolError("odd"), AuthError("token expired"), None])
    assert poller.answers == 2
    assert loop.status.stopped is None
    loop, poller, logs = run_script([LoginRefused("wrong password")])
    assert poller.polls == 1
    assert poller.answers == 0
    assert loop.status.stopped == "wrong password"
    assert [entry["event"] for entry in logs] == ["source stopped"]


def test_error_flags_are_given_to_the_constructor() -> None:
    error = SourceError("busy", retry_after=30.0)
    assert error.retry_after == 30.0
    assert not error.permanent
    assert not error.asleep
    assert LoginRefused("no").permanent
    assert not LoginRefused("try later", permanent=False).permanent
    assert LoginRefused.permanent  # the class keeps its default
    assert ProtocolError("x", device="10.0.0.5").device == "10.0.0.5"
