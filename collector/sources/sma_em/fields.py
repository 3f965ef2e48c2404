"""The `sma-em` kind's field catalogue. Names it shares with other kinds mean the same there."""

from __future__ import annotations

from collector.reading import Aggregation, FieldSpec, Negative, catalogue

PHASES = (1, 2, 3)

FIELDS = catalogue(
    [
        FieldSpec(
            "grid_power_plus", int, "W", "power imported from the grid", negative=Negative.INVALID
        ),
        FieldSpec(
            "grid_power_minus",
            int,
            "W",
            "power exported to the grid (positive number)",
            negative=Negative.INVALID,
        ),
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
        FieldSpec("grid_power_factor", float, "", "power factor (cos φ) at the grid connection"),
        FieldSpec("grid_frequency", float, "Hz", "grid frequency"),
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
        FieldSpec("samples", int, "", "datagrams the reading is made from", Aggregation.LAST),
    ]
)
