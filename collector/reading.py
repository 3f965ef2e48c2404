"""A Reading and the field catalogue: every field's name, InfluxDB type and unit, in one place.

A field's type never changes: InfluxDB refuses a point whose field type differs from what a
shard already holds, so the catalogue is the contract between sources and the database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

FieldValue = int | float | bool | str


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: type[FieldValue]
    unit: str
    description: str


def _specs(*specs: FieldSpec) -> dict[str, FieldSpec]:
    return {spec.name: spec for spec in specs}


FIELDS: dict[str, FieldSpec] = _specs(
    FieldSpec("application_version", str, "", 'firmware (application) version, e.g. "0826"'),
    FieldSpec("bat_charge_current", float, "A", "battery current, negative while discharging"),
    FieldSpec("bat_fuel_charge", float, "%", "battery state of charge"),
    FieldSpec("bat_power_minus", int, "W", "battery discharging power (positive number)"),
    FieldSpec("bat_power_plus", int, "W", "battery charging power"),
    FieldSpec("bat_voltage", float, "V", "battery voltage"),
    FieldSpec("case_temp", float, "°C", "temperature inside the case"),
    FieldSpec("current_state", str, "", "operating state as text (in SENEC_LANGUAGE)"),
    FieldSpec("current_state_code", int, "", "operating state as the device's number"),
    FieldSpec("current_state_ok", bool, "", "whether the operating state is a normal one"),
    FieldSpec("ev_connected", bool, "", "a car is plugged into any wallbox"),
    FieldSpec("grid_power_minus", int, "W", "power exported to the grid (positive number)"),
    FieldSpec("grid_power_plus", int, "W", "power imported from the grid"),
    FieldSpec("house_power", int, "W", "house consumption"),
    FieldSpec("inverter_power", int, "W", "PV production"),
    FieldSpec("measure_time", int, "s", "the reading's time as Unix seconds (UTC)"),
    FieldSpec("mpp1_power", int, "W", "PV string (MPP tracker) 1"),
    FieldSpec("mpp2_power", int, "W", "PV string (MPP tracker) 2"),
    FieldSpec("mpp3_power", int, "W", "PV string (MPP tracker) 3"),
    FieldSpec("power_ratio", float, "%", "grid export limit currently in effect"),
    FieldSpec("response_duration", int, "ms", "time the device took to answer the poll"),
    FieldSpec("wallbox_charge_power", int, "W", "charging power of all wallboxes"),
    FieldSpec("wallbox_charge_power0", int, "W", "charging power of wallbox 1"),
    FieldSpec("wallbox_charge_power1", int, "W", "charging power of wallbox 2"),
    FieldSpec("wallbox_charge_power2", int, "W", "charging power of wallbox 3"),
    FieldSpec("wallbox_charge_power3", int, "W", "charging power of wallbox 4"),
    # SMA inverters (Speedwire); bat_*, grid_power_*, mppN_power and response_duration above
    # mean the same for SMA.
    FieldSpec("ac_power", int, "W", "AC power fed out by the inverter"),
    *(FieldSpec(f"ac_power_l{n}", int, "W", f"AC power on phase L{n}") for n in (1, 2, 3)),
    *(FieldSpec(f"ac_voltage_l{n}", float, "V", f"AC voltage L{n}-N") for n in (1, 2, 3)),
    *(FieldSpec(f"ac_current_l{n}", float, "A", f"AC current on phase L{n}") for n in (1, 2, 3)),
    FieldSpec("grid_frequency", float, "Hz", "grid frequency"),
    FieldSpec("dc_power", int, "W", "DC power of all PV strings"),
    *(FieldSpec(f"mpp{n}_power", int, "W", f"PV string (MPP tracker) {n}") for n in (4, 5, 6)),
    *(FieldSpec(f"mpp{n}_voltage", float, "V", f"DC voltage of string {n}") for n in range(1, 7)),
    *(FieldSpec(f"mpp{n}_current", float, "A", f"DC current of string {n}") for n in range(1, 7)),
    FieldSpec("energy_total", int, "Wh", "energy produced since the inverter was installed"),
    FieldSpec("energy_today", int, "Wh", "energy produced today"),
    FieldSpec("device_status", str, "", "device status: Ok, Warning, Fault, Off"),
    FieldSpec("device_status_code", int, "", "device status as SMA's number (307 = Ok)"),
    FieldSpec("device_status_ok", bool, "", "whether the device status is Ok"),
    FieldSpec("grid_relay", str, "", "grid relay: Closed (feeding in) or Open"),
    FieldSpec("grid_relay_code", int, "", "grid relay as SMA's number (51 = Closed)"),
    FieldSpec("grid_relay_ok", bool, "", "whether the grid relay is closed"),
    FieldSpec("device_temperature", float, "°C", "inverter temperature"),
    FieldSpec("bat_temperature", float, "°C", "battery temperature"),
)


class FieldTypeError(TypeError):
    """A source produced a value whose type differs from the catalogue: a bug, not bad input."""


def check_field(name: str, value: FieldValue) -> None:
    spec = FIELDS.get(name)
    if spec is None:
        raise FieldTypeError(f"field {name!r} is not in the field catalogue")
    # bool is a subclass of int: compare exact types.
    if type(value) is not spec.type:
        raise FieldTypeError(
            f"field {name!r} must be {spec.type.__name__}, got {type(value).__name__} {value!r}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldTypeError(f"field {name!r} is not a finite number: {value!r}")


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
            check_field(name, value)

    @property
    def timestamp(self) -> int:
        """Unix seconds (readings have second precision)."""
        return int(self.time.timestamp())
