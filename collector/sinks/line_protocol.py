"""Readings as InfluxDB line protocol, made by influxdb-client's Point (for v1 and v2 alike)."""

from __future__ import annotations

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from collector.reading import Reading


def to_line(reading: Reading) -> str:
    point = Point(reading.measurement)
    for key, tag in sorted(reading.tags.items()):
        point.tag(key, tag)
    for name, value in reading.fields.items():
        point.field(name, value)
    point.time(reading.timestamp, WritePrecision.S)
    line: str = point.to_line_protocol()
    return line
