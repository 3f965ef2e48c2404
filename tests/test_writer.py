"""Writer edge cases a real server does not produce cheaply (respx): 429 with Retry-After, 5xx."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest
import respx

from collector.config import InfluxSettings
from collector.loop import backoff_delay, next_slot
from collector.reading import Reading
from collector.sinks.influx_v1 import InfluxV1Sink
from collector.sinks.writer import Writer


def _reading(second: int) -> Reading:
    return Reading(
        datetime.fromtimestamp(1_700_000_000 + second, UTC), "SENEC", {"house_power": 400 + second}
    )


async def _run_writer(route_responses: list[httpx.Response], readings: int) -> tuple[Writer, float]:
    settings = InfluxSettings(api="v1", url="http://influx.test:8086", bucket="solar")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("http://influx.test:8086/write").mock(side_effect=route_responses)
        buffer: asyncio.Queue[Reading] = asyncio.Queue()
        for index in range(readings):
            buffer.put_nowait(_reading(index))
        writer = Writer(InfluxV1Sink(settings), buffer)
        started = time.monotonic()
        writer.begin_shutdown(10)  # drain what is buffered (within 10 s), then return
        await writer.run()
        elapsed = time.monotonic() - started
        assert route.call_count == len(route_responses)
        first = route.calls[0].request
        assert first.url.params["db"] == "solar"
        assert first.url.params["precision"] == "s"
        assert first.content.decode().splitlines() == [
            f"SENEC house_power={400 + i}i {1_700_000_000 + i}" for i in range(readings)
        ]
    return writer, elapsed


def test_429_waits_as_long_as_retry_after_says() -> None:
    writer, elapsed = asyncio.run(
        _run_writer(
            [
                httpx.Response(429, headers={"Retry-After": "1.5"}, json={"error": "slow down"}),
                httpx.Response(204),
            ],
            readings=3,
        )
    )
    assert writer.delivered == 3
    assert elapsed >= 1.5  # not the 1 s first back-off step: Retry-After won


def test_server_errors_are_retried_and_bad_points_are_not() -> None:
    writer, _ = asyncio.run(
        _run_writer(
            [
                httpx.Response(503),
                httpx.Response(400, json={"error": "unable to parse 'x': bad timestamp"}),
                httpx.Response(204),
                httpx.Response(400, json={"error": "bad timestamp"}),
            ],
            readings=2,
        )
    )
    # 503 → retried; 400 for the batch → one by one: the first point is taken, the second not.
    assert writer.delivered == 1
    assert writer.rejected == 1


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
