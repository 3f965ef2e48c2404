"""The `sma-em` kind's field catalogue. Names it shares with other kinds mean the same there."""

from __future__ import annotations

from collector.house_fields import GRID_POWER_MINUS, GRID_POWER_PLUS
from collector.reading import Aggregation, FieldSpec, Negative, catalogue
from collector.sources.sma_common.fields import METER_COUNTERS

PHASES = (1, 2, 3)

FIELDS = catalogue(
    [
        GRID_POWER_PLUS,
        GRID_POWER_MINUS,
        *(
            FieldSpec(
                f"grid_power_plus_l{n}",
                int,
                "W",
                f"power imported on phase L{n}",
                negative=Negative.INVALID,
            )
            for n in PHASES
        ),
        *(
            FieldSpec(
                f"grid_power_minus_l{n}",
                int,
                "W",
                f"power exported on phase L{n} (positive)",
                negative=Negative.INVALID,
            )
            for n in PHASES
        ),
        *(FieldSpec(f"grid_voltage_l{n}", float, "V", f"grid voltage L{n}-N") for n in PHASES),
        *(
            FieldSpec(f"grid_current_l{n}", float, "A", f"grid current on phase L{n}")
            for n in PHASES
        ),
        FieldSpec(
            "grid_power_factor",
            float,
            "",
            "power factor (cos φ) at the grid connection",
            device_class="power_factor",
        ),
        FieldSpec("grid_frequency", float, "Hz", "grid frequency"),
        *METER_COUNTERS,
        FieldSpec("samples", int, "", "datagrams the reading is made from", Aggregation.LAST),
    ]
)
