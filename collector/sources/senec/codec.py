"""The lala.cgi value codec, both directions. Pure functions: no I/O, no clock, no logging.

The device answers every variable as a typed hex string, `<type>_<payload>`:

    fl_  IEEE-754 float32, 8 hex digits, big-endian      fl_42C80000 -> 100.0
    u8_ u1_ u3_ u6_   unsigned 8/16/32/64-bit integers     u8_38 -> 56
    i8_ i1_ i3_       signed (two's complement) integers   i3_FFFFFF88 -> -120
    st_ ch_           text; everything after the first "_" st_0826 -> "0826"
    er_               the device reports an error for this variable

Arrays are JSON lists of such strings. Instead of a value the device may send a sentinel
(`VARIABLE_NOT_FOUND`, `FORBIDDEN`, `MALFORMED_VALUE`, ...); an unknown section comes back as
`{"SECTION": {"OBJECT_NOT_FOUND": ""}}`. Sentinels and device errors are returned as values of
their own types so that a caller can never mistake them for numbers.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from collector.errors import CodecError, ProtocolError


class ValueType(StrEnum):
    FL = "fl"
    U8 = "u8"
    U1 = "u1"
    U3 = "u3"
    U6 = "u6"
    I8 = "i8"
    I1 = "i1"
    I3 = "i3"
    ST = "st"
    CH = "ch"
    ER = "er"


INT_BITS: dict[ValueType, int] = {
    ValueType.U8: 8,
    ValueType.U1: 16,
    ValueType.U3: 32,
    ValueType.U6: 64,
    ValueType.I8: 8,
    ValueType.I1: 16,
    ValueType.I3: 32,
}
SIGNED = frozenset({ValueType.I8, ValueType.I1, ValueType.I3})
TEXT = frozenset({ValueType.ST, ValueType.CH})


class Sentinel(StrEnum):
    """A word the device sends instead of a value."""

    VARIABLE_NOT_FOUND = "VARIABLE_NOT_FOUND"
    OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    MALFORMED_VALUE = "MALFORMED_VALUE"
    FILE_VARIABLE_NOT_READABLE = "FILE_VARIABLE_NOT_READABLE"


@dataclass(frozen=True)
class ErrorValue:
    """An `er_` value: the device could not read this variable."""

    detail: str


Scalar = int | float | str
Decoded = Scalar | Sentinel | ErrorValue
DecodedOrArray = Decoded | list[Decoded]

_HEX = re.compile(r"[0-9A-Fa-f]+")


class ValueDecodeError(CodecError):
    """The value is neither a typed value nor a known sentinel."""

    def __init__(self, raw: object, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        shown = raw if not isinstance(raw, str) or len(raw) <= 40 else raw[:40] + "…"
        super().__init__(f"{reason}: {shown!r}")


_SENTINELS: dict[str, Sentinel] = {sentinel.value: sentinel for sentinel in Sentinel}
_UNREADABLE = Sentinel.FILE_VARIABLE_NOT_READABLE.value


def _sentinel(raw: str) -> Sentinel | None:
    found = _SENTINELS.get(raw)
    if found is None and raw.startswith(_UNREADABLE):  # with a suffix on some firmware
        return Sentinel.FILE_VARIABLE_NOT_READABLE
    return found


_FLOAT = struct.Struct(">f").unpack
# For the integer types: (hex digits at most, bits, signed), by the first three characters.
INT_PREFIXES: dict[str, tuple[int, int, bool]] = {
    f"{vtype}_": (bits // 4, bits, vtype in SIGNED) for vtype, bits in INT_BITS.items()
}


def decode_value(raw: str) -> Decoded:
    """Decode one typed scalar string.

    The common forms are decoded on a fast path; anything else (sentinels, errors, malformed
    values) goes through `_decode_checked`, which checks every rule and says what is wrong.
    """
    head = raw[:3]
    if head == "fl_":
        payload = raw[3:]
        if len(payload) == 8:
            try:
                value: float = _FLOAT(bytes.fromhex(payload))[0]
                return value
            except (ValueError, struct.error):
                pass
    elif head in INT_PREFIXES:
        digits, bits, signed = INT_PREFIXES[head]
        payload = raw[3:]
        # ASCII letters and digits only: int() would also take signs, "_", spaces, "0x"
        if (
            0 < len(payload) <= digits
            and payload.isascii()
            and payload.isalnum()
            and payload[1:2] not in ("x", "X")
        ):
            try:
                number = int(payload, 16)
            except ValueError:
                pass
            else:
                if signed and number >= 1 << (bits - 1):
                    number -= 1 << bits
                return number
    elif head == "st_" or head == "ch_":
        return raw[3:]
    return _decode_checked(raw)


def _decode_checked(raw: str) -> Decoded:
    sentinel = _sentinel(raw)
    if sentinel is not None:
        return sentinel
    prefix, sep, payload = raw.partition("_")
    if not sep:
        raise ValueDecodeError(raw, "no type prefix")
    try:
        vtype = ValueType(prefix)
    except ValueError:
        raise ValueDecodeError(raw, f"unknown type prefix {prefix!r}") from None
    if vtype in TEXT:
        return payload
    if vtype is ValueType.ER:
        return ErrorValue(payload)
    if not _HEX.fullmatch(payload):
        raise ValueDecodeError(raw, f"{prefix}_ needs hex digits")
    if vtype is ValueType.FL:
        if len(payload) != 8:
            raise ValueDecodeError(raw, "fl_ needs exactly 8 hex digits")
        result: float = struct.unpack(">f", bytes.fromhex(payload))[0]
        return result
    bits = INT_BITS[vtype]
    if len(payload) > bits // 4:
        raise ValueDecodeError(raw, f"{prefix}_ takes at most {bits // 4} hex digits")
    number = int(payload, 16)
    if vtype in SIGNED and number >= 1 << (bits - 1):
        number -= 1 << bits
    return number


def decode(raw: object) -> DecodedOrArray:
    """Decode a scalar string or an array of them, as found in a lala.cgi answer."""
    if isinstance(raw, str):
        return decode_value(raw)
    if isinstance(raw, list):
        if all(type(item) is str for item in raw):
            return [decode_value(item) for item in raw]
        raise ValueDecodeError(raw, "array element is not a string")
    raise ValueDecodeError(raw, f"expected a string or an array, got {type(raw).__name__}")


def encode_value(value: Scalar | Sentinel | ErrorValue, vtype: ValueType | None = None) -> str:
    """Encode one scalar the way the device does; `vtype` is required for numbers."""
    if isinstance(value, Sentinel):
        return value.value
    if isinstance(value, ErrorValue):
        return f"er_{value.detail}"
    if vtype is None:
        raise ValueError("encode_value needs a value type for numbers and text")
    if vtype in TEXT:
        if not isinstance(value, str):
            raise TypeError(f"{vtype}_ encodes text, got {value!r}")
        return f"{vtype}_{value}"
    if vtype is ValueType.FL:
        if isinstance(value, str | bool):
            raise TypeError(f"fl_ encodes a number, got {value!r}")
        return "fl_" + struct.pack(">f", float(value)).hex().upper()
    if vtype is ValueType.ER:
        return f"er_{value}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{vtype}_ encodes an integer, got {value!r}")
    bits = INT_BITS[vtype]
    low, high = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if vtype in SIGNED else (0, (1 << bits) - 1)
    )
    if not low <= value <= high:
        raise ValueError(f"{value} does not fit {vtype}_ ({low}..{high})")
    return f"{vtype}_{value & ((1 << bits) - 1):0{bits // 4}X}"


def encode(
    value: Scalar | Sentinel | ErrorValue | list[Scalar | Sentinel | ErrorValue],
    vtype: ValueType | None = None,
) -> str | list[str]:
    if isinstance(value, list):
        return [encode_value(item, vtype) for item in value]
    return encode_value(value, vtype)


# --- whole requests and answers -------------------------------------------------------------

Sections = dict[str, dict[str, object]]


def encode_request(keys: Mapping[str, Iterable[str]]) -> bytes:
    """The POST body asking for `{section: [key, ...]}`: every key with an empty value."""
    body = {section: {key: "" for key in names} for section, names in keys.items()}
    return json.dumps(body, separators=(",", ":")).encode()


def _sections(body: bytes, what: str) -> Sections:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        size = len(body)
        raise ProtocolError(f"{what} is not valid JSON ({exc}; {size} bytes)") from None
    if not isinstance(document, dict):
        raise ProtocolError(f"{what} is not a JSON object but {type(document).__name__}")
    for section, content in document.items():
        if not isinstance(content, dict):
            raise ProtocolError(f"{what}: section {section} is not an object")
    return document


def decode_request(body: bytes) -> Sections:
    """The simulator's side: which sections and keys does this POST ask for."""
    return _sections(body, "lala.cgi request")


def decode_response(body: bytes) -> Sections:
    """Parse a lala.cgi answer into sections of raw (still encoded) values."""
    return _sections(body, "lala.cgi answer")


def encode_response(sections: Mapping[str, Mapping[str, object]]) -> bytes:
    return json.dumps(sections, separators=(",", ":")).encode()
