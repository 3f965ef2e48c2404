"""What we ask an SMA inverter for, and how its records become fields.

Each query is one request (command and register range); the reply's records are matched by
register (LRI) and channel, never by position. Scaling follows the reference notes (sma.md §4):
W raw, V / 100, A / 1000, Hz / 100, inverter °C / 100, battery °C / 10, Wh raw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from collector.reading import FieldValue
from collector.values import round_int, round_to


class RegisterRole(Enum):
    """What a register's value is, which decides how a missing value is written."""

    # W of the PV side (AC power, its phases, the strings): "not a number" from an inverter that
    # answers means 0 (it is not producing, at night)
    PV_POWER = "pv power"
    POWER = "power"  # W of a battery, a meter, the house: "not a number" is a missing field
    MEASURE = "measure"  # voltages, currents, frequency, temperatures, SOC: omitted when NaN
    COUNTER = "counter"  # Wh: omitted when NaN or 0 (a 0 would look like a counter reset)
    STATUS = "status"  # a status list: text, code and an ok flag


@dataclass(frozen=True)
class Query:
    name: str
    command: int
    first: int
    last: int


@dataclass(frozen=True)
class Register:
    lri: int  # 0x00XXXX00
    field: str  # for channelled registers a template with {n}
    role: RegisterRole
    divisor: int = 1
    channelled: bool = False  # the record's channel is the string (MPP tracker) number


QUERIES: tuple[Query, ...] = (
    Query("ac_power", 0x51000200, 0x00263F00, 0x00263FFF),
    Query("ac_phase_power", 0x51000200, 0x00464000, 0x004642FF),
    Query("ac_voltage_current", 0x51000200, 0x00464800, 0x004655FF),
    Query("grid_frequency", 0x51000200, 0x00465700, 0x004657FF),
    Query("dc_power", 0x53800200, 0x00251E00, 0x00251EFF),
    Query("dc_voltage_current", 0x53800200, 0x00451F00, 0x004521FF),
    Query("energy", 0x54000200, 0x00260100, 0x002622FF),
    Query("device_status", 0x51800200, 0x00214800, 0x002148FF),
    Query("grid_relay", 0x51800200, 0x00416400, 0x004164FF),
    Query("temperature", 0x52000200, 0x00237700, 0x002377FF),
    Query("battery_charge", 0x51000200, 0x00295A00, 0x00295AFF),
    Query("battery_info", 0x51000200, 0x00491E00, 0x00495DFF),
    Query("battery_power", 0x51000200, 0x00496900, 0x00496AFF),
    Query("meter_power", 0x51000200, 0x00463600, 0x004637FF),
)

# Read once per session, for the start banner and `collector discover`.
TYPE_LABEL = Query("type_label", 0x58000200, 0x00821E00, 0x008220FF)
SOFTWARE_VERSION = Query("software_version", 0x58000200, 0x00823400, 0x008234FF)

LRI_DEVICE_NAME = 0x00821E00
LRI_DEVICE_CLASS = 0x00821F00
LRI_DEVICE_TYPE = 0x00822000
LRI_SOFTWARE_VERSION = 0x00823400

