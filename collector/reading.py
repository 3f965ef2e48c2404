"""A Reading, and FieldSpec: one entry of a source kind's field catalogue.

Every kind declares its fields (name, InfluxDB type, unit, description) in its own catalogue. A
field's type never changes: InfluxDB refuses a point whose field type differs from what a shard
already holds, so the catalogues are the contract between sources and the database. A name that
two kinds use means the same in both (the test suite checks every pair of catalogues).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

FieldValue = int | float | bool | str

FIELD_TYPES: tuple[type[FieldValue], ...] = (int, float, bool, str)


class Aggregation(StrEnum):
    """How values of one field over an interval become one value (for sources that listen)."""

    MEAN = "mean"  # a gauge: power, voltage, temperature
    LAST = "last"  # a counter (energy so far), a state, a text


class Negative(StrEnum):
    """What a negative value of a numeric field means; the core does it to every reading."""

    SIGNED = "signed"  # a reading like any other (a current that flows the other way)
    ZERO = "zero"  # none of it: written as 0 (an inverter's standby draw is no feed-out)
    INVALID = "invalid"  # no reading (a direction's power is never below 0): the field is left out


NO_CLASS = ""  # a FieldSpec's device_class or state_class: none, whatever its unit says

MEASUREMENT = "measurement"
TOTAL_INCREASING = "total_increasing"  # a counter: Home Assistant's Energy dashboard takes it

# Home Assistant's device class and state class of a numeric field, by its unit, where its
# spec names none. A unit not here (none, or %) has no device class; its state class is
# "measurement" for a gauge (MEAN) and none for a code or a count (LAST).
UNIT_CLASSES: dict[str, tuple[str, str]] = {
    "W": ("power", MEASUREMENT),
    "Wh": ("energy", TOTAL_INCREASING),
    "V": ("voltage", MEASUREMENT),
    "A": ("current", MEASUREMENT),
    "Hz": ("frequency", MEASUREMENT),
    "°C": ("temperature", MEASUREMENT),
    "ms": ("duration", MEASUREMENT),
    "s": ("duration", MEASUREMENT),
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: type[FieldValue]
    unit: str
    description: str
    aggregation: Aggregation | None = None  # None: MEAN for int and float, LAST otherwise
    negative: Negative = Negative.SIGNED
    # Home Assistant's classes where the unit does not say them (UNIT_CLASSES); NO_CLASS: none
    device_class: str | None = None
    state_class: str | None = None

    @property
    def aggregate(self) -> Aggregation:
        if self.aggregation is not None:
            return self.aggregation
        numeric = self.type in (int, float)
        return Aggregation.MEAN if numeric else Aggregation.LAST

    @property
    def home_assistant(self) -> tuple[str | None, str | None]:
        """(device class, state class) for Home Assistant; None where there is none. Booleans
        and texts have neither."""
        if self.type not in (int, float):
            return None, None
        by_unit = UNIT_CLASSES.get(self.unit)
        gauge = MEASUREMENT if self.aggregate is Aggregation.MEAN else NO_CLASS
        device = self.device_class if self.device_class is not None else by_unit and by_unit[0]
        state = self.state_class if self.state_class is not None else by_unit and by_unit[1]
        return device or None, (state if state is not None else gauge) or None


Catalogue = Mapping[str, FieldSpec]


def catalogue(specs: Iterable[FieldSpec]) -> dict[str, FieldSpec]:
    """A kind's catalogue by name; a name declared twice is a bug."""
    result: dict[str, FieldSpec] = {}
    for spec in specs:
        if spec.name in result:
            raise ValueError(f"field {spec.name!r} is declared twice")
        if spec.type not in FIELD_TYPES:
            raise ValueError(f"field {spec.name!r} has type {spec.type!r}")
        result[spec.name] = spec
    return result


def apply_negative(
    fields: Mapping[str, FieldValue], specs: Catalogue
) -> tuple[dict[str, FieldValue], list[str]]:
    """The fields with each negative number treated as its catalogue says, and the names of
    those left out as no reading."""
    result: dict[str, FieldValue] = {}
    invalid: list[str] = []
    for name, value in fields.items():
        spec = specs.get(name)
        if spec is not None and type(value) in (int, float) and value < 0:  # type: ignore[operator]
            if spec.negative is Negative.ZERO:
                value = spec.type(0)
            elif spec.negative is Negative.INVALID:
                invalid.append(name)
                continue
        result[name] = value
    return result, invalid


class FieldTypeError(TypeError):
    """A source produced a value the catalogue does not allow: a bug, not bad input."""


def check_fields(fields: Mapping[str, FieldValue], specs: Catalogue) -> None:
    """Every field is in the catalogue with exactly its type (bool is not an int here)."""
    for name, value in fields.items():
        spec = specs.get(name)
        if spec is None:
            raise FieldTypeError(f"field {name!r} is not in the field catalogue")
        if type(value) is not spec.type:
            raise FieldTypeError(
                f"field {name!r} must be {spec.type.__name__}, got {type(value).__name__} {value!r}"
            )


@dataclass(frozen=True)
class Reading:
    """One sample of one device: UTC time, measurement, tags and typed fields."""

    time: datetime
    measurement: str
    fields: Mapping[str, FieldValue]
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time.tzinfo is None or self.time.utcoffset() != UTC.utcoffset(None):
            raise ValueError(f"reading time must be UTC, got {self.time!r}")
        for name, value in self.fields.items():
            if type(value) not in FIELD_TYPES:
                raise FieldTypeError(f"field {name!r} has a value of type {type(value).__name__}")
            if type(value) is float and not math.isfinite(value):
                raise FieldTypeError(f"field {name!r} is not a finite number: {value!r}")

    @property
    def timestamp(self) -> int:
        """Unix seconds (readings have second precision)."""
        return int(self.time.timestamp())
