"""The `senec-connect` kind's field catalogue: the local kind's names where they mean the same."""

from __future__ import annotations

from collector.reading import catalogue
from collector.sources.senec_common.fields import SENEC_FIELDS

FIELDS = catalogue(
    SENEC_FIELDS[name]
    for name in (
        "inverter_power",
        "house_power",
        "grid_power_plus",
        "grid_power_minus",
        "bat_power_plus",
        "bat_power_minus",
        "bat_fuel_charge",
        "bat_voltage",
        "bat_charge_current",
        "ev_connected",
        "wallbox_charge_power",
        "measure_time",
    )
)
