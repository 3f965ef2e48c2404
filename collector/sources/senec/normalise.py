"""From a decoded lala.cgi answer to the collector's fields (SOLECTRUS names, units and types).

Each field names the device variables it is made from, so the request asks for exactly the
variables the wanted fields need. A variable that is missing, a sentinel or undecodable costs
the fields made from it, and is reported as a problem; it never costs the whole reading and
never becomes a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from collector.reading import FieldValue
from collector.sources.senec.codec import (
    DecodedOrArray,
    ErrorValue,
    Sections,
    Sentinel,
    ValueDecodeError,
    decode,
    decode_value,
)
from collector.sources.senec.states import OK_STATES, StateNames
from collector.values import round1, round_int

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


LIMIT = 2.0**63  # InfluxDB's integers are 64 bits: a device value beyond is no reading
_NUMBER_TYPES = frozenset({float, int})


def _number_problem(value: object) -> str | None:
    """Why a decoded value is not a usable number, or None when it is one."""
    kind = type(value)
    if kind is not float and kind is not int:
        return f"expected a number, got {_shown(value)}"
    if not math.isfinite(value):  # type: ignore[arg-type]
        return f"not a finite number ({value})"
    if not -LIMIT < value < LIMIT:  # type: ignore[operator]
        return f"out of range ({value})"
    return None


class Values:
    """Decoded variables of one answer, and the problems found on the way.

    `numeric` holds the scalars that are usable numbers, `arrays_checked` the arrays checked
    so far, `decoded` every other decoded value (texts, arrays not checked yet, numbers out of
    range, sentinels, device errors).
    """

    __slots__ = ("arrays_checked", "decoded", "numeric", "problems")

    def __init__(
        self,
        decoded: dict[str, DecodedOrArray] | None = None,
        numeric: dict[str, float] | None = None,
        arrays_checked: dict[str, tuple[list[float], int, str]] | None = None,
    ) -> None:
        self.decoded = {} if decoded is None else decoded
        self.numeric = {} if numeric is None else numeric  # the scalars that are usable numbers
        self.problems: dict[str, str] = {}
        # key -> (the array, how many of its first entries are usable numbers, the problem)
        self.arrays_checked = {} if arrays_checked is None else arrays_checked

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
        checked = self.arrays_checked.get(key)
        if checked is not None:
            return checked
        value = self._other(key)
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
            and -LIMIT < min(value) <= max(value) < LIMIT  # type: ignore[type-var,operator]
            and math.isfinite(sum(value))  # type: ignore[arg-type]
        ):
            for index, item in enumerate(value):
                if _number_problem(item) is not None:
                    usable, problem = index, f"entry {index} is {_shown(item)}, not a number"
                    break
        checked = self.arrays_checked[key] = (value, usable, problem)  # type: ignore[assignment]
        return checked

    def text(self, key: str) -> str | None:
        value = self._other(key)
        if value is None:
            return None
        if not isinstance(value, str) or isinstance(value, Sentinel):
            self.problems[key] = f"expected text, got {_shown(value)}"
            return None
        return value

    def _other(self, key: str) -> DecodedOrArray | None:
        value = self.decoded.get(key)
        return self.numeric.get(key) if value is None else value


def _shown(value: object) -> str:
    if isinstance(value, Sentinel):
        return value.value
    if isinstance(value, ErrorValue):
        return f"device error {value.detail!r}"
    return repr(value)


def split_keys(keys: Iterable[str]) -> tuple[tuple[str, str, str], ...]:
    return tuple((key, *key.partition(".")[::2]) for key in keys)


def decode_answer(answer: Sections, keys: Iterable[str]) -> Values:
    """Decode the wanted `SECTION.KEY` variables of an answer; collect what went wrong."""
    return decode_entries(answer, split_keys(keys))


def decode_entries(answer: Sections, entries: Iterable[tuple[str, str, str]]) -> Values:
    """The general path: each variable by itself, every problem named."""
    values = Values()
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
    return values


def _keep(values: Values, key: str, value: DecodedOrArray) -> None:
    kind = type(value)  # exact types: sentinels are str (and enum) subclasses
    if kind is float or kind is int:
        if -LIMIT < value < LIMIT:  # type: ignore[operator]
            values.numeric[key] = value  # type: ignore[assignment]
            return
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


# --- the fields ----------------------------------------------------------------------------

Out = dict[str, FieldValue]
Compute = Callable[[Values, StateNames, frozenset[str], Out], None]


@dataclass(frozen=True)
class Number:
    """One variable's number as one field, rounded."""

    key: str
    name: str
    rounding: Callable[[float], FieldValue]

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Directions:
    """A signed power as two non-negative integers, one per direction."""

    key: str
    plus: str
    minus: str

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key,)

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.plus, self.minus)


