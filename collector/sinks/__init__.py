"""Sinks write line protocol to a database. The writer (writer.py) drives them."""

from __future__ import annotations

from typing import Protocol

from collector import http
from collector.config import InfluxSettings
from collector.errors import SinkError


class Sink(Protocol):
    async def write(self, lines: list[str]) -> None:
        """Write these points; raise SinkError when the database did not take them."""
        ...

    async def aclose(self) -> None: ...

    def describe(self) -> str:
        """Where the points go, for the start banner (no secrets)."""
        ...


def make_sink(settings: InfluxSettings) -> Sink:
    from collector.sinks.influx import InfluxV1Sink, InfluxV2Sink

    return InfluxV1Sink(settings) if settings.api == "v1" else InfluxV2Sink(settings)


def reason_from_body(body: bytes | str | None) -> str:
    """InfluxDB's own words from an error body ({"message": ...}, {"error": ...} or text)."""
    import json

    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[:500]
    if isinstance(document, dict):
        for key in ("message", "error"):
            if isinstance(document.get(key), str):
                return str(document[key])[:500]
    return text.strip()[:500]


def error_for_status(
    status: int,
    reason: str,
    retry_after: str | None,
    target: str,
    server_version: str | None = None,
) -> SinkError:
    """One place that decides what an InfluxDB HTTP status means for the points."""
    if status in (401, 403):
        return SinkError(
            f"InfluxDB refused the credentials (HTTP {status}{': ' + reason if reason else ''}): "
            f"check that INFLUX_TOKEN may write to {target}",
            status=status,
        )
    if status in (400, 422):
        return SinkError(
            f"InfluxDB rejected the points (HTTP {status}): {reason}",
            status=status,
            retryable=False,
        )
    if status == 404 and _before_1_8(server_version):
        return SinkError(
            f"this is InfluxDB {server_version}, a 1.x before 1.8, which has no v2 write API: "
            "set INFLUX_API=v1 (and INFLUX_BUCKET to the database)",
            status=status,
        )
    if status == 404:
        return SinkError(
            f"InfluxDB has no {target} (HTTP 404{': ' + reason if reason else ''})", status=status
        )
    if status == 413:
        return SinkError(
            f"InfluxDB says the request is too large (HTTP 413): {reason}",
            status=status,
            retryable=False,
        )
    return SinkError(
        f"InfluxDB answered HTTP {status}{': ' + reason if reason else ''}",
        status=status,
        retry_after=http.retry_after(retry_after),
    )


def _before_1_8(version: str | None) -> bool:
    """Whether an `X-Influxdb-Version` header names a 1.x before 1.8 (1.6.7, v1.7.10, ...)."""
    if not version:
        return False
    parts = version.lstrip("v").split(".")
    try:
        return int(parts[0]) == 1 and int(parts[1]) < 8
    except (IndexError, ValueError):
        return False
