"""`collector report --day YYYY-MM-DD --out day.png`: a day's power flow and energy as a picture.

It asks InfluxDB (InfluxQL over /query, which 1.x and 2.x both answer) for the house fields of
one measurement, the ones every kind with a house view writes under the same names, and draws
them with matplotlib: the power flow through the day (sources above zero, uses below) with the
battery's charge, and the day's energies with autarky and self-consumption.

The energies are the readings' trapezoids, window by 5-minute window; where the collector was
away and the device's log filled the gap (backfill's `<measurement>_ENERGY`), the log's energy
of those windows. Two readings more than ten minutes apart are a gap, never a straight line.
The dashboard's "Energy per day" counts the same way, with each window's mean power instead of
its trapezoids (InfluxQL has no trapezoids that stop at a gap).

matplotlib is an optional extra (`pip install 'energy-collector[report]'`); the image leaves it
out. Run it where Python is, against InfluxDB's published port.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from collector.config import InfluxSettings
from collector.house_fields import ENERGY_SUFFIX

# The normalised fields of a house view (names every kind shares), with their labels and colours
# (the dashboard's). Energy is the integral of the power over the day.
Series = tuple[tuple[str, str, str], ...]  # (field, label, colour)
SOURCES: Series = (
    ("inverter_power", "PV", "gold"),
    ("bat_power_minus", "battery out", "navy"),
    ("grid_power_plus", "grid import", "tab:red"),
)
USES: Series = (
    ("house_power", "house", "tab:purple"),
    ("bat_power_plus", "battery in", "tab:blue"),
    ("grid_power_minus", "grid export", "tab:green"),
)
CHARGE = "bat_fuel_charge"
HOUSE_FIELDS = tuple(name for name, _, _ in SOURCES + USES)
STEP = "5m"  # the power curve's resolution
# The log's interval energies of each power field (backfill's `<measurement>_ENERGY`)
LOG_FIELDS = {
    "inverter_power": "inverter_energy",
    "house_power": "house_energy",
    "grid_power_plus": "grid_import_energy",
    "grid_power_minus": "grid_export_energy",
    "bat_power_plus": "bat_charge_energy",
    "bat_power_minus": "bat_discharge_energy",
}
LOG_WINDOW = 300  # seconds: the log's intervals (SENEC's cloud: five minutes)
MAX_BRIDGE = 600.0  # seconds between two readings beyond which they are a gap


class ReportError(Exception):
    """Why there is no picture, in one line."""


@dataclass
class Day:
    day: date
    zone: tzinfo
    measurement: str
    times: list[datetime]
    power: dict[str, list[float | None]]  # field -> W per step
    charge: list[float | None]
    energy: dict[str, float]  # field -> kWh

    @property
    def autarky(self) -> float | None:
        """The share of the house's use not drawn from the grid, in %."""
        return _share_kept(self.energy.get("house_power"), self.energy.get("grid_power_plus"))

    @property
    def self_consumption(self) -> float | None:
        """The share of PV not exported, in %."""
        return _share_kept(self.energy.get("inverter_power"), self.energy.get("grid_power_minus"))

    def summary(self) -> str:
        labels = {name: label for name, label, _ in SOURCES + USES}
        parts = [f"{labels[name]} {_energy_text(kwh)}" for name, kwh in self.energy.items()]
        if self.autarky is not None:
            parts.append(f"autarky {self.autarky:.0f} %")
        if self.self_consumption is not None:
            parts.append(f"self-consumption {self.self_consumption:.0f} %")
        return ", ".join(parts)


def _energy_text(kwh: float) -> str:
    return f"{kwh:.2f} kWh" if kwh >= 1 else f"{kwh * 1000:.0f} Wh"


def _share_kept(whole: float | None, given_away: float | None) -> float | None:
    if not whole or given_away is None:
        return None
    return max(0.0, min(100.0, 100 * (1 - given_away / whole)))


def zone_named(name: str | None) -> tzinfo:
    if not name:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(
            f"--timezone: no time zone {name!r} (an IANA name: Europe/Berlin)"
        ) from None


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


