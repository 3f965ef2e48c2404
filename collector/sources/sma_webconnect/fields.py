"""The `sma-webconnect` kind's catalogue: the Speedwire kind's fields, plus what an inverter's
web interface reports beyond them (its energy meter's counters and the house's consumption).
Names it shares with other kinds mean the same there."""

from __future__ import annotations

from collector.reading import FieldSpec, Negative, catalogue
from collector.sources.sma.fields import FIELDS as SPEEDWIRE
from collector.sources.sma_em.fields import FIELDS as METER

FIELDS = catalogue(
    [
        *(spec for name, spec in SPEEDWIRE.items() if name != "response_duration"),
        METER["grid_energy_plus"],
        METER["grid_energy_minus"],
        FieldSpec("house_power", int, "W", "house consumption", negative=Negative.INVALID),
        SPEEDWIRE["response_duration"],
    ]
)
