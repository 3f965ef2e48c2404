"""From recorded lala.cgi answers to fields: the values listed in the reference, exactly."""

from __future__ import annotations

import copy
import json
import math
import struct
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.errors import ProtocolError
from collector.reading import Reading
from collector.sinks.line_protocol import to_line
from collector.sources.senec.codec import decode_response
from collector.sources.senec.fields import FIELDS
from collector.sources.senec.normalise import (
    MAPPING,
    compute_fields,
    decode_answer,
    device_time,
    request_sections,
    wanted_keys,
)
from collector.sources.senec.shape import KeyPlan, decode_body
from collector.sources.senec.states import StateNames
from collector.values import round1, round_int
from tests.conftest import RECORDINGS, recording

ALL = list(MAPPING)


def fields_of(
    answer: dict[str, Any], language: str = "de"
) -> tuple[dict[str, Any], dict[str, str]]:
    values = decode_answer(answer, wanted_keys(ALL))
    fields = compute_fields(values, ALL, StateNames(language))  # type: ignore[arg-type]
    return fields, values.problems


# The decoded reference samples (senec-collector-anchor.md §2.5 and influx-v2-write-example.txt).
REFERENCE: dict[str, dict[str, Any]] = {
    "2025-07-24": dict(
        current_state_code=56,
        current_state="PEAK-SHAVING: WARTEN",
        current_state_ok=True,
        bat_charge_current=1.6,
        bat_fuel_charge=82.8,
        bat_power_plus=92,
        bat_power_minus=0,
        bat_voltage=55.5,
        grid_power_minus=775,
        grid_power_plus=0,
        house_power=360,
        inverter_power=1226,
        mpp1_power=602,
        mpp2_power=0,
        mpp3_power=624,
        case_temp=31.5,
        measure_time=1753345766,
        ev_connected=True,
        wallbox_charge_power=0,
        application_version="0826",
        power_ratio=100.0,
    ),
    "2024-08-23": dict(
        current_state_code=56,
        bat_charge_current=9.8,
        bat_fuel_charge=65.7,
        bat_power_plus=530,
        bat_voltage=53.9,
        grid_power_minus=6400,
        house_power=729,
        inverter_power=7659,
        mpp1_power=3830,
        mpp2_power=0,
        mpp3_power=3829,
        case_temp=34.5,
        measure_time=1724407879,
    ),
    "2024-01-22": dict(
        current_state_code=14,
        current_state="LADEN",
        bat_charge_current=22.9,
        bat_fuel_charge=0.0,
        bat_power_plus=1078,
        bat_voltage=47.0,
        grid_power_minus=930,
        house_power=1176,
        inverter_power=3184,
        mpp1_power=1598,
        mpp3_power=1586,
        case_temp=33.8,
        measure_time=1705915873,
    ),
}


@pytest.mark.parametrize("date", sorted(REFERENCE))
def test_recordings_give_the_reference_values(date: str) -> None:
    fields, problems = fields_of(recording(f"senec-local-{date}.response.json"))
    for name, expected in REFERENCE[date].items():
        assert fields[name] == expected, name
        assert type(fields[name]) is type(expected), name
    if date == "2024-01-22":  # recorded before EV_CONNECTED was asked for
        assert problems == {"WALLBOX.EV_CONNECTED": "missing from the answer"}
        assert "ev_connected" not in fields
    else:
        assert problems == {}


def _parse_line(line: str) -> tuple[str, dict[str, str], int]:
    measurement, rest = line.split(" ", 1)
    body, stamp = rest.rsplit(" ", 1)
    fields: dict[str, str] = {}
    for part in _split_fields(body):
        key, value = part.split("=", 1)
        fields[key] = value
    return measurement, fields, int(stamp)