@dataclass(frozen=True)
class Rule:
    """The fields made from some device variables, computed together (one look-up, one check
    and one rounding per variable, however many fields it makes): `compute(values, states,
    wanted, out)` puts the wanted ones it can make into `out`."""

    keys: tuple[str, ...]
    fields: tuple[str, ...]
    compute: Compute


AnyRule = Number | Directions | Rule


@dataclass(frozen=True)
class FieldMapping:
    """Which device variables a field is made from."""

    name: str
    keys: tuple[str, ...]


def _entries(key: str, names: tuple[str, ...]) -> Rule:
    """Array entry i as the integer field names[i] (entry i alone must be usable)."""
    count = len(names)

    def compute(values: Values, _: StateNames, wanted: frozenset[str], out: Out) -> None:
        checked = values.arrays_checked.get(key) or values.array(key)
        if checked is None:
            return
        array, usable, _problem = checked
        if usable >= count and wanted.issuperset(names):  # the usual case, at C speed
            out.update(zip(names, map(round_int, array), strict=False))  # (may be longer)
            return
        for index, name in enumerate(names):
            if name in wanted:
                if index < usable:
                    out[name] = round_int(array[index])
                else:
                    values.numbers(key, index + 1)  # says what is wrong

    return Rule((key,), names, compute)


WALLBOXES = tuple(f"wallbox_charge_power{index}" for index in range(4))


def _wallbox(values: Values, _: StateNames, __: frozenset[str], out: Out) -> None:
    numbers = values.numbers(WALLBOX, 4)
    if numbers is not None:
        out["wallbox_charge_power"] = round_int(sum(numbers))


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


RULES: tuple[AnyRule, ...] = (
    Rule((VERSION,), ("application_version",), _version),
    Number(BAT_CURRENT, "bat_charge_current", round1),
    Number(BAT_FUEL, "bat_fuel_charge", round1),
    Directions(BAT_POWER, "bat_power_plus", "bat_power_minus"),
    Number(BAT_VOLTAGE, "bat_voltage", round1),
    Number(CASE, "case_temp", round1),
    Rule((STATE,), ("current_state", "current_state_code", "current_state_ok"), _state),
    Rule((EV,), ("ev_connected",), _ev_connected),
    Directions(GRID, "grid_power_plus", "grid_power_minus"),
    Number(HOUSE, "house_power", round_int),
    Number(INVERTER, "inverter_power", round_int),
    Rule(TIME_KEYS, ("measure_time",), _measure_time),
    _entries(MPP, ("mpp1_power", "mpp2_power", "mpp3_power")),
    Number(RATIO, "power_ratio", round1),
    Rule((), ("response_duration",), _nothing),
    Rule((WALLBOX,), ("wallbox_charge_power",), _wallbox),
    _entries(WALLBOX, WALLBOXES),
)

MAPPING: dict[str, FieldMapping] = {
    name: FieldMapping(name, rule.keys) for rule in RULES for name in rule.fields
}


class FieldPlan:
    """The rules for a set of wanted fields, chosen once (a source wants the same ones at
    every poll). The simple ones (Number, Directions) become rows that compute_fields runs in
    a tight loop."""

    def __init__(self, fields: Iterable[str]) -> None:
        wanted = self.wanted = frozenset(fields)
        self.numbers = tuple(
            (rule.key, rule.name, rule.rounding)
            for rule in RULES
            if isinstance(rule, Number) and rule.name in wanted
        )
        self.directions = tuple(
            (
                rule.key,
                rule.plus if rule.plus in wanted else "",
                rule.minus if rule.minus in wanted else "",
            )
            for rule in RULES
            if isinstance(rule, Directions) and wanted.intersection(rule.fields)
        )
        self.rules = tuple(
            rule for rule in RULES if isinstance(rule, Rule) and wanted.intersection(rule.fields)
        )


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
    out: dict[str, FieldValue] = {}
    numeric = values.numeric
    for key, name, rounding in plan.numbers:
        number = numeric.get(key)
        if number is not None or (number := values.number(key)) is not None:
            out[name] = rounding(number)
    for key, plus, minus in plan.directions:
        number = numeric.get(key)
        if number is not None or (number := values.number(key)) is not None:
            rounded = round_int(number)
            if plus:
                out[plus] = rounded if rounded > 0 else 0
            if minus:
                out[minus] = -rounded if rounded < 0 else 0
    wanted = plan.wanted
    for rule in plan.rules:
        rule.compute(values, states, wanted, out)
    return out


def state_code_of(values: Values) -> int | None:
    return _state_code(values)
