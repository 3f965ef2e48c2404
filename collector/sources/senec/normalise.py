"""From a decoded lala.cgi answer to the collector's fields (SOLECTRUS names, units and types).

Each field names the device variables it is made from, so the request asks for exactly the
variables the wanted fields need. A variable that is missing, a sentinel or undecodable costs
the fields made from it, and is reported as a problem; it never costs the whole reading and
never becomes a number.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import cast

from collector.reading import FieldValue
from collector.sources.senec.codec import (
    INT_PREFIXES as _INT_PREFIXES,
)
from collector.sources.senec.codec import (
    Decoded,
    DecodedOrArray,
    DeviceError,
    Sections,
    Sentinel,
    ValueDecodeError,
    decode,
    decode_value,
)
from collector.sources.senec.states import OK_STATES, StateNames

STATE = "ENERGY.STAT_STATE"
BAT_CURRENT = "ENERGY.GUI_BAT_DATA_CURRENT"
BAT_FUEL = "ENERGY.GUI_BAT_DATA_FUEL_CHARGE"
BAT_POWER = "ENERGY.GUI_BAT_DATA_POWER"
BAT_VOLTAGE = "ENERGY.GUI_BAT_DATA_VOLTAGE"
GRID = "ENERGY.GUI_GRID_POW"
HOUSE = "ENERGY.GUI_HOUSE_POW"
INVERTER = "ENERGY.GUI_INVERTER_POWER"
VERSION = "WIZARD.APPLICATION_VERSION"
UTC_OFFSET = "RTC.UTC_OFFSET"
WEB_TIME = "RTC.WEB_TIME"
MPP = "PV1.MPP_POWER"
RATIO = "PV1.POWER_RATIO"
CASE = "TEMPMEASURE.CASE_TEMP"
WALLBOX = "WALLBOX.APPARENT_CHARGING_POWER"
EV = "WALLBOX.EV_CONNECTED"

TIME_KEYS = (WEB_TIME, UTC_OFFSET)


_WHOLE_FLOATS = 2.0**52
_WIDE = Context(prec=400)  # room for every float's digits (the default 28 fails above 1e28)


def round_int(value: float) -> int:
    """Round half away from zero, as the SOLECTRUS collector does (Python rounds half to even).

    Exact for every float: `a - floor(a)` is computed without error, and a float that is not
    exactly k + 0.5 never prints as k.5, so this equals rounding its decimal form.
    """
    if isinstance(value, int):
        return value
    magnitude = abs(value)
    if magnitude >= _WHOLE_FLOATS:  # every float is whole here; its shortest form may not be
        return int(Decimal(repr(value)).quantize(Decimal(1), ROUND_HALF_UP, _WIDE))
    whole = math.floor(magnitude)
    result = whole + 1 if magnitude - whole >= 0.5 else whole
    return -result if value < 0 else result


_TIE_MARGIN = 1e-9
_EXACT_BELOW = 1e12  # beyond this, one decimal needs more digits than a float has to spare


def round1(value: float) -> float:
    """One decimal, half away from zero, of the value's shortest decimal form; never -0.0.

    0.15 is stored as 0.1499999…, yet reads 0.15 and rounds to 0.2, as the SOLECTRUS collector
    does. Far from a tie the float arithmetic decides the same way; at a tie (or for huge
    values) the decimal form is rounded exactly.
    """
    tenths = abs(value) * 10.0
    whole = math.floor(tenths)
    rest = tenths - whole
    if abs(rest - 0.5) > _TIE_MARGIN and tenths < _EXACT_BELOW:
        result = (whole + 1 if rest > 0.5 else whole) / 10.0
        return -result if value < 0 and result else result
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), ROUND_HALF_UP, _WIDE)) + 0.0


_LIMIT = 2.0**63  # InfluxDB's integers are 64 bits: a device value beyond is no reading
_NUMBER_TYPES = frozenset({float, int})


def _number_problem(value: object) -> str | None:
    """Why a decoded value is not a usable number, or None when it is one."""
    kind = type(value)
    if kind is not float and kind is not int:
        return f"expected a number, got {_shown(value)}"
    if not math.isfinite(value):  # type: ignore[arg-type]
        return f"not a finite number ({value})"
    if not -_LIMIT < value < _LIMIT:  # type: ignore[operator]
        return f"out of range ({value})"
    return None


class Values:
    """Decoded variables of one answer, and the problems found on the way."""

    __slots__ = ("_arrays", "decoded", "numeric", "problems")

    def __init__(self) -> None:
        self.decoded: dict[str, DecodedOrArray] = {}
        self.numeric: dict[str, float] = {}  # the decoded scalars that are usable numbers
        self.problems: dict[str, str] = {}
        # key -> (the array, how many of its first entries are usable numbers, the problem)
        self._arrays: dict[str, tuple[list[float], int, str]] = {}

    def number(self, key: str) -> float | None:
        number = self.numeric.get(key)
        if number is not None:
            return number
        value = self.decoded.get(key)
        if value is not None:
            self.problems[key] = _number_problem(value) or "not a number"
        return None

    def numbers(self, key: str, count: int) -> list[float] | None:
        """The first `count` entries of an array, when each is a usable number."""
        checked = self.array(key)
        if checked is None:
            return None
        array, usable, problem = checked
        if usable >= count:
            return array[:count]
        self.problems[key] = (
            f"expected {count} entries, got {len(array)}" if len(array) < count else problem
        )
        return None

    def array(self, key: str) -> tuple[list[float], int, str] | None:
        """An array, how many of its first entries are usable numbers, and what is wrong with
        the entry after them; checked once per answer. None (and a problem) if no array."""
        checked = self._arrays.get(key)
        if checked is not None:
            return checked
        value = self.decoded.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.problems[key] = f"expected an array, got {_shown(value)}"
            return None
        usable, problem = len(value), ""
        # all usable numbers? (C-level checks; the loop below only names a bad entry)
        if not (
            value
            and set(map(type, value)) <= _NUMBER_TYPES
            and -_LIMIT < min(value) <= max(value) < _LIMIT  # type: ignore[type-var,operator]
            and math.isfinite(sum(value))  # type: ignore[arg-type]
        ):
            for index, item in enumerate(value):
                if _number_problem(item) is not None:
                    usable, problem = index, f"entry {index} is {_shown(item)}, not a number"
                    break
        checked = self._arrays[key] = (value, usable, problem)  # type: ignore[assignment]
        return checked

    def text(self, key: str) -> str | None:
        value = self.decoded.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or isinstance(value, Sentinel):
            self.problems[key] = f"expected text, got {_shown(value)}"
            return None
        return value


def _shown(value: object) -> str:
    if isinstance(value, Sentinel):
        return value.value
    if isinstance(value, DeviceError):
        return f"device error {value.detail!r}"
    return repr(value)


def _split(keys: Iterable[str]) -> tuple[tuple[str, str, str], ...]:
    return tuple((key, *key.partition(".")[::2]) for key in keys)


def decode_answer(answer: Sections, keys: Iterable[str] | KeyPlan) -> Values:
    """Decode the wanted `SECTION.KEY` variables of an answer; collect what went wrong.

    With a KeyPlan that has seen an answer before, an answer of the same shape is decoded in
    batches; see KeyPlan.
    """
    if not isinstance(keys, KeyPlan):  # no plan to keep: the general path only
        values = Values()
        _decode_each(answer, _split(keys), values)
        return values
    if keys.shape is not None:
        batched = keys.decode(answer)
        if batched is not None:
            return batched
    values = Values()
    _decode_each(answer, keys.keys, values)
    keys.learn(answer, values)
    return values


def _decode_each(answer: Sections, entries: Iterable[tuple[str, str, str]], values: Values) -> None:
    """The general path: each variable by itself, every problem named."""
    problems = values.problems
    for key, section, name in entries:
        content = answer.get(section)
        if content is None:
            problems[key] = "section missing from the answer"
            continue
        raw = content.get(name, _MISSING)
        if raw is _MISSING:
            if "OBJECT_NOT_FOUND" in content:
                problems[key] = f"the device has no section {section} (OBJECT_NOT_FOUND)"
            else:
                problems[key] = "missing from the answer"
            continue
        try:
            value = decode_value(raw) if type(raw) is str else decode(raw)
        except ValueDecodeError as exc:
            problems[key] = str(exc)
            continue
        _keep(values, key, value)


def _keep(values: Values, key: str, value: DecodedOrArray) -> None:
    kind = type(value)  # exact types: sentinels are str (and enum) subclasses
    if kind is float or kind is int:
        if -_LIMIT < value < _LIMIT:  # type: ignore[operator]
            values.numeric[key] = value  # type: ignore[assignment]
    elif kind is list:
        bad = next((item for item in value if type(item) not in _PLAIN), None)  # type: ignore[union-attr]
        if bad is not None:
            values.problems[key] = _shown(bad)
            return
    elif kind is not str:
        values.problems[key] = _shown(value)
        return
    values.decoded[key] = value


_PLAIN = (float, int, str)
_MISSING = object()


_TEXT_PREFIXES = ("st_", "ch_")


@dataclass(frozen=True)
class _Shape:
    """How the device answered each wanted variable the time a plan learnt from it: the kind
    of every value (float32, an integer type, text) and the length of every array."""

    entries: tuple[tuple[str, str, str, int], ...]  # key, section, name, length (-1: scalar)
    floats: tuple[int, ...]  # positions (in the flattened values) of the float32 ones
    integers: tuple[int, ...]  # ... of the integers
    texts: tuple[int, ...]  # ... of the texts
    signed: tuple[tuple[int, int], ...]  # (place among the integers, bits) of the signed ones
    pattern: re.Pattern[str]  # all integers, joined by \x1f, each with its own prefix


class KeyPlan:
    """The wanted variables, split into section and name once; and how the device answers
    them, learnt from the first answer that had no problem.

    A source asks the same variables at every poll and the device answers in the same shape,
    so from then on an answer is decoded in a few batches: all float32 values with one
    `bytes.fromhex` and one `struct.unpack`, all integers with one regular expression that
    checks each one's type prefix and digits, and one check that every number is finite and in
    range. Should the answer differ in any way (a variable missing or of another type, a
    sentinel, a bad digit, NaN), it takes the general path, which names each problem.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = _split(keys)
        self.shape: _Shape | None = None

    def learn(self, answer: Sections, values: Values) -> None:
        if values.problems or self.shape is not None:
            return
        entries: list[tuple[str, str, str, int]] = []
        flat: list[str] = []
        for key, section, name in self.keys:
            raw = answer[section][name]
            if type(raw) is list:
                entries.append((key, section, name, len(raw)))
                flat.extend(raw)
            else:
                entries.append((key, section, name, -1))
                flat.append(raw)  # type: ignore[arg-type]
        floats: list[int] = []
        integers: list[int] = []
        texts: list[int] = []
        signed: list[tuple[int, int]] = []
        patterns: list[str] = []
        for index, raw in enumerate(flat):
            head = raw[:3]
            if _is_float(raw):
                floats.append(index)
            elif head in _TEXT_PREFIXES:
                texts.append(index)
            elif head in _INT_PREFIXES:
                digits, bits, is_signed = _INT_PREFIXES[head]
                if is_signed:
                    signed.append((len(integers), bits))
                integers.append(index)
                patterns.append(f"{head}([0-9A-Fa-f]{{1,{digits}}})")
            else:
                return  # a value of another kind: this plan keeps to the general path
        self.shape = _Shape(
            tuple(entries),
            tuple(floats),
            tuple(integers),
            tuple(texts),
            tuple(signed),
            re.compile("\x1f".join(patterns)),
        )

    def decode(self, answer: Sections) -> Values | None:
        """An answer of the learnt shape, decoded; None if it differs in any way."""
        shape = self.shape
        assert shape is not None
        flat: list[str] = []
        try:
            for _, section, name, length in shape.entries:
                raw = answer[section][name]
                if length < 0:
                    flat.append(raw)  # type: ignore[arg-type]
                elif type(raw) is list and len(raw) == length:
                    flat.extend(raw)
                else:
                    return None
            decoded: list[DecodedOrArray] = [None] * len(flat)  # type: ignore[list-item]
            if shape.floats:
                raws = [flat[i] for i in shape.floats]
                # each "fl_" and 8 more characters ("fl_" cannot occur within hex digits)
                joined = "".join(raws)
                if set(map(len, raws)) != {11} or joined.count("fl_") != len(raws):
                    return None
                floats = _unpack_floats(len(raws), bytes.fromhex(joined.replace("fl_", "")))
                for index, value in zip(shape.floats, floats, strict=True):
                    decoded[index] = value
            if shape.integers:
                match = shape.pattern.fullmatch("\x1f".join([flat[i] for i in shape.integers]))
                if match is None:
                    return None
                numbers = [int(digits, 16) for digits in match.groups()]
                for place, bits in shape.signed:
                    if numbers[place] >= 1 << (bits - 1):
                        numbers[place] -= 1 << bits
                for index, number in zip(shape.integers, numbers, strict=True):
                    decoded[index] = number
            for index in shape.texts:
                raw = flat[index]
                if type(raw) is not str or raw[:3] not in _TEXT_PREFIXES:
                    return None
                decoded[index] = raw[3:]
        except (KeyError, TypeError, ValueError, struct.error):
            return None
        numbers_only = [decoded[i] for i in (*shape.floats, *shape.integers)]
        if numbers_only and not (
            -_LIMIT < min(numbers_only) <= max(numbers_only) < _LIMIT  # type: ignore[type-var,operator]
            and math.isfinite(sum(numbers_only))  # type: ignore[arg-type]
        ):
            return None  # NaN, infinity or out of range: the general path says which
        values = Values()
        position = 0
        for key, _, _, length in shape.entries:
            if length < 0:
                scalar = decoded[position]
                values.decoded[key] = scalar
                if isinstance(scalar, int | float):
                    values.numeric[key] = scalar
                position += 1
            else:
                array = cast(list[float], decoded[position : position + length])
                values.decoded[key] = cast(list[Decoded], array)
                values._arrays[key] = (array, length, "")
                position += length
        return values


