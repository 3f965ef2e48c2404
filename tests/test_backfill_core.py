"""Backfill's core without a device: screening a log, the marks file, which gaps a series'
readings open, and the turns a log request takes with the live poll."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.backfill import (
    DAY,
    DeviceTurn,
    Filler,
    Gap,
    LogMarks,
    Preempted,
    counter_fields,
    screen,
)
from collector.reading import Reading
from collector.sources.sma.fields import FIELDS as SMA_FIELDS

STEP = 300
COUNTERS = frozenset({"energy_total"})
BASE = 1_796_601_600  # a multiple of 300


def point(stamp: int, wh: int, **more: float) -> Reading:
    return Reading(datetime.fromtimestamp(stamp, UTC), "SMA", {"energy_total": wh, **more})


def test_the_counters_are_the_catalogues_total_increasing_fields() -> None:
    counters = counter_fields(SMA_FIELDS)
    assert "energy_total" in counters
    assert "ac_power" not in counters
    assert "device_status" not in counters


def test_a_record_off_the_grid_is_left_out_whole_and_counted() -> None:
    screened = screen(
        [point(BASE, 10), point(BASE + 301, 11), point(BASE + 600, 12)], STEP, COUNTERS, {}, {}
    )
    assert [r.timestamp for r in screened.kept] == [BASE, BASE + 600]
    assert (screened.off_grid, screened.backwards) == (1, 0)


def test_a_counter_below_the_one_before_or_above_the_gaps_end_is_left_out() -> None:
    readings = [
        point(BASE, 100),
        point(BASE + 300, 90),  # below the one before
        point(BASE + 600, 120),
        point(BASE + 900, 500),  # above the live reading after the gap
    ]
    screened = screen(readings, STEP, COUNTERS, {"energy_total": 95}, {"energy_total": 200})
    assert [(r.timestamp, r.fields["energy_total"]) for r in screened.kept] == [
        (BASE, 100),
        (BASE + 600, 120),
    ]
    assert screened.backwards == 2


def test_a_counter_below_the_last_live_reading_is_left_out() -> None:
    screened = screen([point(BASE, 100)], STEP, COUNTERS, {"energy_total": 101}, {})
    assert not screened.kept
    assert screened.backwards == 1


def test_only_the_wrong_counter_of_a_record_goes_when_other_fields_are_right() -> None:
    screened = screen([point(BASE, 100, ac_power=5.0)], STEP, COUNTERS, {"energy_total": 200}, {})
    assert [dict(r.fields) for r in screened.kept] == [{"ac_power": 5.0}]
    assert screened.backwards == 1


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 1000), st.booleans()), max_size=40),
    st.one_of(st.none(), st.integers(0, 500)),
    st.one_of(st.none(), st.integers(500, 1000)),
)
def test_what_a_screen_keeps_is_on_the_grid_in_order_and_never_goes_back(
    records: list[tuple[int, int, bool]], floor: int | None, ceiling: int | None
) -> None:
    readings = [point(BASE + k * STEP + (0 if on else 7), wh) for k, wh, on in records]
    low = {} if floor is None else {"energy_total": float(floor)}
    high = {} if ceiling is None else {"energy_total": float(ceiling)}
    screened = screen(readings, STEP, COUNTERS, low, high)
    stamps = [r.timestamp for r in screened.kept]
    values = [float(r.fields["energy_total"]) for r in screened.kept]
    assert all(stamp % STEP == 0 for stamp in stamps)
    assert stamps == sorted(stamps)
    assert values == sorted(values)
    assert all((floor or 0) <= v <= (1000 if ceiling is None else ceiling) for v in values)
    assert len(screened.kept) + screened.left_out == len(readings)


def test_the_marks_file_keeps_last_counters_and_gaps_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "backfill.json"
    marks = LogMarks.load(path)
    assert marks.error is None
    mark = marks.get("sma/3010538116")
    mark.last = BASE
    mark.counters = {"energy_total": 10.0}
    mark.gaps.append(Gap(BASE - 3600, BASE, {"energy_total": 5.0}, {"energy_total": 10.0}))
    marks.save()
    again = LogMarks.load(path)
    assert again.marks == marks.marks
    assert not path.with_name("backfill.json.tmp").exists()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"sma": {"gaps": [[1]]}}'])
def test_a_marks_file_that_cannot_be_read_is_said_and_starts_afresh(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "backfill.json"
    path.write_text(content)
    marks = LogMarks.load(path)
    assert marks.error is not None
    assert str(path) in marks.error
    assert all(not mark.gaps for mark in marks.marks.values())


class ShortLog:
    """A device log that is never asked in these tests."""

    log_step = 300.0
    log_span = 86400.0
    log_covers = 0.0
    log_settle = 0.0

    def describe_log(self) -> str:
        return "a log"

    async def read_log(self, series: object, start: datetime, end: datetime) -> list[Reading]:
        raise AssertionError("not asked here")


def filler(tmp_path: Path, days: float = 7.0) -> Filler:
    return Filler(
        "sma",
        ShortLog(),
        DeviceTurn(),
        LogMarks.load(tmp_path / "backfill.json"),
        catalogue=SMA_FIELDS,
        series_tag="serial",
        interval=1.0,
        days=days,
    )


def live(stamp: int, wh: int, serial: str = "3010538116") -> Reading:
    return Reading(
        datetime.fromtimestamp(stamp, UTC), "SMA", {"energy_total": wh}, {"serial": serial}
    )


def test_a_series_first_reading_opens_a_gap_of_backfill_days_before_it(
    tmp_path: Path,
) -> None:
    fill = filler(tmp_path, days=2)
    fill.seen(live(BASE, 100))
    fill.seen(live(BASE + 1, 100))
    gaps = fill.marks.get("sma/3010538116").gaps
    assert gaps == [Gap(BASE - 2 * DAY, BASE, {}, {"energy_total": 100.0})]
    assert fill.marks.get("sma/3010538116").since == BASE - 2 * DAY


def test_a_reading_after_more_than_a_step_opens_a_gap_from_the_one_before(
    tmp_path: Path,
) -> None:
    fill = filler(tmp_path)
    mark = fill.marks.get("sma/3010538116")
    mark.last, mark.counters = BASE, {"energy_total": 50.0}  # from the run before
    fill.seen(live(BASE + 301, 60))  # within a step and two intervals: no gap
    assert mark.gaps == []
    fill.seen(live(BASE + 301 + 303, 70))
    assert mark.gaps == [
        Gap(BASE + 302, BASE + 604, {"energy_total": 60.0}, {"energy_total": 70.0})
    ]
    assert mark.last == BASE + 604


def test_no_gap_reaches_back_further_than_backfill_days_and_zero_opens_none(
    tmp_path: Path,
) -> None:
    fill = filler(tmp_path, days=1)
    mark = fill.marks.get("sma/3010538116")
    mark.last = BASE - 30 * DAY
    fill.seen(live(BASE, 100))
    assert [(gap.start, gap.end) for gap in mark.gaps] == [(BASE - DAY, BASE)]
    off = filler(tmp_path / "off", days=0)
    off.seen(live(BASE, 100))
    off.seen(live(BASE + 3600, 200))
    assert off.marks.get("sma/3010538116").gaps == []
    assert off.marks.get("sma/3010538116").since == BASE  # kept for `collector backfill`


def test_a_poll_cancels_a_log_request_and_waits_only_for_its_cancellation() -> None:
    asyncio.run(_a_poll_cancels_a_log_request())


async def _a_poll_cancels_a_log_request() -> None:
    turn = DeviceTurn()
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(60)
        return "never"

    request = asyncio.create_task(turn.spare(slow))
    await started.wait()
    await asyncio.wait_for(turn.poll_begins(), timeout=1)
    with pytest.raises(Preempted):
        await request
    # While the poll runs, a request waits for it to end.
    waiting = asyncio.create_task(turn.spare(lambda: asyncio.sleep(0, result="answered")))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    turn.poll_ends()
    assert await asyncio.wait_for(waiting, timeout=1) == "answered"


def test_the_marks_file_is_json_a_person_can_read(tmp_path: Path) -> None:
    marks = LogMarks.load(tmp_path / "backfill.json")
    marks.get("sma").last = BASE
    marks.save()
    assert json.loads((tmp_path / "backfill.json").read_text()) == {
        "sma": {"last": BASE, "counters": {}, "gaps": [], "since": None}
    }


def test_every_kind_with_a_log_is_a_device_log_to_the_core() -> None:
    """A kind that forgets one of DeviceLog's members would silently get no backfill."""
    from collector.backfill import DeviceLog
    from collector.sources.sma.source import SmaSource
    from collector.sources.sma_webconnect.source import SmaWebConnectSource

    for kind in (SmaSource, SmaWebConnectSource):
        missing = [
            name
            for name in ("log_step", "log_span", "log_covers", "log_settle", "read_log")
            if not hasattr(kind, name)
        ]
        assert not missing, (kind.__name__, missing)
        assert kind.log_span % kind.log_step == 0
    assert isinstance(SmaSource(("127.0.0.1", 9522), "0000", 7), DeviceLog)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_backfill_command_draws_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    from datetime import date

    from collector.backfill_command import Progress

    screen_ = Terminal()
    bar = Progress(screen_, 2)
    bar.day("sma/1", date(2026, 12, 1), 288, 0)
    bar.day("sma/1", date(2026, 12, 2), 287, 1)
    drawn = screen_.getvalue()
    assert drawn.count("\r") == 2
    assert "[" + "#" * 15 + "." * 15 + "] 1/2 days  sma/1 2026-12-01: 288 points" in drawn
    assert drawn.endswith("] 2/2 days  sma/1 2026-12-02: 287 points, 1 left out   \n")
    plain = io.StringIO()
    lines = Progress(plain, 2)
    lines.day("sma/1", date(2026, 12, 1), 288, 0)
    lines.failed("sma/1", date(2026, 12, 2), "no answer")
    assert plain.getvalue() == (
        "sma/1 2026-12-01: 288 points\nsma/1 2026-12-02: not read: no answer\n"
    )


