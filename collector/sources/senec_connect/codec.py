"""SENEC.Connect's answers without I/O: the systems and their fields, and its error answers.

`GET <url>/systems/device-data/general?include=battery,meter,evse,bessNameplate` answers a JSON
list with one object per system of the account: `battery` {state, state_of_charge (%), power
(W, + charging), voltage (V), current (A)}, `meter` {grid_power (W, + import), consumption (W),
production (W)}, `evse` [{id, ev_connected, ev_charging, charging_power (W)}] and
`bessNameplate` {manufacturer, model, serial_number, system_id, ...}. A section SENEC has no
data for is missing or null (V3 systems today have nothing but the nameplate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from collector.errors import ProtocolError
from collector.values import round1, round_int

PATH = "/systems/device-data/general"
INCLUDE = "battery,meter,evse,bessNameplate"


@dataclass
class ConnectSystem:
    id: str  # the nameplate's system_id, else its serial number, else its place in the list
    model: str
    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return any(name != "measure_time" for name in self.fields)


def _number(section: Any, key: str) -> float | None:
    value = section.get(key) if isinstance(section, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def systems_of(answer: Any) -> list[ConnectSystem]:
    """Every system of an answer with the fields it has; ProtocolError if it is no list."""
    if not isinstance(answer, list):
        raise ProtocolError(
            f"SENEC.Connect answered no list of systems but {type(answer).__name__}"
        )
    return [_system(item, place) for place, item in enumerate(answer, 1)]


def _system(item: Any, place: int) -> ConnectSystem:
    if not isinstance(item, dict):
        return ConnectSystem(str(place), "?", problems=["the entry is no object"])
    plate = item.get("bessNameplate")
    plate = plate if isinstance(plate, dict) else {}
    ident = plate.get("system_id") or plate.get("serial_number") or place
    system = ConnectSystem(str(ident), str(plate.get("model") or "?"))
    fields, problems = system.fields, system.problems
    battery, meter = item.get("battery"), item.get("meter")

    def signed(section: Any, key: str, plus: str, minus: str) -> None:
        value = _number(section, key)
        if value is None:
            if isinstance(section, dict):
                problems.append(f"{key} missing or not a number")
            return
        rounded = round_int(value)
        fields[plus], fields[minus] = max(rounded, 0), max(-rounded, 0)

    def plain(section: Any, key: str, name: str, rounding: Any) -> None:
        value = _number(section, key)
        if value is not None:
            fields[name] = rounding(value)
        elif isinstance(section, dict) and key in section and section[key] is not None:
            problems.append(f"{key} not a number")

    signed(battery, "power", "bat_power_plus", "bat_power_minus")
    plain(battery, "state_of_charge", "bat_fuel_charge", round1)
    plain(battery, "voltage", "bat_voltage", round1)
    plain(battery, "current", "bat_charge_current", round1)
    signed(meter, "grid_power", "grid_power_plus", "grid_power_minus")
    plain(meter, "consumption", "house_power", lambda value: max(round_int(value), 0))
    plain(meter, "production", "inverter_power", lambda value: max(round_int(value), 0))
    chargers = item.get("evse")
    if isinstance(chargers, list) and chargers:
        powers = [_number(charger, "charging_power") for charger in chargers]
        if all(power is not None for power in powers):
            fields["wallbox_charge_power"] = sum(max(round_int(p or 0.0), 0) for p in powers)
        else:
            problems.append("a charger's charging_power missing or not a number")
        connected = [
            charger.get("ev_connected") for charger in chargers if isinstance(charger, dict)
        ]
        if connected and all(isinstance(flag, bool) for flag in connected):
            fields["ev_connected"] = any(connected)
    return system


def problem_of(status: int, answer: Any) -> str:
    """SENEC.Connect's own words for an error answer: APIM's {statusCode, message}, or an RFC
    7807 problem {title, detail}; empty if it gave none."""
    if not isinstance(answer, dict):
        return ""
    if isinstance(answer.get("message"), str):
        return str(answer["message"])
    parts = [answer.get(key) for key in ("title", "detail")]
    return ": ".join(str(part) for part in parts if isinstance(part, str) and part)