def _is_float(raw: object) -> bool:
    return type(raw) is str and raw[:3] == "fl_" and len(raw) == 11


def _unpack_floats(count: int, data: bytes) -> tuple[float, ...]:
    return struct.unpack(f">{count}f", data)


# --- the fields ----------------------------------------------------------------------------

Out = dict[str, FieldValue]
Compute = Callable[[Values, StateNames, frozenset[str], Out], None]


@dataclass(frozen=True)
class Rule:
    """The fields made from some device variables, computed together (one look-up, one check
    and one rounding per variable, however many fields it makes): `compute(values, states,
    wanted, out)` puts the wanted ones it can make into `out`."""

    keys: tuple[str, ...]
    fields: tuple[str, ...]
    compute: Compute


@dataclass(frozen=True)
class FieldMapping:
    """Which device variables a field is made from."""

    name: str
    keys: tuple[str, ...]


def _integer(key: str, name: str) -> Rule:
    def compute(values: Values, _: StateNames, __: frozenset[str], out: Out) -> None:
        number = values.number(key)
        if number is not None:
            out[name] = round_int(number)

    return Rule((key,), (name,), compute)


def _decimal(key: str, name: str) -> Rule:
    def compute(values: Values, _: StateNames, __: frozenset[str], out: Out) -> None:
        number = values.number(key)
        if number is not None:
            out[name] = round1(number)

    return Rule((key,), (name,), compute)