def _split_fields(body: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in body:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _typed(value: str) -> object:
    if value.endswith("i"):
        return ("int", int(value[:-1]))
    if value in ("true", "false"):
        return ("bool", value == "true")
    if value.startswith('"'):
        return ("str", value[1:-1])
    return ("float", float(value))


def test_line_protocol_matches_the_recorded_influxdb_write() -> None:
    """2024-11-02: our line carries the same fields, values and types as the recorded write."""
    text = (RECORDINGS / "influx-v2-write-example.txt").read_text(encoding="utf-8")
    recorded_line = text.split("=== BODY\n", 1)[1].split("\n", 1)[0]
    _, recorded, recorded_time = _parse_line(recorded_line)

    fields, problems = fields_of(recording("senec-local-2024-11-02.response.json"))
    assert problems == {}
    fields["response_duration"] = 0  # the recording's round trip
    reading = Reading(
        datetime.fromtimestamp(fields["measure_time"], UTC), "my-pv-measurement", fields
    )
    measurement, ours, our_time = _parse_line(to_line(reading))
    assert measurement == "my-pv-measurement"
    assert our_time == recorded_time == 1730550927
    assert {k: _typed(v) for k, v in ours.items()} == {k: _typed(v) for k, v in recorded.items()}


def test_every_field_has_the_catalogue_type() -> None:
    fields, _ = fields_of(recording("senec-local-2025-07-24.response.json"))
    fields["response_duration"] = 12
    assert set(fields) == set(MAPPING) == set(FIELDS)
    for name, value in fields.items():
        assert type(value) is FIELDS[name].type, name


def _with(answer: dict[str, Any], key: str, value: object) -> dict[str, Any]:
    changed = copy.deepcopy(answer)
    section, _, name = key.partition(".")
    changed[section][name] = value
    return changed


BASE = recording("senec-local-2025-07-24.response.json")


@pytest.mark.parametrize(
    ("key", "value", "lost", "problem"),
    [
        (
            "ENERGY.GUI_GRID_POW",
            "VARIABLE_NOT_FOUND",
            {"grid_power_plus", "grid_power_minus"},
            "VARIABLE_NOT_FOUND",
        ),
        ("ENERGY.GUI_HOUSE_POW", "MALFORMED_VALUE", {"house_power"}, "MALFORMED_VALUE"),
        (
            "ENERGY.GUI_BAT_DATA_POWER",
            "FORBIDDEN",
            {"bat_power_plus", "bat_power_minus"},
            "FORBIDDEN",
        ),
        (
            "ENERGY.STAT_STATE",
            "zz_01",
            {"current_state", "current_state_code", "current_state_ok"},
            "unknown type prefix",
        ),
        ("ENERGY.GUI_INVERTER_POWER", "fl_7FC00000", {"inverter_power"}, "not a finite number"),
        ("TEMPMEASURE.CASE_TEMP", "fl_7F800000", {"case_temp"}, "not a finite number"),
        (
            "PV1.MPP_POWER",
            ["fl_441690A4", "er_02", "fl_441BFC5B"],
            {"mpp1_power", "mpp2_power", "mpp3_power"},
            "device error",
        ),
        ("PV1.MPP_POWER", ["fl_441690A4"], {"mpp2_power", "mpp3_power"}, "got 1"),
        ("WALLBOX.EV_CONNECTED", "u8_01", {"ev_connected"}, "expected an array"),
        ("WIZARD.APPLICATION_VERSION", "u8_01", {"application_version"}, "expected text"),
        ("ENERGY.GUI_HOUSE_POW", "st_1234", {"house_power"}, "expected a number"),
        ("ENERGY.GUI_HOUSE_POW", 1234, {"house_power"}, "expected a string"),
    ],
)
def test_a_bad_value_costs_only_its_fields(
    key: str, value: object, lost: set[str], problem: str
) -> None:
    good, _ = fields_of(BASE)
    fields, problems = fields_of(_with(BASE, key, value))
    assert set(good) - set(fields) == lost
    assert problem in problems[key]
    for name in fields:  # nothing else changed
        assert fields[name] == good[name]


def test_a_missing_section_and_object_not_found() -> None:
    answer = copy.deepcopy(BASE)
    del answer["TEMPMEASURE"]
    answer["WALLBOX"] = {"OBJECT_NOT_FOUND": ""}
    fields, problems = fields_of(answer)
    assert "case_temp" not in fields
    assert "wallbox_charge_power" not in fields
    assert "ev_connected" not in fields
    assert problems["TEMPMEASURE.CASE_TEMP"] == "section missing from the answer"
    assert "OBJECT_NOT_FOUND" in problems["WALLBOX.APPARENT_CHARGING_POWER"]
    assert fields["house_power"] == 360


def test_negative_utc_offset_is_signed() -> None:
    """UTC_OFFSET -300 (New York winter): the device's local time is 5 h behind UTC."""
    answer = _with(BASE, "RTC.UTC_OFFSET", "i3_FFFFFED4")
    answer = _with(answer, "RTC.WEB_TIME", "u3_68820B06")
    values = decode_answer(answer, wanted_keys(ALL))
    moment = device_time(values)
    assert moment == datetime.fromtimestamp(1753352966 + 300 * 60, UTC)


def test_states_unknown_to_every_table_fall_back_to_the_number() -> None:
    fields, _ = fields_of(_with(BASE, "ENERGY.STAT_STATE", "u8_C8"))
    assert fields["current_state"] == "200"
    assert fields["current_state_code"] == 200
    assert fields["current_state_ok"] is False


def test_english_state_names() -> None:
    fields, _ = fields_of(BASE, language="en")
    assert fields["current_state"] == "PEAK SHAVING: WAIT"


def test_ignored_fields_are_not_requested() -> None:
    keep = [name for name in ALL if not name.startswith(("wallbox", "ev_", "mpp"))]
    sections = request_sections(wanted_keys(keep))
    assert "WALLBOX" not in sections
    assert "MPP_POWER" not in sections["PV1"]
    assert sections["RTC"] == ["WEB_TIME", "UTC_OFFSET"]


@pytest.mark.parametrize(
    ("value", "integer", "decimal"),
    [
        (0.5, 1, 0.5),
        (-0.5, -1, -0.5),
        (2.5, 3, 2.5),
        (0.25, 0, 0.3),
        (-0.05, 0, -0.1),
        (-0.04, 0, 0.0),
        (45.966, 46, 46.0),
        (-64.35, -64, -64.4),
    ],
)
def test_rounding_is_half_away_from_zero(value: float, integer: int, decimal: float) -> None:
    assert round_int(value) == integer
    assert round1(value) == decimal
    assert str(round1(-0.04)) == "0.0"


WIDE = Context(prec=400)


def _round_int_reference(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), ROUND_HALF_UP, WIDE))


