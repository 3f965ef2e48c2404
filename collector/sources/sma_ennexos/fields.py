"""The `sma-ennexos` kind's catalogue: the Speedwire kind's fields and an energy meter's
counters, as WebConnect's. Names it shares with other kinds mean the same there."""

from __future__ import annotations

from collector.house_fields import INTERVAL_ENERGY
from collector.reading import catalogue
from collector.sources.sma_common.fields import WEB_FIELDS

# Backfill: the device's 15-minute energies (`measurements/search`, aggregate Dif)
LOGGED = ("inverter_energy", "grid_import_energy", "grid_export_energy")

# ennexOS names no house-consumption channel (sma.md §7b.5)
FIELDS = catalogue(
    [
        *(spec for name, spec in WEB_FIELDS.items() if name != "house_power"),
        *(spec for spec in INTERVAL_ENERGY if spec.name in LOGGED),
    ]
)