def _both_ways(key: str, plus: str, minus: str) -> Rule:
    """A signed power as two non-negative integers, one per direction."""

    def compute(values: Values, _: StateNames, wanted: frozenset[str], out: Out) -> None:
        number = values.number(key)
        if number is None:
            return
        rounded = round_int(number)
        if plus in wanted:
            out[plus] = rounded if rounded > 0 else 0
        if minus in wanted:
            out[minus] = -rounded if rounded < 0 else 0

    return Rule((key,), (plus, minus), compute)


def _entries(key: str, names: tuple[str, ...]) -> Rule:
    """Array entry i as the integer field names[i] (entry i alone must be usable)."""

    def compute(values: Values, _: StateNames, wanted: frozenset[str], out: Out) -> None:
        checked = values.array(key)
        if checked is None:
            return
        array, usable, _problem = checked
        for index, name in enumerate(names):
            if name in wanted:
                if index < usable:
                    out[name] = round_int(array[index])
                else:
                    values.numbers(key, index + 1)  # says what is wrong

    return Rule((key,), names, compute)


WALLBOXES = tuple(f"wallbox_charge_power{index}" for index in range(4))


def _wallbox(values: Values, states: StateNames, wanted: frozenset[str], out: Out) -> None:
    if "wallbox_charge_power" in wanted:
        numbers = values.numbers(WALLBOX, 4)
        if numbers is not None:
            out["wallbox_charge_power"] = round_int(sum(numbers))
    _WALLBOX_ENTRIES.compute(values, states, wanted, out)


