"""The lala.cgi value codec on real recordings and on generated values, both directions."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.errors import ProtocolError
from collector.sources.senec.codec import (
    INT_BITS,
    SIGNED,
    ErrorValue,
    Sentinel,
    ValueDecodeError,
    ValueType,
    decode,
    decode_request,
    decode_response,
    decode_value,
    encode,
    encode_request,
    encode_response,
    encode_value,
)
from tests.conftest import recording


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("u8_38", 56),
        ("u8_FF", 255),
        ("u1_FFFF", 65535),
        ("u3_68820B06", 1753352966),
        ("u6_FFFFFFFFFFFFFFFF", 2**64 - 1),
        ("i3_00000078", 120),
        ("i3_FFFFFF88", -120),
        ("i3_FFFFFF9C", -100),
        ("i1_FFFF", -1),
        ("i1_015E", 350),
        ("i8_FF", -1),
        ("i8_7F", 127),
        ("st_0826", "0826"),
        ("st_", ""),
        ("st_under_voltage_A", "under_voltage_A"),
        ("ch_abc_def", "abc_def"),
    ],
)
def test_decodes_integers_and_text(raw: str, expected: object) -> None:
    assert decode_value(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fl_42C80000", 100.0),
        ("fl_C441BC29", -774.94000244140625),
        ("fl_00000000", 0.0),
        ("fl_46106000", 9240.0),
    ],
)
def test_decodes_float32(raw: str, expected: float) -> None:
    assert decode_value(raw) == expected


def test_negative_zero_float_stays_a_float() -> None:
    value = decode_value("fl_80000000")
    assert isinstance(value, float)
    assert value == 0.0
    assert math.copysign(1, value) == -1


@pytest.mark.parametrize("word", [s.value for s in Sentinel])
def test_sentinels_are_not_numbers(word: str) -> None:
    value = decode_value(word)
    assert isinstance(value, Sentinel)
    assert value.value == word


def test_file_not_readable_with_suffix_is_a_sentinel() -> None:
    assert decode_value("FILE_VARIABLE_NOT_READABLE_x") is Sentinel.FILE_VARIABLE_NOT_READABLE


def test_device_error_is_its_own_type() -> None:
    assert decode_value("er_0005") == ErrorValue("0005")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("zz_12", "unknown type prefix"),
        ("12345", "no type prefix"),
        ("u8_XY", "hex digits"),
        ("u8_123", "at most 2"),
        ("i3_123456789", "at most 8"),
        ("fl_4248", "exactly 8"),
        ("u3_", "hex digits"),
        ("under_voltage", "unknown type prefix"),
    ],
)
def test_rejects_what_it_cannot_decode(raw: str, reason: str) -> None:
    with pytest.raises(ValueDecodeError, match=reason):
        decode_value(raw)


@pytest.mark.parametrize("raw", [12, None, {"a": "u8_01"}, ["u8_01", 5]])
def test_rejects_non_strings(raw: object) -> None:
    with pytest.raises(ValueDecodeError):
        decode(raw)


def test_arrays_decode_element_wise() -> None:
    assert decode(["u8_01", "u8_00", "VARIABLE_NOT_FOUND"]) == [1, 0, Sentinel.VARIABLE_NOT_FOUND]


def _all_values(document: object) -> list[str]:
    if isinstance(document, dict):
        return [v for item in document.values() for v in _all_values(item)]
    if isinstance(document, list):
        return [v for item in document for v in _all_values(item)]
    assert isinstance(document, str)
    return [document]


def test_every_recorded_value_decodes_and_reencodes_identically() -> None:
    """38 recorded answers 2021–2025: every value decodes; encoding it again gives the same text."""
    history = recording("senec-local-history.json")
    assert len(history) == 38
    count = 0
    for entry in history:
        for raw in _all_values(entry["response"]):
            value = decode_value(raw)
            assert not isinstance(value, Sentinel | ErrorValue), raw
            prefix = ValueType(raw.partition("_")[0])
            assert isinstance(value, int | float | str)
            prefix_text, _, payload = raw.partition("_")
            expected = (
                raw
                if prefix in (ValueType.ST, ValueType.CH)
                else f"{prefix_text}_{payload.upper()}"
            )
            assert encode_value(value, prefix) == expected, raw
            count += 1
    assert count > 700


# --- generated values, both directions ---------------------------------------------------

int_types = sorted(INT_BITS, key=str)


@st.composite
def typed_integers(draw: st.DrawFn) -> tuple[ValueType, int]:
    vtype = draw(st.sampled_from(int_types))
    bits = INT_BITS[vtype]
    if vtype in SIGNED:
        value = draw(st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
    else:
        value = draw(st.integers(0, (1 << bits) - 1))
    return vtype, value


@given(typed_integers())
def test_integers_round_trip(case: tuple[ValueType, int]) -> None:
    vtype, value = case
    raw = encode_value(value, vtype)
    assert raw.startswith(f"{vtype}_")
    assert len(raw) == 3 + INT_BITS[vtype] // 4
    assert decode_value(raw) == value


@given(st.floats(width=32, allow_nan=False))
def test_float32_round_trip(value: float) -> None:
    raw = encode_value(value, ValueType.FL)
    decoded = decode_value(raw)
    assert decoded == value
    assert math.copysign(1, decoded) == math.copysign(1, value)


@given(st.binary(min_size=4, max_size=4))
def test_any_float32_bit_pattern_decodes_to_the_same_bits(data: bytes) -> None:
    raw = "fl_" + data.hex().upper()
    value = decode_value(raw)
    assert isinstance(value, float)
    if math.isnan(value):
        return  # NaN payloads are not preserved by Python floats; the mapping rejects NaN anyway
    assert struct.pack(">f", value) == data
    assert encode_value(value, ValueType.FL) == raw


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40))
def test_text_round_trips_even_with_underscores(text: str) -> None:
    for vtype in (ValueType.ST, ValueType.CH):
        assert decode_value(encode_value(text, vtype)) == text


@given(st.text(max_size=20))
def test_decoding_arbitrary_text_never_crashes_differently(text: str) -> None:
    try:
        value = decode_value(text)
    except ValueDecodeError:
        return
    assert isinstance(value, int | float | str | Sentinel | ErrorValue)


def test_encoding_refuses_out_of_range_and_wrong_types() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_value(256, ValueType.U8)
    with pytest.raises(ValueError, match="does not fit"):
        encode_value(-129, ValueType.I8)
    with pytest.raises(TypeError):
        encode_value(1.5, ValueType.U3)
    with pytest.raises(TypeError):
        encode_value(True, ValueType.U8)
    with pytest.raises(TypeError):
        encode_value(3, ValueType.ST)
    assert encode([1.0, -2.5], ValueType.FL) == ["fl_3F800000", "fl_C0200000"]
    assert encode(Sentinel.FORBIDDEN) == "FORBIDDEN"


def test_requests_and_answers() -> None:
    body = encode_request({"ENERGY": ["STAT_STATE", "GUI_GRID_POW"], "RTC": ["WEB_TIME"]})
    assert decode_request(body) == {
        "ENERGY": {"STAT_STATE": "", "GUI_GRID_POW": ""},
        "RTC": {"WEB_TIME": ""},
    }
    recorded = recording("senec-local-2025-07-24.response.json")
    assert decode_response(encode_response(recorded)) == recorded


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"ENERGY": {"STAT_STATE": "u8_0E",', "not valid JSON"),
        (b"<html>500</html>", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"ENERGY": "u8_01"}', "section ENERGY is not an object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_answers_are_protocol_errors(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_response(body)


@given(
    st.text(max_size=14)
    | st.sampled_from(["fl_", "u8_", "i1_", "u3_", "i8_", "st_", "er_"]).flatmap(
        lambda head: st.text(alphabet="0123456789abcdefABCDEFxX+-_ \uff11g", max_size=10).map(
            lambda tail: head + tail
        )
    )
)
def test_the_fast_path_agrees_with_every_check(raw: str) -> None:
    """decode_value's fast paths give what the checked decoder gives, or leave it to it."""
    from collector.sources.senec.codec import _decode_checked

    try:
        expected: object = _decode_checked(raw)
    except ValueDecodeError as exc:
        expected = ("error", str(exc))
    try:
        got: object = decode_value(raw)
    except ValueDecodeError as exc:
        got = ("error", str(exc))
    if isinstance(expected, float) and expected != expected:
        assert isinstance(got, float)
        assert got != got
    else:
        assert got == expected
        assert type(got) is type(expected)
