"""Readings as InfluxDB line protocol, written by influxdb-client's Point (one code for v1 and v2)."""

from __future__ import annotations

from influxdb_client import Point, WritePrecision

from collector.reading import Reading


def to_line(reading: Reading) -> str:
    point = Point(reading.measurement)
    for key, value in sorted(reading.tags.items()):
        point.tag(key, value)
    for name, value in reading.fields.items():
        point.field(name, value)
    point.time(reading.timestamp, WritePrecision.S)
    line: str = point.to_line_protocol()
    return line