def test_the_backfill_commands_days_are_local_days_cut_to_the_range() -> None:
    from zoneinfo import ZoneInfo

    from collector.backfill_command import days_between

    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 10, 24, 12, 0, tzinfo=berlin).timestamp()
    end = datetime(2026, 10, 26, 6, 0, tzinfo=berlin).timestamp()
    days = days_between(start, end, berlin)
    assert [day.isoformat() for day, _, _ in days] == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert days[0][1] == start
    assert days[1][2] - days[1][1] == 25 * 3600  # the day the clocks go back
    assert days[2][2] == end


class BrokenLog(ShortLog):
    """A device log whose reading has a bug; it asks the filler to stop as it fails."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.asked = 0
        self.stop = stop

    async def read_log(self, series: object, start: datetime, end: datetime) -> list[Reading]:
        self.asked += 1
        self.stop.set()
        raise KeyError("a bug")


def test_a_bug_in_a_kinds_log_is_said_once_with_its_traceback_and_the_filler_goes_on(
    tmp_path: Path,
) -> None:
    from structlog.testing import capture_logs

    async def main() -> tuple[list[MutableMapping[str, Any]], int]:
        stop = asyncio.Event()
        log = BrokenLog(stop)
        fill = Filler(
            "sma",
            log,
            DeviceTurn(),
            LogMarks.load(tmp_path / "backfill.json"),
            catalogue=SMA_FIELDS,
            series_tag="serial",
            interval=1.0,
            days=1,
        )
        fill.seen(live(BASE, 100))
        with capture_logs() as logs:
            # it ends when told to (the bug asks it), not because of the bug
            await asyncio.wait_for(fill.run(lambda reading, done: None, stop), timeout=5)
        return logs, log.asked

    logs, asked = asyncio.run(main())
    said = [entry for entry in logs if str(entry["event"]).startswith("backfill failed")]
    assert asked == 1
    assert [entry["event"] for entry in said] == ["backfill failed: a bug in the collector"]
    assert said[0]["error"] == "KeyError: 'a bug'"
    assert said[0]["retry_in_s"] == 60
    assert isinstance(said[0]["exc_info"], KeyError)