def _round1_reference(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), ROUND_HALF_UP, WIDE)) + 0.0


FLOAT32 = st.binary(min_size=4, max_size=4).map(lambda b: struct.unpack(">f", b)[0])
DECIMALS = st.integers(-(10**7), 10**7).map(lambda n: n / 100) | st.integers(-(10**6), 10**6).map(
    lambda n: n / 20
)


@given(st.floats(allow_nan=False, allow_infinity=False, width=64) | FLOAT32 | DECIMALS)
def test_rounding_equals_rounding_the_decimal_form(value: float) -> None:
    if not math.isfinite(value):
        return
    assert round_int(value) == _round_int_reference(value)
    if abs(value) < 1e307:  # (ten times more is no float)
        result = round1(value)
        assert result == _round1_reference(value)
        assert math.copysign(1.0, result) == math.copysign(1.0, _round1_reference(value))


# --- the learnt shape: the fast path gives what the general path gives ---------------------

RECORDED = sorted(p.name for p in RECORDINGS.glob("senec-local-*.response.json"))
ALL_KEYS = wanted_keys(ALL)
Outcome = tuple[dict[str, Any], dict[str, Any], dict[str, str]]


def _outcome(values: Any) -> Outcome:
    fields = compute_fields(values, ALL, StateNames("de"))
    return fields, dict(values.numeric), dict(values.problems)


def _general(body: bytes) -> Outcome | str:
    """What the general path makes of a body: its outcome, or the ProtocolError's message."""
    try:
        answer = decode_response(body)
    except ProtocolError as exc:
        return str(exc)
    return _outcome(decode_answer(answer, ALL_KEYS))


def _planned(plan: KeyPlan, body: bytes) -> Outcome | str:
    try:
        return _outcome(decode_body(body, plan))
    except ProtocolError as exc:
        return str(exc)


def _learnt(body: bytes) -> KeyPlan:
    plan = KeyPlan(ALL_KEYS)
    decode_body(body, plan)
    assert plan.shape is not None
    return plan


LAYOUTS: dict[str, dict[str, Any]] = {
    "compact": {"separators": (",", ":")},
    "spaced": {},
    "indented": {"indent": 2},
    "tabs": {"indent": "\t", "separators": (" , ", " : ")},
}


def _body(answer: Any, layout: str = "compact") -> bytes:
    return json.dumps(answer, **LAYOUTS[layout]).encode()


@pytest.mark.parametrize("learnt_from", RECORDED)
@pytest.mark.parametrize("answer", RECORDED)
def test_a_plan_decodes_every_recording_as_the_general_path_does(
    learnt_from: str, answer: str
) -> None:
    plan = KeyPlan(ALL_KEYS)
    decode_body((RECORDINGS / learnt_from).read_bytes(), plan)  # learns if it had no problem
    later = (RECORDINGS / answer).read_bytes()
    assert _planned(plan, later) == _general(later)
    if answer == learnt_from and plan.shape is not None:
        assert plan.decode(later) is not None  # the fast path took it


