"""Writer edge cases a real server does not produce cheaply (respx): 429 with Retry-After, 5xx,
a 400 batch, one bad point among many; and the schedule maths."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx

from collector.config import InfluxSettings
from collector.loop import backoff_delay, next_slot
from collector.queue import DurableQueue, QueueStore, open_existing
from collector.reading import Reading
from collector.sinks.influx import InfluxV1Sink
from collector.sinks.writer import Writer


def _reading(second: int) -> Reading:
    return Reading(
        datetime.fromtimestamp(1_700_000_000 + second, UTC), "SENEC", {"house_power": 400 + second}
    )


SETTINGS = InfluxSettings(api="v1", url="http://influx.test:8086", bucket="solar")
WRITE_URL = "http://influx.test:8086/write"


async def _queue_with(path: Path, readings: int) -> DurableQueue:
    queue = DurableQueue(QueueStore(path / "queue.sqlite3"))
    assert await queue.open()
    for index in range(readings):
        assert await queue.append(_reading(index))
    return queue


async def _drain(queue: DurableQueue, grace: float = 10.0) -> tuple[Writer, float]:
    writer = Writer(InfluxV1Sink(SETTINGS), queue)
    started = time.monotonic()
    writer.begin_shutdown(grace)  # deliver what is queued (within the grace), then return
    await writer.run()
    return writer, time.monotonic() - started


async def _run_writer(
    tmp_path: Path, route_responses: list[httpx.Response], readings: int
) -> tuple[Writer, float, QueueStore]:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(WRITE_URL).mock(side_effect=route_responses)
        queue = await _queue_with(tmp_path, readings)
        writer, elapsed = await _drain(queue)
        assert route.call_count == len(route_responses)
        first = route.calls[0].request
        assert first.url.params["db"] == "solar"
        assert first.url.params["precision"] == "s"
        assert first.content.decode().splitlines() == [
            f"SENEC house_power={400 + i}i {1_700_000_000 + i}" for i in range(readings)
        ]
        await queue.close()
    return writer, elapsed, queue.store


def test_429_waits_as_long_as_retry_after_says(tmp_path: Path) -> None:
    writer, elapsed, store = asyncio.run(
        _run_writer(
            tmp_path,
            [
                httpx.Response(429, headers={"Retry-After": "1.5"}, json={"error": "slow down"}),
                httpx.Response(204),
            ],
            readings=3,
        )
    )
    assert writer.delivered == 3
    assert store.pending == 0
    assert elapsed >= 1.5  # not the 1 s first back-off step: Retry-After won


def test_server_errors_are_retried_and_bad_points_are_moved_aside(tmp_path: Path) -> None:
    writer, _, store = asyncio.run(
        _run_writer(
            tmp_path,
            [
                httpx.Response(503),
                httpx.Response(400, json={"error": "unable to parse 'x': bad timestamp"}),
                httpx.Response(204),
                httpx.Response(400, json={"error": "bad timestamp"}),
            ],
            readings=2,
        )
    )
    # 503 → retried; 400 for the batch → halves: the first point is taken, the second not.
    assert writer.delivered == 1
    assert writer.rejected == 1
    reopened = open_existing(store.path)
    stats = reopened.stats()
    reopened.close()
    assert (stats.pending, stats.rejected) == (0, 1)
    assert stats.rejected_groups[0].status == 400
    assert "bad timestamp" in stats.rejected_groups[0].reason
    assert stats.rejected_groups[0].first_time == 1_700_000_001


def test_one_bad_point_in_a_big_batch_costs_a_few_requests(tmp_path: Path) -> None:
    bad = 1_700_000_000 + 777

    def answer(request: httpx.Request) -> httpx.Response:
        if f" {bad}".encode() in request.content:
            return httpx.Response(400, json={"error": "partial write: field type conflict"})
        return httpx.Response(204)

    async def scenario() -> tuple[Writer, int, QueueStore]:
        with respx.mock() as mock:
            route = mock.post(WRITE_URL).mock(side_effect=answer)
            queue = await _queue_with(tmp_path, 1000)
            writer, _ = await _drain(queue)
            await queue.close()
            return writer, route.call_count, queue.store

    writer, requests, store = asyncio.run(scenario())
    assert writer.delivered == 999
    assert writer.rejected == 1
    assert requests <= 2 * 10 + 1  # halving: about 2 x log2(1000), not 1000 single writes
    reopened = open_existing(store.path)
    assert reopened.stats().rejected_groups[0].first_time == bad
    reopened.close()


def test_shutdown_during_an_outage_leaves_the_readings_on_disk(tmp_path: Path) -> None:
    async def scenario() -> tuple[Writer, float]:
        with respx.mock() as mock:
            mock.post(WRITE_URL).mock(return_value=httpx.Response(503))
            queue = await _queue_with(tmp_path, 5)
            writer, elapsed = await _drain(queue, grace=0.5)
            await queue.close()
            return writer, elapsed

    writer, elapsed = asyncio.run(scenario())
    assert writer.delivered == 0
    assert elapsed < 5  # the grace ended the retries
    reopened = open_existing(tmp_path / "queue.sqlite3")
    assert reopened.stats().pending == 5
    reopened.close()


@pytest.mark.parametrize(
    ("start", "interval", "now", "expected"),
    [
        (0.0, 5.0, 0.2, 5.0),
        (0.0, 5.0, 5.0, 10.0),
        (0.0, 5.0, 12.3, 15.0),
        (10.0, 1.0, 10.999, 11.0),
    ],
)
def test_slots_are_start_to_start_and_missed_ones_are_skipped(
    start: float, interval: float, now: float, expected: float
) -> None:
    assert next_slot(start, interval, now) == expected


def test_backoff_grows_to_a_ceiling() -> None:
    gaps = [backoff_delay(5.0, failures, 60.0) for failures in range(1, 8)]
    assert gaps == [5.0, 5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