REGISTERS: dict[int, Register] = {
    r.lri: r
    for r in (
        Register(0x00263F00, "ac_power", RegisterRole.PV_POWER),
        Register(0x00464000, "ac_power_l1", RegisterRole.POWER),
        Register(0x00464100, "ac_power_l2", RegisterRole.POWER),
        Register(0x00464200, "ac_power_l3", RegisterRole.POWER),
        Register(0x00464800, "ac_voltage_l1", RegisterRole.MEASURE, 100),
        Register(0x00464900, "ac_voltage_l2", RegisterRole.MEASURE, 100),
        Register(0x00464A00, "ac_voltage_l3", RegisterRole.MEASURE, 100),
        Register(0x00465000, "ac_current_l1", RegisterRole.MEASURE, 1000),  # older models
        Register(0x00465100, "ac_current_l2", RegisterRole.MEASURE, 1000),
        Register(0x00465200, "ac_current_l3", RegisterRole.MEASURE, 1000),
        Register(0x00465300, "ac_current_l1", RegisterRole.MEASURE, 1000),
        Register(0x00465400, "ac_current_l2", RegisterRole.MEASURE, 1000),
        Register(0x00465500, "ac_current_l3", RegisterRole.MEASURE, 1000),
        Register(0x00465700, "grid_frequency", RegisterRole.MEASURE, 100),
        Register(0x00251E00, "mpp{n}_power", RegisterRole.PV_POWER, channelled=True),
        Register(0x00451F00, "mpp{n}_voltage", RegisterRole.MEASURE, 100, channelled=True),
        Register(0x00452100, "mpp{n}_current", RegisterRole.MEASURE, 1000, channelled=True),
        Register(0x00260100, "energy_total", RegisterRole.COUNTER),
        Register(0x00262200, "energy_today", RegisterRole.COUNTER),
        Register(0x00214800, "device_status", RegisterRole.STATUS),
        Register(0x00416400, "grid_relay", RegisterRole.STATUS),
        Register(0x00237700, "device_temperature", RegisterRole.MEASURE, 100),
        Register(0x00295A00, "bat_fuel_charge", RegisterRole.MEASURE),
        Register(0x00495B00, "bat_temperature", RegisterRole.MEASURE, 10),
        Register(0x00495C00, "bat_voltage", RegisterRole.MEASURE, 100),
        Register(0x00495D00, "bat_charge_current", RegisterRole.MEASURE, 1000),
        Register(0x00496900, "bat_power_plus", RegisterRole.POWER),
        Register(0x00496A00, "bat_power_minus", RegisterRole.POWER),
        Register(0x00463600, "grid_power_minus", RegisterRole.POWER),  # feed-in (export)
        Register(0x00463700, "grid_power_plus", RegisterRole.POWER),  # draw (import)
    )
}

# Field → register, for the simulators; where two registers carry a field (the AC currents of
# older and newer models), the newer one.
LRI_OF: dict[str, int] = {register.field: lri for lri, register in sorted(REGISTERS.items())}
# Read by no kind, but sent by devices in the AC range: the line-to-line voltages (sma.md §4)
LRI_LINE_VOLTAGE = 0x00464B00

# Status tags (SMA's numbers) and what we call them; `ok` for the flag fields.
STATUS_NAMES: dict[int, str] = {
    35: "Fault",
    51: "Closed",
    303: "Off",
    307: "Ok",
    311: "Open",
    381: "Stop",
    455: "Warning",
    1392: "Fault",
    1795: "Locked",
    16777213: "Not available",
}
STATUS_OK = {"device_status": {307}, "grid_relay": {51}}

DEVICE_CLASSES: dict[int, str] = {
    8000: "any device",
    8001: "PV inverter",
    8002: "wind turbine inverter",
    8007: "battery inverter",
    8009: "hybrid inverter",
    8033: "load",
    8064: "sensor",
    8065: "energy meter",
    8128: "communication device",
}


RAW_LIMIT = 2**53  # SMA's raw values are 32 or 64 bits; a JSON number beyond is no reading
PLACES = 3  # decimals of a measured value (V, A, Hz, °C, %)


def field_value(role: RegisterRole, raw: float | None, divisor: int = 1) -> FieldValue | None:
    """A register's raw value as its field's value: the one conversion of all three SMA kinds
    (Speedwire's records, WebConnect's and ennexOS's JSON). `raw` None is "not a number" (the
    sentinel, or JSON null); None back: no value, the field is left out. Rounded half away from
    zero; a negative value is kept, for the core to treat as the field's catalogue says."""
    if raw is None:
        return 0 if role is RegisterRole.PV_POWER else None
    if isinstance(raw, bool) or not math.isfinite(raw) or abs(raw) >= RAW_LIMIT:
        return None
    value = raw / divisor if divisor != 1 else raw
    if role in (RegisterRole.PV_POWER, RegisterRole.POWER):
        return round_int(value)
    if role is RegisterRole.COUNTER:
        whole = round_int(value)
        return whole if whole > 0 else None  # a 0 would look like a counter reset
    if role is RegisterRole.MEASURE:
        return round_to(value, PLACES)
    raise ValueError(f"{role} has no number")


def status_name(code: int) -> str:
    return STATUS_NAMES.get(code, str(code))
