"""Our line protocol is byte for byte what influxdb-client's Point made of the same reading.

The collector wrote lines with influxdb-client until 2026-12; queue files of those versions hold
such lines, and the databases hold the series they named. influxdb-client stays a test
dependency as the reference: any measurement, tag or field name, any tag and string value
(commas, spaces, `=`, quotes, backslashes, line breaks, other scripts), ints, floats of every
size, booleans.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from collector.reading import FieldValue, Reading
from collector.sinks.line_protocol import to_line

NAMES = st.text(
    st.characters(codec="utf-8") | st.sampled_from(list(',= \\"\n\t\r')),
    min_size=1,
    max_size=12,
)
VALUES: st.SearchStrategy[FieldValue] = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    NAMES,
    st.just(""),
)


def reference(reading: Reading) -> str:
    point = Point(reading.measurement)
    for key, tag in sorted(reading.tags.items()):
        point.tag(key, tag)
    for name, value in reading.fields.items():
        point.field(name, value)
    point.time(reading.timestamp, WritePrecision.S)
    line: str = point.to_line_protocol()
    return line


@settings(max_examples=400, deadline=None)
@given(
    measurement=NAMES.filter(lambda name: not name.startswith("#")),
    tags=st.dictionaries(NAMES, NAMES | st.just(""), max_size=4),
    fields=st.dictionaries(NAMES, VALUES, max_size=6),
    seconds=st.integers(min_value=0, max_value=2**32),
)
def test_same_line_as_influxdb_client(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], seconds: int
) -> None:
    reading = Reading(datetime.fromtimestamp(seconds, UTC), measurement, fields, tags)
    assert to_line(reading) == reference(reading)


def test_a_reading_of_the_house() -> None:
    reading = Reading(
        datetime(2026, 12, 7, 12, 0, 5, tzinfo=UTC),
        "SMA",
        {"ac_power": 2500.0, "energy_total": 10123457, "current_state_ok": True, "state": 'a "b"'},
        {"serial": "3010538001", "site": "roof west"},
    )
    line = to_line(reading)
    assert line == (
        "SMA,serial=3010538001,site=roof\\ west "
        'ac_power=2500,current_state_ok=true,energy_total=10123457i,state="a \\"b\\"" 1796644805'
    )
    assert line == reference(reading)
