"""The SMA kinds' field catalogues, from one set of specs: an inverter's fields (what Speedwire
reads, and the web kinds with it), an energy meter's counters, and what an inverter's web
interface reports beyond Speedwire. Each kind's `fields.py` names its catalogue from these.
Names shared with other kinds mean the same there (a test checks every pair)."""

from __future__ import annotations

from collector import house_fields as house
from collector.reading import Aggregation, FieldSpec, FieldValue, Negative, catalogue

MAX_STRINGS = 6

INVERTER_FIELDS = catalogue(
    [
        FieldSpec("ac_power", int, "W", "AC power fed out by the inverter", negative=Negative.ZERO),
        *(
            FieldSpec(f"ac_power_l{n}", int, "W", f"AC power on phase L{n}", negative=Negative.ZERO)
            for n in (1, 2, 3)
        ),
        *(FieldSpec(f"ac_voltage_l{n}", float, "V", f"AC voltage L{n}-N") for n in (1, 2, 3)),
        *(
            FieldSpec(f"ac_current_l{n}", float, "A", f"AC current on phase L{n}")
            for n in (1, 2, 3)
        ),
        FieldSpec("grid_frequency", float, "Hz", "grid frequency"),
        FieldSpec("dc_power", int, "W", "DC power of all PV strings", negative=Negative.ZERO),
        *(
            FieldSpec(
                f"mpp{n}_power", int, "W", f"PV string (MPP tracker) {n}", negative=Negative.ZERO
            )
            for n in range(1, MAX_STRINGS + 1)
        ),
        *(
            FieldSpec(f"mpp{n}_voltage", float, "V", f"DC voltage of string {n}")
            for n in range(1, MAX_STRINGS + 1)
        ),
        *(
            FieldSpec(f"mpp{n}_current", float, "A", f"DC current of string {n}")
            for n in range(1, MAX_STRINGS + 1)
        ),
        FieldSpec(
            "energy_total",
            int,
            "Wh",
            "energy produced since the inverter was installed",
            Aggregation.LAST,
        ),
        FieldSpec("energy_today", int, "Wh", "energy produced today", Aggregation.LAST),
        FieldSpec("device_status", str, "", "device status: Ok, Warning, Fault, Off"),
        FieldSpec(
            "device_status_code",
            int,
            "",
            "device status as SMA's number (307 = Ok)",
            Aggregation.LAST,
        ),
        FieldSpec("device_status_ok", bool, "", "whether the device status is Ok"),
        FieldSpec("grid_relay", str, "", "grid relay: Closed (feeding in) or Open"),
        FieldSpec(
            "grid_relay_code", int, "", "grid relay as SMA's number (51 = Closed)", Aggregation.LAST
        ),
        FieldSpec("grid_relay_ok", bool, "", "whether the grid relay is closed"),
        FieldSpec("device_temperature", float, "°C", "inverter temperature"),
        # battery inverters
        house.BAT_FUEL_CHARGE,
        house.BAT_POWER_PLUS,
        house.BAT_POWER_MINUS,
        house.BAT_VOLTAGE,
        house.BAT_CHARGE_CURRENT,
        FieldSpec("bat_temperature", float, "°C", "battery temperature"),
        # an energy meter on the inverter
        house.GRID_POWER_PLUS,
        house.GRID_POWER_MINUS,
        house.RESPONSE_DURATION,
    ]
)


def battery_current_sign(fields: dict[str, FieldValue]) -> None:
    """bat_charge_current is + while charging, − while discharging (the catalogue's meaning).
    SMA's sign depends on the model (sma.md §4: "verify"; the Sunny Tripower 6.0 SE reports
    -4.773 A while charging 2048 W over WebConnect), so both SMA kinds take the direction from
    the battery's powers."""
    current = fields.get("bat_charge_current")
    charging, discharging = fields.get("bat_power_plus"), fields.get("bat_power_minus")
    if not isinstance(current, float) or not isinstance(charging, int):
        return
    if not isinstance(discharging, int) or charging == discharging:
        return  # no direction to go by: as the device says
    fields["bat_charge_current"] = abs(current) if charging > discharging else -abs(current)


def add_derived(fields: dict[str, FieldValue]) -> None:
    """What both SMA kinds derive from the values read: `dc_power` as the sum of the strings,
    and the battery current's sign (below)."""
    strings = [
        v for n in range(1, MAX_STRINGS + 1) if isinstance(v := fields.get(f"mpp{n}_power"), int)
    ]
    if strings:
        fields["dc_power"] = sum(strings)
    battery_current_sign(fields)


# An energy meter's counters: the sma-em kind's, and what WebConnect and ennexOS report of the
# meter attached to the inverter.
METER_COUNTERS = (
    FieldSpec(
        "grid_energy_plus",
        int,
        "Wh",
        "energy imported from the grid, the meter's counter",
        Aggregation.LAST,
    ),
    FieldSpec(
        "grid_energy_minus",
        int,
        "Wh",
        "energy exported to the grid, the meter's counter",
        Aggregation.LAST,
    ),
)

# An inverter's web interface (WebConnect): the inverter's fields, the meter's counters and the
# house's consumption.
WEB_FIELDS = catalogue(
    [
        *(spec for name, spec in INVERTER_FIELDS.items() if name != "response_duration"),
        *METER_COUNTERS,
        house.HOUSE_POWER,
        INVERTER_FIELDS["response_duration"],
    ]
)
