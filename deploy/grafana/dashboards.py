"""Writes the provisioned Grafana dashboards (deploy/grafana/dashboards/*.json).

    python deploy/grafana/dashboards.py          # after a change here; commit both

The JSON is what Grafana reads and what a user may import by hand; this file is how it is made,
so that every panel has the same data source, units, colours and "no data" text. A test checks
that the committed JSON is what this file makes, and runs every query against real data.

Queries are InfluxQL, which InfluxDB 1.x, 2.x (through the DBRP mapping every bucket has) and
3.x all answer. Template variables pick the measurements (and the serials, and the source
instances), so renamed measurements and several devices need no edit here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DATASOURCE_UID = "energy-influxdb"  # provisioning/datasources/influxdb.yml
SCHEMA_VERSION = 39  # Grafana 11.0 to 11.3 write this one

# Colours: PV yellow, grid import red and export green, battery blue, house purple, wallbox
# orange; the colours of Grafana's palette, by name.
PV, HOUSE, BATTERY, BATTERY_OUT, WALLBOX = "yellow", "purple", "blue", "dark-blue", "orange"
IMPORT, EXPORT = "red", "green"

DS = {"type": "influxdb", "uid": "${datasource}"}
TIME = "WHERE $timeFilter"


@dataclass
class Target:
    query: str
    alias: str = ""
    fmt: str = "time_series"


@dataclass
class Panel:
    kind: str  # stat, timeseries, barchart, row
    title: str
    targets: list[Target] = field(default_factory=list)
    unit: str = "none"
    width: int = 6
    height: int = 8
    color: str | None = None  # a fixed colour; else the palette
    colors: dict[str, str] = field(default_factory=dict)  # series name -> colour
    negative: list[str] = field(default_factory=list)  # series drawn below zero
    no_value: str = "no data"
    description: str = ""
    stacked: bool = False
    bars: bool = False
    decimals: int | None = None
    mappings: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)
    max: float | None = None
    text_mode: str = "auto"
    time_from: str | None = None  # Grafana's "relative time": "now/d" is today so far
    stack: dict[str, str] = field(default_factory=dict)  # series name -> its stacking group


def ok_mapping() -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                "true": {"text": "OK", "color": "green", "index": 0},
                "false": {"text": "PROBLEM", "color": "red", "index": 1},
                "1": {"text": "OK", "color": "green", "index": 2},
                "0": {"text": "PROBLEM", "color": "red", "index": 3},
            },
        }
    ]


def house_rows() -> list[tuple[str, list[Panel]]]:
    h = 'FROM "$house"'
    none = "no SENEC data: pick the measurement in 'House' above"
    now = [
        Panel(
            "stat",
            "PV",
            [Target(f'SELECT last("inverter_power") {h} {TIME}', "PV")],
            "watt",
            4,
            4,
            PV,
            no_value=none,
        ),
        Panel(
            "stat",
            "House",
            [Target(f'SELECT last("house_power") {h} {TIME}', "house")],
            "watt",
            4,
            4,
            HOUSE,
            no_value=none,
        ),
        Panel(
            "stat",
            "Battery (+ charging, − discharging)",
            [
                Target(
                    f'SELECT last("bat_power_plus") - last("bat_power_minus") {h} {TIME}',
                    "battery",
                )
            ],
            "watt",
            4,
            4,
            BATTERY,
            no_value=none,
        ),
        Panel(
            "stat",
            "Grid (+ import, − export)",
            [
                Target(
                    f'SELECT last("grid_power_plus") - last("grid_power_minus") {h} {TIME}',
                    "grid",
                )
            ],
            "watt",
            4,
            4,
            no_value=none,
            thresholds=[(None, EXPORT), (1, IMPORT)],
        ),
        Panel(
            "stat",
            "Wallbox",
            [Target(f'SELECT last("wallbox_charge_power") {h} {TIME}', "wallbox")],
            "watt",
            4,
            4,
            WALLBOX,
            no_value="no wallbox",
        ),
        Panel(
            "stat",
            "Battery charge",
            [Target(f'SELECT last("bat_fuel_charge") {h} {TIME}', "charge")],
            "percent",
            4,
            4,
            no_value=none,
            thresholds=[(None, "red"), (10, "orange"), (25, BATTERY)],
            max=100,
        ),
        Panel(
            "timeseries",
            "Power flow (sources up, uses down)",
            [
                Target(
                    f'SELECT mean("inverter_power") AS "PV", mean("bat_power_minus") AS '
                    f'"battery out", mean("grid_power_plus") AS "grid import", '
                    f'mean("house_power") AS "house", mean("bat_power_plus") AS "battery in", '
                    f'mean("grid_power_minus") AS "grid export" {h} {TIME} '
                    "GROUP BY time($__interval) fill(null)",
                    "$col",
                )
            ],
            "watt",
            16,
            10,
            colors={
                "PV": PV,
                "battery out": BATTERY_OUT,
                "grid import": IMPORT,
                "house": HOUSE,
                "battery in": BATTERY,
                "grid export": EXPORT,
            },
            negative=["house", "battery in", "grid export"],
            stacked=True,
            no_value=none,
            description="PV, battery discharge and grid import stacked above zero; the house "
            "(wallbox included), battery charge and grid export below. The two stacks mirror "
            "each other: what comes in goes somewhere.",
        ),
        Panel(
            "timeseries",
            "Battery state of charge",
            [
                Target(
                    f'SELECT mean("bat_fuel_charge") {h} {TIME} '
                    "GROUP BY time($__interval) fill(null)",
                    "charge",
                )
            ],
            "percent",
            8,
            10,
            BATTERY,
            no_value=none,
            max=100,
        ),
    ]
    strings = [
        Panel(
            "timeseries",
            "PV per string (SENEC)",
            [
                Target(
                    f'SELECT mean("mpp1_power") AS "string 1", mean("mpp2_power") AS "string 2", '
                    f'mean("mpp3_power") AS "string 3" {h} {TIME} '
                    "GROUP BY time($__interval) fill(null)",
                    "$col",
                )
            ],
            "watt",
            8,
            8,
            no_value="no SENEC strings",
        ),
        Panel(
            "timeseries",
            "Wallbox charging",
            [
                Target(
                    f'SELECT mean("wallbox_charge_power") AS "wallbox" {h} {TIME} '
                    "GROUP BY time($__interval) fill(null)",
                    "$col",
                )
            ],
            "watt",
            8,
            8,
            WALLBOX,
            no_value="no wallbox",
        ),
    ]
    return [("The house now", now), ("PV strings and wallbox", strings)]


def sma_rows() -> list[tuple[str, list[Panel]]]:
    s = 'FROM "$sma"'
    serial = '"serial" =~ /^$serial$/'
    by = 'GROUP BY time($__interval), "serial" fill(null)'
    none = "no SMA inverter: pick the measurement in 'SMA' above"
    strings = ", ".join(f'mean("mpp{n}_power") AS "string {n}"' for n in range(1, 7))
    inverters = [
        Panel(
            "timeseries",
            "AC power per inverter",
            [
                Target(
                    f'SELECT mean("ac_power") {s} {TIME} AND {serial} {by}',
                    "inverter $tag_serial",
                )
            ],
            "watt",
            8,
            8,
            PV,
            no_value=none,
        ),
        Panel(
            "timeseries",
            "DC power per string",
            [Target(f"SELECT {strings} {s} {TIME} AND {serial} {by}", "$tag_serial $col")],
            "watt",
            8,
            8,
            no_value=none,
        ),
        Panel(
            "stat",
            "Energy today per inverter",
            [
                Target(
                    f'SELECT spread("energy_total") {s} {TIME} AND {serial} GROUP BY "serial"',
                    "inverter $tag_serial",
                )
            ],
            "watth",
            8,
            8,
            PV,
            no_value=none,
            description=(
                "The rise of each inverter's lifetime counter since midnight, so that devices "
                "without a day counter (the Tripower X over ennexOS) show too."
            ),
            time_from="now/d",
        ),
    ]
    meter = [
        Panel(
            "timeseries",
            "Grid per phase at the meter (+ import, − export)",
            [
                Target(
                    "SELECT "
                    + ", ".join(
                        f'mean("grid_power_{sign}_l{n}") AS "{word} L{n}"'
                        for sign, word in (("plus", "import"), ("minus", "export"))
                        for n in (1, 2, 3)
                    )
                    + ' FROM "$meter" '
                    + f'{TIME} AND "serial" =~ /^$meter_serial$/ '
                    "GROUP BY time($__interval) fill(null)",
                    "$col",
                )
            ],
            "watt",
            12,
            8,
            negative=[f"export L{n}" for n in (1, 2, 3)],
            no_value="no energy meter: pick the measurement in 'Meter' above",
        ),
        Panel(
            "timeseries",
            "Grid voltage per phase",
            [
                Target(
                    'SELECT mean("grid_voltage_l1") AS "L1", mean("grid_voltage_l2") AS "L2", '
                    'mean("grid_voltage_l3") AS "L3" FROM "$meter" '
                    f'{TIME} AND "serial" =~ /^$meter_serial$/ '
                    "GROUP BY time($__interval) fill(null)",
                    "$col",
                )
            ],
            "volt",
            6,
            8,
            no_value="no energy meter",
        ),
        Panel(
            "stat",
            "Meter now",
            [
                Target(
                    'SELECT last("grid_power_plus") AS "import", last("grid_power_minus") AS '
                    f'"export" FROM "$meter" {TIME} AND "serial" =~ /^$meter_serial$/',
                    "$col",
                )
            ],
            "watt",
            6,
            8,
            colors={"import": IMPORT, "export": EXPORT},
            no_value="no energy meter",
        ),
    ]
    return [("SMA inverters", inverters), ("Grid at the energy meter", meter)]


def energy_rows() -> list[tuple[str, list[Panel]]]:
    h = 'FROM "$house"'
    flows = (
        ("inverter_power", "inverter_energy", "PV"),
        ("house_power", "house_energy", "house"),
        ("grid_power_plus", "grid_import_energy", "grid import"),
        ("grid_power_minus", "grid_export_energy", "grid export"),
        ("bat_power_plus", "bat_charge_energy", "battery in"),
        ("bat_power_minus", "bat_discharge_energy", "battery out"),
    )
    # Where there are readings, each 5-minute window's mean power for its 5 minutes (W / 12 is
    # Wh); where there are none (the collector was away), nothing, not a straight line; the
    # log's energies of those windows (backfill, `<measurement>_ENERGY`) are stacked on top.
    windows = ", ".join(f'mean("{power}") / 12000 AS "{alias}"' for power, _, alias in flows)
    from_readings = (
        "SELECT "
        + ", ".join(f'sum("{alias}") AS "{alias}"' for _, _, alias in flows)
        + f" FROM (SELECT {windows} {h} {TIME} GROUP BY time(5m) fill(none)) {TIME}"
    )
    from_log = (
        "SELECT "
        + ", ".join(f'sum("{energy}") / 1000 AS "{alias} (log)"' for _, energy, alias in flows)
        + f' FROM "${{house}}_ENERGY" {TIME}'
    )
    autarky = (
        'SELECT 100 * (1 - integral("grid_power_plus", 1h) / integral("house_power", 1h)) '
        f'AS "autarky" {h} {TIME}'
    )
    own_use = (
        'SELECT 100 * (1 - integral("grid_power_minus", 1h) / integral("inverter_power", 1h)) '
        f'AS "self-consumption" {h} {TIME}'
    )
    per_day = "GROUP BY time(1d) tz('$timezone')"
    colours = {
        "PV": PV,
        "house": HOUSE,
        "grid import": IMPORT,
        "grid export": EXPORT,
        "battery in": BATTERY,
        "battery out": BATTERY_OUT,
    }
    panels = [
        Panel(
            "timeseries",
            "Energy per day",
            [
                Target(f"{from_readings} {per_day}", "$col"),
                Target(f"{from_log} {per_day}", "$col"),
            ],
            "kwatth",
            12,
            9,
            colors={**colours, **{f"{name} (log)": colour for name, colour in colours.items()}},
            bars=True,
            decimals=1,
            no_value="no SENEC data",
            description="Per day, in the time zone set above: where there are power readings, "
            "each 5-minute window's mean power for its 5 minutes; where the collector was away, "
            "the energies SENEC's cloud logged for those windows (backfill, the measurement "
            "<house>_ENERGY), stacked on top as '(log)'. A gap with neither stays a gap.",
            stack={
                **{name: name for name in colours},
                **{f"{name} (log)": name for name in colours},
            },
        ),
        Panel(
            "timeseries",
            "Autarky and self-consumption per day",
            [
                Target(autarky.replace(TIME, f"{TIME} {per_day}"), "$col"),
                Target(own_use.replace(TIME, f"{TIME} {per_day}"), "$col"),
            ],
            "percent",
            6,
            9,
            colors={"autarky": EXPORT, "self-consumption": PV},
            bars=True,
            decimals=0,
            max=100,
            no_value="no SENEC data",
            description="Autarky: the share of the house's use not drawn from the grid. "
            "Self-consumption: the share of PV not exported.",
        ),
        Panel(
            "stat",
            "Autarky and self-consumption (time range)",
            [Target(autarky, "$col"), Target(own_use, "$col")],
            "percent",
            6,
            9,
            decimals=0,
            max=100,
            thresholds=[(None, "red"), (30, "orange"), (60, "green")],
            no_value="no SENEC data",
        ),
        Panel(
            "timeseries",
            "Grid energy per day at the meter (its counters)",
            [
                Target(
                    'SELECT spread("grid_energy_plus") / 1000 AS "import", '
                    'spread("grid_energy_minus") / 1000 AS "export" FROM "$meter" '
                    f'{TIME} AND "serial" =~ /^$meter_serial$/ {per_day}',
                    "$col",
                )
            ],
            "kwatth",
            12,
            8,
            colors={"import": IMPORT, "export": EXPORT},
            bars=True,
            decimals=1,
            no_value="no energy meter",
        ),
        Panel(
            "timeseries",
            "PV energy per day per inverter",
            [
                Target(
                    'SELECT spread("energy_total") / 1000 FROM "$sma" '
                    f'{TIME} AND "serial" =~ /^$serial$/ '
                    "GROUP BY time(1d), \"serial\" tz('$timezone')",
                    "inverter $tag_serial",
                )
            ],
            "kwatth",
            12,
            8,
            PV,
            bars=True,
            decimals=1,
            no_value="no SMA inverter",
        ),
    ]
    return [("Energy per day", panels)]


def state_rows() -> list[tuple[str, list[Panel]]]:
    h = 'FROM "$house"'
    s = 'FROM "$sma"'
    serial = '"serial" =~ /^$serial$/'
    panels = [
        Panel(
            "stat",
            "SENEC state",
            [Target(f'SELECT last("current_state") {h} {TIME}', "state")],
            "none",
            8,
            4,
            text_mode="value",
            no_value="no SENEC state",
        ),
        Panel(
            "stat",
            "SENEC state ok",
            [Target(f'SELECT last("current_state_ok") {h} {TIME}', "ok")],
            "none",
            4,
            4,
            mappings=ok_mapping(),
            no_value="no SENEC state",
        ),
        Panel(
            "stat",
            "SMA device status",
            [
                Target(
                    f'SELECT last("device_status") {s} {TIME} AND {serial} GROUP BY "serial"',
                    "$tag_serial",
                )
            ],
            "none",
            6,
            4,
            text_mode="value_and_name",
            no_value="no SMA inverter",
        ),
        Panel(
            "stat",
            "SMA status and grid relay ok",
            [
                Target(
                    f'SELECT last("device_status_ok") AS "status", last("grid_relay_ok") AS '
                    f'"relay" {s} {TIME} AND {serial} GROUP BY "serial"',
                    "$tag_serial $col",
                )
            ],
            "none",
            6,
            4,
            mappings=ok_mapping(),
            text_mode="value_and_name",
            no_value="no SMA inverter",
        ),
    ]
    return [("System state", panels)]


def collector_rows() -> list[tuple[str, list[Panel]]]:
    c = 'FROM "$self"'
    source = '"source" =~ /^$source$/'
    by = 'GROUP BY time($__interval), "source" fill(null)'
    panels = [
        Panel(
            "timeseries",
            "Poll duration per source",
            [Target(f'SELECT mean("poll_ms") {c} {TIME} AND {source} {by}', "$tag_source")],
            "ms",
            8,
            8,
            no_value="no collector figures (SELF_MEASUREMENT)",
            description="The mean time of a poll in each minute, failed polls included.",
        ),
        Panel(
            "timeseries",
            "Polls failed per source",
            [Target(f'SELECT sum("failed_polls") {c} {TIME} AND {source} {by}', "$tag_source")],
            "none",
            8,
            8,
            bars=True,
            decimals=0,
            no_value="no collector figures",
        ),
        Panel(
            "timeseries",
            "Queue backlog",
            [
                Target(
                    'SELECT last("queue_pending") AS "pending", last("queue_rejected") AS '
                    f'"rejected" {c} {TIME} GROUP BY time($__interval) fill(null)',
                    "$col",
                )
            ],
            "none",
            8,
            8,
            colors={"pending": "orange", "rejected": "red"},
            decimals=0,
            no_value="no collector figures",
            description="Readings waiting for InfluxDB, and readings InfluxDB refused (see "
            "`collector queue`).",
        ),
        Panel(
            "stat",
            "Sources running",
            [
                Target(
                    f'SELECT last("running") {c} {TIME} AND {source} GROUP BY "source"',
                    "$tag_source",
                )
            ],
            "none",
            12,
            4,
            mappings=ok_mapping(),
            text_mode="value_and_name",
            no_value="no collector figures",
        ),
        Panel(
            "timeseries",
            "Readings collected and delivered",
            [
                Target(
                    f'SELECT sum("readings") {c} {TIME} AND {source} {by}', "collected $tag_source"
                ),
                Target(
                    f'SELECT sum("delivered") AS "delivered" {c} {TIME} '
                    "GROUP BY time($__interval) fill(null)",
                    "$col",
                ),
            ],
            "none",
            12,
            4,
            decimals=0,
            no_value="no collector figures",
        ),
    ]
    return [("The collector", panels)]


def variables() -> list[dict[str, Any]]:
    def measurement(name: str, label: str, default: str, text: str) -> dict[str, Any]:
        return {
            "type": "query",
            "name": name,
            "label": label,
            "description": text,
            "datasource": DS,
            "query": "SHOW MEASUREMENTS",
            "definition": "SHOW MEASUREMENTS",
            "refresh": 1,
            "sort": 1,
            "current": {"text": default, "value": default},
            "options": [],
            "includeAll": False,
            "multi": False,
        }

    def tags(name: str, label: str, query: str) -> dict[str, Any]:
        return {
            "type": "query",
            "name": name,
            "label": label,
            "datasource": DS,
            "query": query,
            "definition": query,
            "refresh": 2,
            "sort": 3,
            "current": {"text": "All", "value": "$__all"},
            "options": [],
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
        }

    return [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "influxdb",
            "current": {"text": "InfluxDB", "value": DATASOURCE_UID},
            "options": [],
            "refresh": 1,
            "regex": "",
        },
        measurement("house", "House", "SENEC", "the measurement of the SENEC source"),
        measurement("sma", "SMA", "SMA", "the measurement of the SMA inverters"),
        tags("serial", "Inverter", 'SHOW TAG VALUES FROM "$sma" WITH KEY = "serial"'),
        measurement("meter", "Meter", "SMA_EM", "the measurement of the SMA Energy Meter"),
        tags("meter_serial", "Meter serial", 'SHOW TAG VALUES FROM "$meter" WITH KEY = "serial"'),
        measurement("self", "Collector", "collector", "the collector's own figures"),
        tags("source", "Source", 'SHOW TAG VALUES FROM "$self" WITH KEY = "source"'),
        {
            "type": "textbox",
            "name": "timezone",
            "label": "Days in",
            "description": "the time zone whose midnight starts a day (IANA name)",
            "query": "Europe/Berlin",
            "current": {"text": "Europe/Berlin", "value": "Europe/Berlin"},
            "options": [],
        },
    ]


def panel_json(panel: Panel, ident: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": panel.unit,
        "noValue": panel.no_value,
        "mappings": panel.mappings,
        "thresholds": {
            "mode": "absolute",
            "steps": [
                {"color": colour, "value": value}
                for value, colour in (panel.thresholds or [(None, panel.color or "green")])
            ],
        },
        "color": (
            {"mode": "fixed", "fixedColor": panel.color}
            if panel.color
            else {"mode": "thresholds"}
            if panel.thresholds or panel.kind == "stat"
            else {"mode": "palette-classic"}
        ),
    }
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.max is not None:
        defaults["min"], defaults["max"] = 0, panel.max
    overrides = [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
        }
        for name, colour in panel.colors.items()
    ]
    overrides += [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "custom.transform", "value": "negative-Y"}],
        }
        for name in panel.negative
    ]
    overrides += [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "custom.stacking", "value": {"mode": "normal", "group": group}}],
        }
        for name, group in panel.stack.items()
    ]
    options: dict[str, Any]
    if panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "textMode": panel.text_mode,
            "justifyMode": "auto",
            "orientation": "auto",
            "showPercentChange": False,
        }
    else:
        defaults["custom"] = {
            "drawStyle": "bars" if panel.bars else "line",
            "lineWidth": 1,
            "fillOpacity": 80 if panel.bars else (60 if panel.stacked else 10),
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
            "spanNulls": False,
            "showPoints": "never",
            "axisSoftMin": 0 if not panel.negative else None,
        }
        if defaults["custom"]["axisSoftMin"] is None:
            del defaults["custom"]["axisSoftMin"]
        options = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        }
    return {
        "id": ident,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DS,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": [
            {
                "refId": chr(ord("A") + number),
                "datasource": DS,
                "rawQuery": True,
                "query": target.query,
                "alias": target.alias,
                "resultFormat": target.fmt,
            }
            for number, target in enumerate(panel.targets)
        ],
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": options,
        **({"timeFrom": panel.time_from} if panel.time_from else {}),
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    ident, y = 1, 0
    for rows in (house_rows(), sma_rows(), energy_rows(), state_rows(), collector_rows()):
        for title, row in rows:
            panels.append(
                {
                    "id": ident,
                    "type": "row",
                    "title": title,
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                    "panels": [],
                }
            )
            ident, y, x, height = ident + 1, y + 1, 0, 0
            for panel in row:
                if x + panel.width > 24:
                    x, y, height = 0, y + height, 0
                panels.append(panel_json(panel, ident, x, y))
                ident, x, height = ident + 1, x + panel.width, max(height, panel.height)
            y += height
    return {
        "uid": "energy-house",
        "title": "Energy: the house",
        "description": "PV, house, battery, grid and wallbox from the energy collector",
        "tags": ["energy", "senec", "sma"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "time": {"from": "now-6h", "to": "now"},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": variables()},
        "panels": panels,
    }


def rendered() -> dict[str, str]:
    """Each dashboard file's name and text, as written."""
    return {"energy-house.json": json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