_WALLBOX_ENTRIES = _entries(WALLBOX, WALLBOXES)


def _ev_connected(values: Values, _: StateNames, __: frozenset[str], out: Out) -> None:
    numbers = values.numbers(EV, 4)
    if numbers is not None:
        out["ev_connected"] = max(numbers) > 0


def _state_code(values: Values) -> int | None:
    number = values.number(STATE)
    if number is None:
        return None
    if not isinstance(number, int):
        values.problems[STATE] = f"expected an integer state, got {number!r}"
        return None
    return number


def _state(values: Values, states: StateNames, wanted: frozenset[str], out: Out) -> None:
    code = _state_code(values)
    if code is None:
        return
    if "current_state" in wanted:
        out["current_state"] = states.name(code)
    if "current_state_code" in wanted:
        out["current_state_code"] = code
    if "current_state_ok" in wanted:
        out["current_state_ok"] = code in OK_STATES


def _version(values: Values, _: StateNames, __: frozenset[str], out: Out) -> None:
    text = values.text(VERSION)
    if text is not None:
        out["application_version"] = text


def _measure_time(values: Values, _: StateNames, __: frozenset[str], out: Out) -> None:
    seconds = device_seconds(values)
    if seconds is not None:
        out["measure_time"] = seconds


def _nothing(_: Values, __: StateNames, ___: frozenset[str], ____: Out) -> None:
    """response_duration: filled in from the HTTP round trip, not from the answer."""


