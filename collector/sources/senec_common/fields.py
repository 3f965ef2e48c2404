"""The `senec` kind's field catalogue: SOLECTRUS names, units and types."""

from __future__ import annotations

from collector.reading import Aggregation, FieldSpec, Negative, catalogue

FIELDS = catalogue(
    [
        FieldSpec("inverter_power", int, "W", "PV production", negative=Negative.ZERO),
        *(
            FieldSpec(
                f"mpp{n}_power", int, "W", f"PV string (MPP tracker) {n}", negative=Negative.ZERO
            )
            for n in (1, 2, 3)
        ),
        FieldSpec("house_power", int, "W", "house consumption", negative=Negative.INVALID),
        FieldSpec("bat_power_plus", int, "W", "battery charging power", negative=Negative.INVALID),
        FieldSpec(
            "bat_power_minus",
            int,
            "W",
            "battery discharging power (positive number)",
            negative=Negative.INVALID,
        ),
        FieldSpec("bat_fuel_charge", float, "%", "battery state of charge"),
        FieldSpec("bat_charge_current", float, "A", "battery current, negative while discharging"),
        FieldSpec("bat_voltage", float, "V", "battery voltage"),
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
            "measure_time", int, "s", "the reading's time as Unix seconds (UTC)", Aggregation.LAST
        ),
        FieldSpec("response_duration", int, "ms", "how long the device took to answer the poll"),
    ]
)
