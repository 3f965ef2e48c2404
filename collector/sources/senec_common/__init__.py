"""What the SENEC kinds (local, cloud, SENEC.Connect) have in common, owned by none of them:
the headline values of a reading's log line; their fields are in `fields`."""

from __future__ import annotations

from typing import Any

from collector.reading import Reading


def headline(reading: Reading, wanted: int) -> dict[str, Any]:
    """A SENEC reading's headline values for its log line (local and cloud alike)."""
    fields = reading.fields
    out: dict[str, Any] = {"time": reading.time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if "response_duration" in fields:
        out["duration_ms"] = fields["response_duration"]
    if "current_state" in fields:
        out["state"] = fields["current_state"]
    for label, name in (("inverter_w", "inverter_power"), ("house_w", "house_power")):
        if name in fields:
            out[label] = fields[name]
    if "bat_power_plus" in fields and "bat_power_minus" in fields:
        out["battery_w"] = int(fields["bat_power_plus"]) - int(fields["bat_power_minus"])
    if "bat_fuel_charge" in fields:
        out["soc_pct"] = fields["bat_fuel_charge"]
    if "grid_power_plus" in fields and "grid_power_minus" in fields:
        out["grid_w"] = int(fields["grid_power_plus"]) - int(fields["grid_power_minus"])
    if "wallbox_charge_power" in fields:
        out["wallbox_w"] = fields["wallbox_charge_power"]
    missing = wanted - len(fields)
    if missing:
        out["missing_fields"] = missing
    return out