class InfluxQL:
    """InfluxQL queries over /query with the collector's INFLUX_* settings."""

    def __init__(self, settings: InfluxSettings) -> None:
        self.settings = settings
        params: dict[str, str] = {"epoch": "s"}
        headers: dict[str, str] = {}
        auth: tuple[str, str] | None = None
        if settings.api == "v1":
            database, rp = settings.database_and_rp
            params["db"] = database
            if rp:
                params["rp"] = rp
            auth = settings.credentials
        else:
            params["db"] = settings.bucket or ""
            if settings.token is not None:
                headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        self._params, self._headers, self._auth = params, headers, auth

    def series(self, query: str) -> list[dict[str, Any]]:
        url = f"{self.settings.effective_url}/query"
        try:
            response = httpx.post(
                url,
                params={**self._params, "q": query},
                headers=self._headers,
                auth=self._auth,
                timeout=self.settings.timeout,
            )
        except httpx.HTTPError as exc:
            raise ReportError(f"InfluxDB at {self.settings.effective_url}: {exc}") from None
        if response.status_code in (401, 403):
            raise ReportError(
                f"InfluxDB refused the query (HTTP {response.status_code}): check INFLUX_TOKEN"
            )
        try:
            body = response.json()
            result = body["results"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ReportError(
                f"InfluxDB answered HTTP {response.status_code} without a result: "
                f"{response.text[:200]}"
            ) from None
        if "error" in result or response.status_code >= 400:
            raise ReportError(f"InfluxDB refused the query: {result.get('error', response.text)}")
        found: list[dict[str, Any]] = result.get("series", [])
        return found


def read_day(influx: InfluxQL, measurement: str, day: date, zone: tzinfo) -> Day:
    start, end = day_bounds(day, zone)
    span = f"WHERE time >= {int(start.timestamp())}s AND time < {int(end.timestamp())}s"
    where = f'FROM "{_quoted(measurement)}" {span}'
    means = ", ".join(f'mean("{name}") AS "{name}"' for name in (*HOUSE_FIELDS, CHARGE))
    curve = influx.series(f"SELECT {means} {where} GROUP BY time({STEP}) fill(null)")
    fields = ", ".join(f'"{name}"' for name in HOUSE_FIELDS)
    raw = influx.series(f"SELECT {fields} {where}")
    logged = influx.series(f'SELECT * FROM "{_quoted(measurement + ENERGY_SUFFIX)}" {span}')
    if not curve or not raw:
        raise ReportError(
            f"no readings in {measurement!r} on {day.isoformat()} ({start:%Y-%m-%d %H:%M} to "
            f"{end:%Y-%m-%d %H:%M} UTC): check the measurement (--measurement) and the day"
        )
    columns = curve[0]["columns"]
    # steps without a reading are left out, not drawn as zero (a gap is a straight line)
    rows = [row for row in curve[0]["values"] if any(value is not None for value in row[1:])]
    power = {name: [row[columns.index(name)] for row in rows] for name in HOUSE_FIELDS}
    energy = day_energy(_points(raw), _points(logged))
    return Day(
        day=day,
        zone=zone,
        measurement=measurement,
        times=[datetime.fromtimestamp(row[0], UTC).astimezone(zone) for row in rows],
        power=power,
        charge=[row[columns.index(CHARGE)] for row in rows],
        energy=energy,
    )


def _points(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of InfluxQL series as dicts (time in Unix seconds)."""
    result = []
    for item in series:
        columns = item["columns"]
        result += [dict(zip(columns, row, strict=True)) for row in item["values"]]
    return result


def day_energy(readings: list[dict[str, Any]], logged: list[dict[str, Any]]) -> dict[str, float]:
    """Each house field's energy (kWh): for every 5-minute window the log's energy where it has
    the window (backfill's `<measurement>_ENERGY`, written where the collector was away), else
    the trapezoids of the power readings in it. Two readings more than MAX_BRIDGE apart are a
    gap, not a straight line: what lies between counts only where the log has it."""
    energy: dict[str, float] = {}
    log_windows = {int(row["time"]) // LOG_WINDOW: row for row in logged}
    for name in HOUSE_FIELDS:
        samples = sorted(
            (float(row["time"]), float(row[name])) for row in readings if row.get(name) is not None
        )
        if not samples:
            continue
        by_window: dict[int, float] = {}
        for (t1, v1), (t2, v2) in itertools.pairwise(samples):
            if t2 - t1 > MAX_BRIDGE:
                continue
            _spread_trapezoid(by_window, t1, v1, t2, v2)
        wh = sum(area for window, area in by_window.items() if window not in log_windows)
        field = LOG_FIELDS[name]
        wh += sum(float(row[field]) for row in log_windows.values() if row.get(field) is not None)
        energy[name] = wh / 1000
    return energy


def _spread_trapezoid(
    by_window: dict[int, float], t1: float, v1: float, t2: float, v2: float
) -> None:
    """The area (Wh) between two readings, cut at the windows' edges (linear in between)."""
    at, value = t1, v1
    while at < t2:
        edge = min((math.floor(at / LOG_WINDOW) + 1) * LOG_WINDOW, t2)
        next_value = v1 + (v2 - v1) * (edge - t1) / (t2 - t1)
        window = int(at // LOG_WINDOW)
        by_window[window] = (
            by_window.get(window, 0.0) + (value + next_value) / 2 * (edge - at) / 3600
        )
        at, value = edge, next_value


def _quoted(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def matplotlib_missing() -> bool:
    return importlib.util.find_spec("matplotlib") is None


def draw(day: Day, out: Path) -> None:
    """The picture: power flow and charge above, the day's energies below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    figure, (flow, bars) = plt.subplots(
        2, 1, figsize=(11, 8), gridspec_kw={"height_ratios": [3, 1.3]}, constrained_layout=True
    )
    figure.suptitle(f"{day.measurement}: {day.day.isoformat()}")

    def kw(values: list[float | None]) -> list[float]:
        return [(value or 0.0) / 1000 for value in values]

    up = [kw(day.power[name]) for name, _, _ in SOURCES]
    down = [[-value for value in kw(day.power[name])] for name, _, _ in USES]
    flow.stackplot(
        day.times, *up, labels=[label for _, label, _ in SOURCES], colors=[c for *_, c in SOURCES]
    )
    flow.stackplot(
        day.times, *down, labels=[label for _, label, _ in USES], colors=[c for *_, c in USES]
    )
    flow.axhline(0, color="black", linewidth=0.6)
    flow.set_ylabel("kW (sources up, uses down)")
    flow.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=day.zone))  # type: ignore[no-untyped-call]
    flow.set_xlim(day_bounds(day.day, day.zone))
    flow.legend(loc="upper left", ncols=3, fontsize="small")
    flow.grid(alpha=0.3)
    if any(value is not None for value in day.charge):
        charge = flow.twinx()
        charge.plot(day.times, day.charge, color="tab:cyan", linewidth=1.5, label="charge")
        charge.set_ylim(0, 100)
        charge.set_ylabel("battery charge %")

    labels = {name: label for name, label, _ in SOURCES + USES}
    colours = {name: colour for name, _, colour in SOURCES + USES}
    names = [name for name in HOUSE_FIELDS if name in day.energy]
    bars.barh(
        [labels[name] for name in names],
        [day.energy[name] for name in names],
        color=[colours[name] for name in names],
    )
    for index, name in enumerate(names):
        bars.text(day.energy[name], index, f" {day.energy[name]:.1f}", va="center")
    bars.set_xlabel("kWh")
    shares = []
    if day.autarky is not None:
        shares.append(f"autarky {day.autarky:.0f} %")
    if day.self_consumption is not None:
        shares.append(f"self-consumption {day.self_consumption:.0f} %")
    bars.set_title("  ·  ".join(shares) or "energy of the day", fontsize="medium")
    bars.invert_yaxis()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)


def house_measurement(measurements: Mapping[str, set[str]]) -> str | None:
    """The first configured instance's measurement whose kind writes the house fields."""
    for measurement, fields in measurements.items():
        if {"house_power", "inverter_power"} <= fields:
            return measurement
    return None
