"""WebConnect's replies to fields, on the six recorded devices (sma.md §7).

Each device's expected fields are written out in `webconnect_expected.py` from its recording
(getAllOnlValues), with the Speedwire kind's scaling: V / 100, A / 1000, Hz / 100, battery °C /
10, W and Wh raw.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.reading import apply_negative, check_fields
from collector.sources.senec.fields import FIELDS as SENEC_FIELDS
from collector.sources.sma.fields import FIELDS as SPEEDWIRE_FIELDS
from collector.sources.sma_em.fields import FIELDS as METER_FIELDS
from collector.sources.sma_webconnect.codec import (
    ErrorAnswer,
    ReplyError,
    entries_of,
    fields_from,
    log_records,
    lri_of,
    values_of,
)
from tests.conftest import recording
from tests.webconnect_expected import EXPECTED

CATALOGUE = {**SPEEDWIRE_FIELDS, **METER_FIELDS, **SENEC_FIELDS}


@pytest.mark.parametrize("device", sorted(EXPECTED))
def test_every_recorded_device_maps_to_its_fields(device: str) -> None:
    reply = recording(f"sma-webconnect-{device}-getAllOnlValues.json")
    # as written: a negative AC power (a standby draw) is 0 by the catalogue's rule (the core's)
    fields, _ = apply_negative(fields_from(entries_of(reply)), CATALOGUE)
    wanted = EXPECTED[device]
    assert {name: fields.get(name) for name in wanted} == wanted
    # nothing else is made up: what is not expected is a value the recording has and we map
    # (device temperature and the like), each in a catalogue with its type
    check_fields(fields, CATALOGUE)
    assert set(fields) - set(wanted) <= {"device_temperature"}, set(fields) - set(wanted)


def test_null_is_a_missing_field_except_the_pv_side() -> None:
    # issue 19.7: only AC power and the strings' power are 0 at night; a battery, a meter, a
    # phase, a voltage that reads null is no reading (before, the strings were left out too)
    reply = recording("sma-webconnect-sb3.6-getAllOnlValues.json")
    entries = entries_of(reply)
    night = {key: {"1": [{"val": None} for _ in values_of(e)]} for key, e in entries.items()}
    fields = fields_from(night)
    assert fields == {"ac_power": 0, "mpp1_power": 0, "mpp2_power": 0, "dc_power": 0}


@pytest.mark.parametrize(
    ("raw_ma", "plus", "minus", "expected"),
    [(-4773, 2048, 0, 4.773), (4773, 2048, 0, 4.773), (-900, 0, 400, -0.9), (900, 0, 400, -0.9)],
)
def test_the_battery_current_takes_its_sign_from_the_direction_of_the_power(
    raw_ma: int, plus: int, minus: int, expected: float
) -> None:
    """SMA's sign of the battery current depends on the model; ours is + while charging."""
    fields = fields_from(
        {
            "6100_40495D00": {"9": [{"val": raw_ma}]},
            "6100_00496900": {"9": [{"val": plus}]},
            "6100_00496A00": {"9": [{"val": minus}]},
        }
    )
    assert fields["bat_charge_current"] == expected


def test_the_three_shapes_of_an_entry() -> None:
    assert values_of({"val": 46}) == [46]
    assert values_of([{"str": 2, "val": 5}, {"str": 1, "val": 7}]) == [7, 5]
    assert values_of({"9": [{"val": 1}, {"val": None}]}) == [1, None]
    assert values_of("nonsense") == []
    assert lri_of("6380_40251E00") == 0x00251E00


def test_error_answers_and_malformed_replies_say_what_they_are() -> None:
    with pytest.raises(ErrorAnswer) as raised:
        entries_of({"err": 401})
    assert raised.value.code == 401
    with pytest.raises(ReplyError, match="no result in the answer"):
        entries_of({"result": {}})
    with pytest.raises(ReplyError, match="values of 2 devices"):
        entries_of({"result": {"a": {}, "b": {}}})
    with pytest.raises(ReplyError, match="not an object"):
        entries_of({"result": {"a": [1]}})


VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.lists(st.fixed_dictionaries({"tag": st.integers() | st.none()}), max_size=2),
)
ENTRIES = st.one_of(
    st.fixed_dictionaries({"val": VALUES}),
    st.dictionaries(
        st.sampled_from(["1", "9"]),
        st.lists(st.fixed_dictionaries({"val": VALUES}), max_size=8),
        max_size=2,
    ),
    st.lists(st.fixed_dictionaries({"str": st.integers(0, 9), "val": VALUES}), max_size=8),
    VALUES,
)


@given(ENTRIES)
def test_any_entry_gives_fields_of_the_catalogue_or_none(entry: Any) -> None:
    """Whatever a device sends in an entry: fields of the right type, never NaN or infinity,
    never an exception."""
    for key in (
        "6100_40263F00",
        "6380_40251E00",
        "6180_08214800",
        "6400_00260100",
        "6100_40495D00",
        "6100_00295A00",
    ):
        fields = fields_from({key: entry})
        check_fields(fields, CATALOGUE)
        for value in fields.values():
            assert not isinstance(value, float) or math.isfinite(value)
            assert not isinstance(value, int) or -(2**63) <= value < 2**63  # InfluxDB's integers


# --- getLogger.json ---------------------------------------------------------------------------

# A Sunny Boy 3.6's 5-minute yield log, as another project documents its answer (the device
# uid as in our recordings): every 5 minutes on the Unix grid, the total yield in Wh, flat at
# night. Not a recording of ours: the shape rests on that documentation and sma.md §7.
SB36_LOG = {
    "result": {
        "0199-xxxxx385": [
            {"t": 1584316800, "v": 3356183},
            {"t": 1584317100, "v": 3356183},
            {"t": 1584345600, "v": 3356316},
            {"t": 1584345900, "v": 3356330},
            {"t": 1584403200, "v": 3370444},
        ]
    }
}


def test_a_yield_log_answer_gives_time_and_total() -> None:
    assert log_records(SB36_LOG) == [
        (1584316800, 3356183),
        (1584317100, 3356183),
        (1584345600, 3356316),
        (1584345900, 3356330),
        (1584403200, 3370444),
    ]


def test_a_yield_log_record_without_a_value_is_left_out_and_an_empty_log_is_no_error() -> None:
    reply = {"result": {"0199-xxxxx385": [{"t": 1584316800, "v": None}, {"t": 1584317100, "v": 7}]}}
    assert log_records(reply) == [(1584317100, 7)]
    assert log_records({"result": {"0199-xxxxx385": []}}) == []
    assert log_records({"result": {"0199-xxxxx385": None}}) == []
    assert log_records({"result": {}}) == []


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"err": 401}, ErrorAnswer),
        ({"no": "result"}, ReplyError),
        ({"result": {"a": [], "b": []}}, ReplyError),
        ({"result": {"a": {"t": 1, "v": 2}}}, ReplyError),
        ({"result": {"a": [{"v": 2}]}}, ReplyError),
        ({"result": {"a": [{"t": "1584316800", "v": 2}]}}, ReplyError),
        ({"result": {"a": [{"t": 1584316800, "v": 2.5}]}}, ReplyError),
        ({"result": {"a": [{"t": 1584316800, "v": -1}]}}, ReplyError),
        ([1, 2], ReplyError),
    ],
)
def test_a_yield_log_answer_that_is_no_log_is_a_clear_error(reply: Any, error: type) -> None:
    with pytest.raises(error):
        log_records(reply)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["t", "v", "result", "err", "x"]), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON)
def test_any_json_is_a_log_or_a_codec_error(reply: Any) -> None:
    try:
        records = log_records(reply)
    except (ErrorAnswer, ReplyError):
        return
    assert all(type(t) is int and type(v) is int and v >= 0 for t, v in records)
