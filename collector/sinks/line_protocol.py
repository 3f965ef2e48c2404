"""Readings as InfluxDB line protocol (for the v1 and v2 write APIs alike).

`measurement,tag=value,... field=value,... seconds`: tags and fields sorted by key; commas,
spaces, `=` and line breaks escaped in names and tag values; a tag value that ends in a
backslash gets a space so that the backslash does not escape the separator; string fields
quoted with `"` and `\\` escaped; integers with the `i` suffix; floats as Python writes them,
without a trailing `.0` (InfluxDB reads `5` without `i` as a float; a Reading holds no NaN or
infinity). A reading without fields is no line (""). This is the text influxdb-client's Point
made, which the queue files of earlier versions hold: tests/test_line_protocol.py compares.
"""

from __future__ import annotations

from collector.reading import FieldValue, Reading

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_STRING = str.maketrans({'"': r"\"", "\\": "\\\\"})


def _value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return '"' + value.translate(_STRING) + '"'


def to_line(reading: Reading) -> str:
    fields = [
        f"{name.translate(_KEY)}={_value(value)}" for name, value in sorted(reading.fields.items())
    ]
    if not fields:
        return ""
    head = reading.measurement.translate(_MEASUREMENT)
    tags = []
    for key, tag in sorted(reading.tags.items()):
        escaped = tag.translate(_KEY)
        if escaped.endswith("\\"):
            escaped += " "
        name = key.translate(_KEY)
        if name and escaped:
            tags.append(f"{name}={escaped}")
    if tags:
        head += "," + ",".join(tags)
    return f"{head} {','.join(fields)} {reading.timestamp}"
