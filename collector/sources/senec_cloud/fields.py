"""The `senec-cloud` kind's field catalogue: the local kind's fields that SENEC's app API gives.

The same names, types and units as the kind `senec`, so that a dashboard works with either.
"""

from __future__ import annotations

from collector.house_fields import INTERVAL_ENERGY
from collector.reading import catalogue
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


# Backfill: SENEC's 5-minute energies (`measurements?resolution=FIVE_MINUTES`)
FIELDS = catalogue([*(SENEC_FIELDS[name] for name in LIVE), *INTERVAL_ENERGY])
