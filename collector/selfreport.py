"""The collector's own figures as a measurement (`collector` by default), once a minute.

One point per source instance (tags `source`, `kind` and, for instances of several devices,
`device`) with what happened in the period: readings collected, polls failed and unchanged, the
mean time a poll took, whether the instance still runs; and one point for the queue and the
writer, without tags: readings pending and rejected on disk, readings delivered and rejected in
the period. Counts are per period, not since the start, so that a restart does not bend a graph.

These points go through the same queue as the readings: what the dashboard shows of an outage
of InfluxDB arrives once it is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from collector.reading import FieldSpec, FieldValue, Reading, catalogue
from collector.sources import InstanceStatus

FIELDS = catalogue(
    [
        FieldSpec("readings", int, "", "readings collected in the period"),
        FieldSpec("failed_polls", int, "", "polls that failed in the period"),
        FieldSpec("unchanged_polls", int, "", "polls answered with nothing new in the period"),
        FieldSpec("poll_ms", float, "ms", "mean time of the period's polls, failed ones too"),
        FieldSpec("running", bool, "", "false once the instance stopped for good"),
        FieldSpec("last_reading_age", int, "s", "seconds since the instance's last reading"),
        FieldSpec("queue_pending", int, "", "readings waiting in the queue for InfluxDB"),
        FieldSpec("queue_rejected", int, "", "readings InfluxDB refused, kept in the queue"),
        FieldSpec("delivered", int, "", "readings written to InfluxDB in the period"),
        FieldSpec("rejected", int, "", "readings InfluxDB refused in the period"),
        FieldSpec("uptime", int, "s", "seconds since the collector started"),
    ]
)


class Counted(Protocol):
    """What the report reads of the writer."""

    delivered: int
    rejected: int


@dataclass(frozen=True)
class Source:
    """A running instance as the report sees it."""

    name: str
    kind: str
    device: str
    status: InstanceStatus


class SelfReport:
    """Turns the running figures into the period's points; `points` is called once a period."""

    def __init__(self, measurement: str, sources: Iterable[Source], started: float) -> None:
        self.measurement = measurement
        self.sources = list(sources)
        self.started = started
        self._before: dict[str, tuple[int, int, int, int, float]] = {
            source.name + "\0" + source.device: _counts(source.status) for source in self.sources
        }
        self._writer_before = (0, 0)

    def points(
        self, writer: Counted, pending: int, rejected_on_disk: int, now: float | None = None
    ) -> list[Reading]:
        now = time.time() if now is None else now
        moment = datetime.fromtimestamp(int(now), UTC)
        result = []
        for source in self.sources:
            key = source.name + "\0" + source.device
            counts = _counts(source.status)
            readings, failed, unchanged, polls, poll_seconds = (
                a - b for a, b in zip(counts, self._before[key], strict=True)
            )
            self._before[key] = counts
            fields: dict[str, FieldValue] = {
                "readings": int(readings),
                "failed_polls": int(failed),
                "unchanged_polls": int(unchanged),
                "running": source.status.stopped is None,
            }
            if polls:
                fields["poll_ms"] = round(poll_seconds / polls * 1000, 1)
            if source.status.last_reading_at is not None:
                fields["last_reading_age"] = max(0, round(now - source.status.last_reading_at))
            tags = {"source": source.name, "kind": source.kind}
            if source.device:
                tags["device"] = source.device
            result.append(Reading(moment, self.measurement, fields, tags))
        delivered, rejected = writer.delivered, writer.rejected
        before_delivered, before_rejected = self._writer_before
        self._writer_before = (delivered, rejected)
        queue: dict[str, FieldValue] = {
            "queue_pending": pending,
            "queue_rejected": rejected_on_disk,
            "delivered": delivered - before_delivered,
            "rejected": rejected - before_rejected,
            "uptime": max(0, round(now - self.started)),
        }
        result.append(Reading(moment, self.measurement, queue))
        return result


def _counts(status: InstanceStatus) -> tuple[int, int, int, int, float]:
    return (
        status.readings,
        status.failed_polls,
        status.unchanged,
        status.polls,
        status.poll_seconds,
    )
