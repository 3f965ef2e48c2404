"""What the SMA kinds (Speedwire, WebConnect, ennexOS, Energy Meter) have in common, owned by
none of them: the `serial` tag of every reading, and the headline values of a reading's log
line.

Every reading of an SMA kind carries its device's `serial`, always, not only when another
device shares the measurement: a series never changes its tags because a device was added, and
the dashboard's per-inverter panels group by it. A device that tells no serial gets the
instance's name in its place, said once.
"""

from __future__ import annotations

from typing import Any

from collector.errors import DeviceUnreachable
from collector.logging import get_logger
from collector.reading import Reading

SERIAL = "serial"


class InverterSilent(DeviceUnreachable):
    """No answer at all: asleep for the night (older models) or unreachable. The poll loop
    reports it once and backs off at once, instead of warning about each missed poll."""

    asleep = True


class SerialTag:
    """The tags of one SMA device's readings."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._said = False

    def tags(self, serial: str | int | None) -> dict[str, str]:
        if serial is not None and str(serial).strip():
            return {SERIAL: str(serial).strip()}
        if not self._said:
            self._said = True
            get_logger(source=self.name).warning(
                "device tells no serial",
                serial=self.name,
                note="its readings carry the instance's name as serial instead",
            )
        return {SERIAL: self.name}


def reading_summary(reading: Reading) -> dict[str, Any]:
    """The headline values of an SMA reading for its log line (all three SMA kinds)."""
    f = reading.fields
    summary: dict[str, Any] = {
        "time": reading.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_ms": f.get("response_duration"),
        "status": f.get("device_status"),
        "ac_w": f.get("ac_power"),
        "dc_w": f.get("dc_power"),
        "today_wh": f.get("energy_today"),
        "soc_pct": f.get("bat_fuel_charge"),
        "house_w": f.get("house_power"),
    }
    plus, minus = f.get("grid_power_plus"), f.get("grid_power_minus")
    if isinstance(plus, int) and isinstance(minus, int):
        summary["grid_w"] = plus - minus
    if reading.tags:
        summary["serial"] = reading.tags.get("serial")
    return {key: value for key, value in summary.items() if value is not None}
