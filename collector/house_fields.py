"""The fields that kinds of both families write: the house's power flows and a poll's duration.

One spec per name, which every catalogue that has the field takes from here, so that a SENEC and
an SMA household fill the same dashboard (the catalogue test still compares every name shared).
"""

from __future__ import annotations

from collector.reading import NO_CLASS, FieldSpec, Negative

HOUSE_POWER = FieldSpec("house_power", int, "W", "house consumption", negative=Negative.INVALID)
GRID_POWER_PLUS = FieldSpec(
    "grid_power_plus", int, "W", "power imported from the grid", negative=Negative.INVALID
)
GRID_POWER_MINUS = FieldSpec(
    "grid_power_minus",
    int,
    "W",
    "power exported to the grid (positive number)",
    negative=Negative.INVALID,
)
BAT_POWER_PLUS = FieldSpec(
    "bat_power_plus", int, "W", "battery charging power", negative=Negative.INVALID
)
BAT_POWER_MINUS = FieldSpec(
    "bat_power_minus",
    int,
    "W",
    "battery discharging power (positive number)",
    negative=Negative.INVALID,
)
BAT_FUEL_CHARGE = FieldSpec(
    "bat_fuel_charge", float, "%", "battery state of charge", device_class="battery"
)
BAT_CHARGE_CURRENT = FieldSpec(
    "bat_charge_current", float, "A", "battery current, negative while discharging"
)
BAT_VOLTAGE = FieldSpec("bat_voltage", float, "V", "battery voltage")
RESPONSE_DURATION = FieldSpec(
    "response_duration", int, "ms", "how long the device took to answer the poll"
)


def _interval_energy(name: str, what: str) -> FieldSpec:
    # an interval's energy, no counter (Home Assistant would sum a counter up)
    return FieldSpec(name, float, "Wh", f"{what} in the interval", state_class=NO_CLASS)


# Backfill from a log of interval energies (SENEC's cloud every 5 minutes, an ennexOS device
# every 15): the measurement `<measurement>_ENERGY`, one point per interval at its start.
INTERVAL_ENERGY = (
    _interval_energy("inverter_energy", "PV energy"),
    _interval_energy("house_energy", "energy the house used"),
    _interval_energy("grid_import_energy", "energy drawn from the grid"),
    _interval_energy("grid_export_energy", "energy fed into the grid"),
    _interval_energy("bat_charge_energy", "energy into the battery"),
    _interval_energy("bat_discharge_energy", "energy out of the battery"),
    _interval_energy("wallbox_energy", "energy of the wallboxes"),
)
ENERGY_SUFFIX = "_ENERGY"  # the measurement of interval energies: `<measurement>_ENERGY`
