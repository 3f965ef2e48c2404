"""From a decoded lala.cgi answer to the collector's fields (SOLECTRUS names, units and types).

Each field names the device variables it is made from, so the request asks for exactly the
variables the wanted fields need. A variable that is missing, a sentinel or undecodable costs
the fields made from it, and is reported as a problem; it never costs the whole reading and
never becomes a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from collector.reading import FieldValue
from collector.sources.senec.codec import (
    DecodedOrArray,
    DeviceError,
    Sections,
    Sentinel,
    ValueDecodeError,
    decode,
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


def round_int(value: float) -> int:
    """Round half away from zero, as the SOLECTRUS collector does (Python rounds half to even)."""
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def round1(value: float) -> float:
    """One decimal, half away from zero; never -0.0."""
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)) + 0.0


@dataclass
class Values:
    """Decoded variables of one answer, and the problems found on the way."""

    decoded: dict[str, DecodedOrArray] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    def number(self, key: str) -> float | None:
        value = self.decoded.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems[key] = f"expected a number, got {_shown(value)}"
            return None
        if not math.isfinite(value):
            self.problems[key] = f"not a finite number ({value})"
            return None
        return value

    def numbers(self, key: str, count: int) -> list[float] | None:
        value = self.decoded.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.problems[key] = f"expected an array, got {_shown(value)}"
            return None
        if len(value) < count:
            self.problems[key] = f"expected {count} entries, got {len(value)}"
            return None
        result: list[float] = []
        for index, item in enumerate(value[:count]):
            if (
                isinstance(item, bool)
                or not isinstance(item, int | float)
                or not math.isfinite(item)
            ):
                self.problems[key] = f"entry {index} is {_shown(item)}, not a number"
                return None
            result.append(item)
        return result

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


def decode_answer(answer: Sections, keys: Iterable[str]) -> Values:
    """Decode the wanted `SECTION.KEY` variables of an answer; collect what went wrong."""
    values = Values()
    for key in keys:
        section, _, name = key.partition(".")
        content = answer.get(section)
        if content is None:
            values.problems[key] = "section missing from the answer"
            continue
        if "OBJECT_NOT_FOUND" in content:
            values.problems[key] = f"the device has no section {section} (OBJECT_NOT_FOUND)"
            continue
        if name not in content:
            values.problems[key] = "missing from the answer"
            continue
        try:
            decoded = decode(content[name])
        except ValueDecodeError as exc:
            values.problems[key] = str(exc)
            continue
        bad = [
            item
            for item in (decoded if isinstance(decoded, list) else [decoded])
            if isinstance(item, Sentinel | DeviceError)
        ]
        if bad:
            values.problems[key] = _shown(bad[0])
            continue
        values.decoded[key] = decoded
    return values


# --- the fields ----------------------------------------------------------------------------

Compute = Callable[[Values, StateNames], FieldValue | None]


@dataclass(frozen=True)
class FieldMapping:
    name: str
    keys: tuple[str, ...]
    compute: Compute


def _int_of(key: str) -> Compute:
    def compute(values: Values, _: StateNames) -> int | None:
        number = values.number(key)
        return None if number is None else round_int(number)

    return compute


def _decimal_of(key: str) -> Compute:
    def compute(values: Values, _: StateNames) -> float | None:
        number = values.number(key)
        return None if number is None else round1(number)

    return compute


def _positive_part(key: str, sign: int) -> Compute:
    """The part of a signed power that flows one way, as a non-negative integer."""

    def compute(values: Values, _: StateNames) -> int | None:
        number = values.number(key)
        if number is None:
            return None
        return max(round_int(number * sign), 0)

    return compute


def _array_entry(key: str, index: int, count: int) -> Compute:
    def compute(values: Values, _: StateNames) -> int | None:
        numbers = values.numbers(key, count)
        return None if numbers is None else round_int(numbers[index])

    return compute


def _wallbox_total(values: Values, _: StateNames) -> int | None:
    numbers = values.numbers(WALLBOX, 4)
    return None if numbers is None else round_int(sum(numbers))


def _ev_connected(values: Values, _: StateNames) -> bool | None:
    numbers = values.numbers(EV, 4)
    return None if numbers is None else any(number > 0 for number in numbers)


def _state_code(values: Values) -> int | None:
    number = values.number(STATE)
    if number is None:
        return None
    if not isinstance(number, int):
        values.problems[STATE] = f"expected an integer state, got {number!r}"
        return None
    return number


def _state_name(values: Values, states: StateNames) -> str | None:
    code = _state_code(values)
    return None if code is None else states.name(code)


def _state_ok(values: Values, _: StateNames) -> bool | None:
    code = _state_code(values)
    return None if code is None else code in OK_STATES


def _state_number(values: Values, _: StateNames) -> int | None:
    return _state_code(values)


def _version(values: Values, _: StateNames) -> str | None:
    return values.text(VERSION)


def _measure_time(values: Values, _: StateNames) -> int | None:
    moment = device_time(values)
    return None if moment is None else int(moment.timestamp())


def _duration(_: Values, __: StateNames) -> int | None:
    return None  # filled in from the HTTP round trip, not from the answer


_FIELDS = (
    FieldMapping("application_version", (VERSION,), _version),
    FieldMapping("bat_charge_current", (BAT_CURRENT,), _decimal_of(BAT_CURRENT)),
    FieldMapping("bat_fuel_charge", (BAT_FUEL,), _decimal_of(BAT_FUEL)),
    FieldMapping("bat_power_minus", (BAT_POWER,), _positive_part(BAT_POWER, -1)),
    FieldMapping("bat_power_plus", (BAT_POWER,), _positive_part(BAT_POWER, +1)),
    FieldMapping("bat_voltage", (BAT_VOLTAGE,), _decimal_of(BAT_VOLTAGE)),
    FieldMapping("case_temp", (CASE,), _decimal_of(CASE)),
    FieldMapping("current_state", (STATE,), _state_name),
    FieldMapping("current_state_code", (STATE,), _state_number),
    FieldMapping("current_state_ok", (STATE,), _state_ok),
    FieldMapping("ev_connected", (EV,), _ev_connected),
    FieldMapping("grid_power_minus", (GRID,), _positive_part(GRID, -1)),
    FieldMapping("grid_power_plus", (GRID,), _positive_part(GRID, +1)),
    FieldMapping("house_power", (HOUSE,), _int_of(HOUSE)),
    FieldMapping("inverter_power", (INVERTER,), _int_of(INVERTER)),
    FieldMapping("measure_time", TIME_KEYS, _measure_time),
    FieldMapping("mpp1_power", (MPP,), _array_entry(MPP, 0, 1)),
    FieldMapping("mpp2_power", (MPP,), _array_entry(MPP, 1, 2)),
    FieldMapping("mpp3_power", (MPP,), _array_entry(MPP, 2, 3)),
    FieldMapping("power_ratio", (RATIO,), _decimal_of(RATIO)),
    FieldMapping("response_duration", (), _duration),
    FieldMapping("wallbox_charge_power", (WALLBOX,), _wallbox_total),
    *(
        FieldMapping(f"wallbox_charge_power{index}", (WALLBOX,), _array_entry(WALLBOX, index, 4))
        for index in range(4)
    ),
)

MAPPING: dict[str, FieldMapping] = {spec.name: spec for spec in _FIELDS}


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


def device_time(values: Values) -> datetime | None:
    """The device's clock in UTC: WEB_TIME is local time as Unix seconds, UTC_OFFSET minutes."""
    web_time = values.number(WEB_TIME)
    offset = values.number(UTC_OFFSET)
    if web_time is None or offset is None:
        return None
    try:
        return datetime.fromtimestamp(int(web_time) - int(offset) * 60, UTC)
    except (OverflowError, OSError, ValueError):
        values.problems[WEB_TIME] = f"not a usable time ({web_time!r}, offset {offset!r})"
        return None


def compute_fields(
    values: Values, fields: Iterable[str], states: StateNames
) -> dict[str, FieldValue]:
    result: dict[str, FieldValue] = {}
    for name in fields:
        value = MAPPING[name].compute(values, states)
        if value is not None:
            result[name] = value
    return result


def state_code_of(values: Values) -> int | None:
    return _state_code(values)
