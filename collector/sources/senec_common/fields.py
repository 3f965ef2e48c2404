"""The SENEC kinds' fields: SOLECTRUS names, units and types. The local kind writes them all;
SENEC's cloud and SENEC.Connect write those their APIs give, under the same names, so that a
dashboard works with any of them."""

from __future__ import annotations

from collector import house_fields as house
from collector.reading import NO_CLASS, Aggregation, FieldSpec, Negative, catalogue

SENEC_FIELDS = catalogue(
    [
        FieldSpec("inverter_power", int, "W", "PV production", negative=Negative.ZERO),
        *(
            FieldSpec(
                f"mpp{n}_power", int, "W", f"PV string (MPP tracker) {n}", negative=Negative.ZERO
            )
            for n in (1, 2, 3)
        ),
        house.HOUSE_POWER,
        house.BAT_POWER_PLUS,
        house.BAT_POWER_MINUS,
        house.BAT_FUEL_CHARGE,
        house.BAT_CHARGE_CURRENT,
        house.BAT_VOLTAGE,
        house.GRID_POWER_PLUS,
        house.GRID_POWER_MINUS,
        FieldSpec(
            "wallbox_charge_power",
            int,
            "W",
            "charging power of all wallboxes",
            negative=Negative.INVALID,
        ),
        *(
            FieldSpec(
                f"wallbox_charge_power{n}",
                int,
                "W",
                f"charging power of wallbox {n + 1}",
                negative=Negative.INVALID,
            )
            for n in range(4)
        ),
        FieldSpec("ev_connected", bool, "", "a car is plugged into any wallbox"),
        FieldSpec("power_ratio", float, "%", "grid export limit currently in effect"),
        FieldSpec("case_temp", float, "°C", "temperature inside the case"),
        FieldSpec("current_state", str, "", "operating state as text, as SENEC names it"),
        FieldSpec(
            "current_state_code",
            int,
            "",
            "operating state as the device's number",
            Aggregation.LAST,
        ),
        FieldSpec("current_state_ok", bool, "", "whether the operating state is a normal one"),
        FieldSpec("application_version", str, "", 'firmware (application) version, e.g. "0826"'),
        FieldSpec(
            "measure_time",
            int,
            "s",
            "the reading's time as Unix seconds (UTC)",
            Aggregation.LAST,
            device_class=NO_CLASS,  # a moment, not a duration
            state_class=NO_CLASS,
        ),
        house.RESPONSE_DURATION,
    ]
)