RULES: tuple[Rule, ...] = (
    Rule((VERSION,), ("application_version",), _version),
    _decimal(BAT_CURRENT, "bat_charge_current"),
    _decimal(BAT_FUEL, "bat_fuel_charge"),
    _both_ways(BAT_POWER, "bat_power_plus", "bat_power_minus"),
    _decimal(BAT_VOLTAGE, "bat_voltage"),
    _decimal(CASE, "case_temp"),
    Rule((STATE,), ("current_state", "current_state_code", "current_state_ok"), _state),
    Rule((EV,), ("ev_connected",), _ev_connected),
    _both_ways(GRID, "grid_power_plus", "grid_power_minus"),
    _integer(HOUSE, "house_power"),
    _integer(INVERTER, "inverter_power"),
    Rule(TIME_KEYS, ("measure_time",), _measure_time),
    _entries(MPP, ("mpp1_power", "mpp2_power", "mpp3_power")),
    _decimal(RATIO, "power_ratio"),
    Rule((), ("response_duration",), _nothing),
    Rule((WALLBOX,), ("wallbox_charge_power", *WALLBOXES), _wallbox),
)

MAPPING: dict[str, FieldMapping] = {
    name: FieldMapping(name, rule.keys) for rule in RULES for name in rule.fields
}


class FieldPlan:
    """The rules for a set of wanted fields, chosen once (a source wants the same ones at
    every poll)."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.wanted = frozenset(fields)
        self.rules = tuple(rule for rule in RULES if self.wanted.intersection(rule.fields))


def wanted_keys(fields: Iterable[str]) -> list[str]:
    """The device variables needed for these fields (the clock is always read)."""
    keys: dict[str, None] = dict.fromkeys(TIME_KEYS)
    for name in fields:
        keys.update(dict.fromkeys(MAPPING[name].keys))
    return list(keys)


def request_sections(keys: Iterable[str]) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    for key in keys:
        section, _, name = key.partition(".")
        sections.setdefault(section, []).append(name)
    return sections


_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z, the last a datetime can hold


def device_seconds(values: Values) -> int | None:
    """The device's clock as Unix seconds (UTC): WEB_TIME is local time as Unix seconds,
    UTC_OFFSET minutes east of UTC."""
    web_time = values.number(WEB_TIME)
    offset = values.number(UTC_OFFSET)
    if web_time is None or offset is None:
        return None
    seconds = int(web_time) - int(offset) * 60
    if not 0 <= seconds <= _LAST_SECOND:
        values.problems[WEB_TIME] = f"not a usable time ({web_time!r}, offset {offset!r})"
        return None
    return seconds


def device_time(values: Values) -> datetime | None:
    """The device's clock in UTC."""
    seconds = device_seconds(values)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def compute_fields(
    values: Values, fields: Iterable[str] | FieldPlan, states: StateNames
) -> dict[str, FieldValue]:
    plan = fields if isinstance(fields, FieldPlan) else FieldPlan(fields)
    result: dict[str, FieldValue] = {}
    wanted = plan.wanted
    for rule in plan.rules:
        rule.compute(values, states, wanted, result)
    return result


def state_code_of(values: Values) -> int | None:
    return _state_code(values)