def test_the_recordings_of_whole_answers_teach_a_shape() -> None:
    learnt = []
    for name in RECORDED:
        plan = KeyPlan(ALL_KEYS)
        decode_body((RECORDINGS / name).read_bytes(), plan)
        if plan.shape is not None:
            learnt.append(name)
    assert "senec-local-2024-11-02.response.json" in learnt
    assert "senec-local-2025-07-24.response.json" in learnt


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_fast_path_takes_any_whitespace(layout: str) -> None:
    """Learnt from the recording as the device writes it; the same answer in another layout
    is decoded by the learnt shape, and to the same outcome."""
    plan = _learnt((RECORDINGS / "senec-local-2024-11-02.response.json").read_bytes())
    body = _body(recording("senec-local-2024-11-02.response.json"), layout)
    assert plan.decode(body) is not None
    assert _planned(plan, body) == _general(body)


def test_the_fast_path_declines_what_it_cannot_vouch_for() -> None:
    base = recording("senec-local-2024-11-02.response.json")
    plan = _learnt(_body(base))
    declined = {
        "a sentinel": _with(base, "ENERGY.GUI_HOUSE_POW", "VARIABLE_NOT_FOUND"),
        "NaN": _with(base, "ENERGY.GUI_HOUSE_POW", "fl_7FC00000"),
        "short digits": _with(base, "ENERGY.STAT_STATE", "u8_F"),
        "another type": _with(base, "ENERGY.STAT_STATE", "u1_000F"),
        "a shorter array": _with(base, "PV1.MPP_POWER", ["fl_00000000", "fl_00000000"]),
        "an escaped text": _with(base, "WIZARD.APPLICATION_VERSION", 'st_08"26'),
    }
    for what, answer in declined.items():
        body = _body(answer)
        assert plan.decode(body) is None, what
        assert _planned(plan, body) == _general(body), what
    assert plan.decode(_body(base) + b"x") is None
    assert plan.decode(_body(base)) is not None


VALUES = st.one_of(
    st.sampled_from(
        [
            "fl_7FC00000",
            "fl_7F800000",
            "fl_FF800000",
            "fl_7F7FFFFF",
            "fl_5F000000",  # 2**63
            "fl_DF000000",  # -2**63
            "fl_42C8",
            "fl_42C8000G",
            "fl_42C8 000",
            "u8_0F",
            "u8_F",
            "u8_FFF",
            "u6_FFFFFFFFFFFFFFFF",
            "u6_7FFFFFFFFFFFFFFF",
            "i3_FFFFFF88",
            "i1_8000",
            "u3_-1",
            "u8_0x",
            "st_0826",
            "ch_x",
            "er_02",
            "VARIABLE_NOT_FOUND",
            "FILE_VARIABLE_NOT_READABLE_x",
            "",
            "fl_00000000",
        ]
    ),
    st.text(max_size=12),
    st.integers(),
    st.lists(st.sampled_from(["fl_00000000", "fl_42C80000", "u8_01", "fl_7FC00000"]), max_size=5),
)


@given(st.data())
def test_a_changed_answer_decodes_as_the_general_path_says(data: st.DataObject) -> None:
    """Whatever one variable turns into, the plan's answer equals the general path's."""
    base = recording("senec-local-2024-11-02.response.json")
    plan = _learnt(_body(base))
    changed = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(ALL_KEYS))
        section, _, name = key.partition(".")
        if data.draw(st.booleans()) or section not in changed:
            changed.setdefault(section, {})[name] = data.draw(VALUES)
        else:
            changed[section].pop(name, None)
    body = _body(changed, data.draw(st.sampled_from(list(LAYOUTS))))
    assert _planned(plan, body) == _general(body)


@given(st.data())
def test_a_garbled_body_decodes_as_the_general_path_says(data: st.DataObject) -> None:
    """Bytes changed, inserted or removed anywhere: the learnt shape either declines the body
    or decodes it exactly as parsing the JSON does; a body that is no JSON is refused alike."""
    body = bytearray((RECORDINGS / "senec-local-2024-11-02.response.json").read_bytes())
    plan = _learnt(bytes(body))
    alphabet = b' \t\n\r"\\,:{}[]_0123456789ABCDEFfl\x00\xc3\xff'
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        byte = data.draw(st.sampled_from(alphabet))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        if action == "replace":
            body[at] = byte
        elif action == "insert":
            body.insert(at, byte)
        else:
            del body[at]
    assert _planned(plan, bytes(body)) == _general(bytes(body))
