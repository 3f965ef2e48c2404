"""Sinks write line protocol to a database. The writer (writer.py) drives them."""

from __future__ import annotations

from typing import Protocol

from collector.config import InfluxSettings


class Sink(Protocol):
    async def write(self, lines: list[str]) -> None:
        """Write these points; raise SinkError when the database did not take them."""
        ...

    async def aclose(self) -> None: ...

    def describe(self) -> str:
        """Where the points go, for the start banner (no secrets)."""
        ...


def make_sink(settings: InfluxSettings) -> Sink:
    if settings.api == "v1":
        from collector.sinks.influx_v1 import InfluxV1Sink

        return InfluxV1Sink(settings)
    from collector.sinks.influx_v2 import InfluxV2Sink

    return InfluxV2Sink(settings)


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


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (only the delta-seconds form; dates are rare for databases)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
