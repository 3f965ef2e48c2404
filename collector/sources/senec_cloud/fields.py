"""The `senec-cloud` kind's field catalogue: the local kind's fields that SENEC's app API gives.

The same names, types and units as the kind `senec`, so that a dashboard works with either.
"""

from __future__ import annotations

from collector.reading import NO_CLASS, FieldSpec, catalogue
from collector.sources.senec_common.fields import SENEC_FIELDS

# Every poll (the dashboard, and each wallbox of the system)
MINIMAL = (
    "inverter_power",
    "house_power",
    "grid_power_plus",
    "grid_power_minus",
    "bat_power_plus",
    "bat_power_minus",
    "bat_fuel_charge",
    "ev_connected",
    "wallbox_charge_power",
    "measure_time",
)
# SENEC_REQUEST_MODE=full adds the system's details
FULL = ("case_temp", "application_version", "current_state", "current_state_ok")

LIVE = (*MINIMAL, *FULL)


def _energy(name: str, what: str) -> FieldSpec:
    # an interval's energy, no counter: never summed up by Home Assistant as one
    return FieldSpec(name, float, "Wh", f"{what} in the interval", state_class=NO_CLASS)


# Backfill: SENEC's 5-minute energies, in the measurement `<measurement>_ENERGY`, each point at
# its interval's start (collector.backfill; SENEC's `measurements?resolution=FIVE_MINUTES`)
ENERGY = (
    _energy("inverter_energy", "PV energy"),
    _energy("house_energy", "energy the house used"),
    _energy("grid_import_energy", "energy drawn from the grid"),
    _energy("grid_export_energy", "energy fed into the grid"),
    _energy("bat_charge_energy", "energy into the battery"),
    _energy("bat_discharge_energy", "energy out of the battery"),
    _energy("wallbox_energy", "energy of the wallboxes"),
)

FIELDS = catalogue([*(SENEC_FIELDS[name] for name in LIVE), *ENERGY])
