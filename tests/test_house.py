"""The whole house in one process, and the Grafana dashboard's queries against what it wrote.

One collector reads a SENEC locally, the same household through SENEC's cloud, two SMA inverters
and an Energy Meter, all simulated, into a real InfluxDB 1.x. A third SMA inverter is away the
whole time; the second inverter's simulator is restarted half-way with another password. The
healthy sources must deliver every reading on schedule all the same, and each failure must be
said once. Then every panel's InfluxQL of the provisioned dashboard runs against that database.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from collector.reading import FieldSpec
from collector.selfreport import FIELDS as SELF_FIELDS
from collector.simulators.household import Household
from collector.sources import load_kinds
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.senec_cloud.simulator import SenecCloudSimulator
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_em.simulator import Meter, MeterSender
from tests.gap_day import write_gap_day
from tests.harness import ROOT, Collector, run_collector, toml_file, unique
from tests.servers import InfluxDB1, free_port

pytestmark = pytest.mark.servers

SERIAL_A, SERIAL_B, METER = 3010538116, 3010538117, 1901429669
INTERVAL = 2  # seconds, of the local sources (the cloud's is 60, its least)
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"


@dataclass
class House:
    collector: Collector
    database: str
    began: float
    ended: float
    restarted_at: float
    exit_code: int
    inverter_a: str
    inverter_b: str
    config: Path


def readings_of(
    collector: Collector, source: str, device: str | None = None
) -> list[dict[str, Any]]:
    return [
        event
        for event in collector.named("reading")
        if event["source"] == source and (device is None or event.get("device") == device)
    ]


def logged_at(event: dict[str, Any]) -> float:
    return datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


@pytest.fixture(scope="module")
def house(influxdb1: InfluxDB1, tmp_path_factory: pytest.TempPathFactory) -> House:
    tmp = tmp_path_factory.mktemp("house")
    senec = SenecSimulator(SenecDevice(Household(seed=5))).start()
    cloud = SenecCloudSimulator().start()
    inverter_a = SmaSimulator([SmaInverter(SERIAL_A, strings=2, seed=1)]).start()
    inverter_b = SmaSimulator([SmaInverter(SERIAL_B, strings=3, battery=True, seed=2)]).start()
    meter_port = free_port(udp=True)
    meter = MeterSender(Meter(serial=METER), ("127.0.0.1", meter_port), period=0.25).start()
    away = f"127.0.0.1:{free_port(udp=True)}"  # nothing listens there
    ca = tmp / "ca.pem"
    ca.write_bytes(senec.ca_pem or b"")
    database = unique("house")
    influxdb1.create_database(database)
    account = cloud.cloud.account
    local = {"interval": INTERVAL}
    sources: list[dict[str, object]] = [
        {"kind": "senec", "name": "senec", "host": senec.address, "ca_file": str(ca), **local},
        {
            "kind": "senec-cloud",
            "name": "senec-cloud",
            "username": account.username,
            "password": account.password,
            "measurement": "SENEC_CLOUD",
            **cloud.settings(),
        },
        {
            "kind": "sma",
            "name": "sma",
            "host": ",".join(inverter_a.addresses + inverter_b.addresses),
            **local,
        },
        {"kind": "sma", "name": "garage", "host": away, "measurement": "SMA_GARAGE", **local},
        {
            "kind": "sma-em",
            "name": "meter",
            "serial": str(METER),
            "group": "none",
            "port": meter_port,
            **local,
        },
    ]
    tables: dict[str, dict[str, object]] = {
        "runtime": {"self_every": 2},
        "influx": {"api": "v1", "url": influxdb1.url, "bucket": database},
    }
    config = tmp / "collector.toml"
    config.write_text(toml_file(sources, tables), encoding="utf-8")
    collector = Collector(tmp / "c", {"COLLECTOR_CONFIG": str(config), "SMA_TIMEOUT": "0.5"})
    began = time.time()
    a_device, b_device = inverter_a.addresses[0], inverter_b.addresses[0]
    try:
        collector.wait_for(
            lambda: (
                len(readings_of(collector, "sma", b_device)) >= 5
                and len(readings_of(collector, "senec-cloud")) >= 1
            ),
            timeout=30,
            what="the first half: five readings of inverter B, one of the cloud",
        )
        port = int(b_device.rsplit(":", 1)[1])
        inverter_b.stop()
        changed = SmaInverter(SERIAL_B, strings=3, battery=True, seed=2, user_password="changed")
        inverter_b = SmaSimulator([changed], ports=[port]).start()
        restarted_at = time.time()
        collector.wait_events("source stopped", 1, timeout=30)
        collector.wait_for(
            lambda: len(readings_of(collector, "senec-cloud")) >= 2,
            timeout=180,  # the cloud polls 60 s after its first poll: the wait is that minute
            what="the cloud's second reading, a minute after the first",
        )
        exit_code = collector.stop()
        ended = time.time()
    finally:
        for simulator in (senec, cloud, inverter_a, inverter_b):
            simulator.stop()
        meter.stop()
    return House(
        collector, database, began, ended, restarted_at, exit_code, a_device, b_device, config
    )


def gaps(events: list[dict[str, Any]]) -> list[float]:
    times = sorted(logged_at(event) for event in events)
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_the_whole_house_arrives_on_schedule_while_two_sources_fail(
    house: House, influxdb1: InfluxDB1
) -> None:
    collector = house.collector
    assert house.exit_code == 0
    assert "Traceback" not in collector.text()
    sma = readings_of(collector, "sma")
    assert {event["device"] for event in sma} == {house.inverter_a, house.inverter_b}

    # complete: every logged reading is a point
    def points(measurement: str) -> list[dict[str, Any]]:
        return influxdb1.points(house.database, measurement)

    assert len(points("SENEC")) == len(readings_of(collector, "senec"))
    assert len(points("SENEC_CLOUD")) == len(readings_of(collector, "senec-cloud")) == 2
    assert len(points("SMA")) == len(sma)
    assert {point["serial"] for point in points("SMA")} == {str(SERIAL_A), str(SERIAL_B)}
    assert len(points("SMA_EM")) == len(readings_of(collector, "meter"))
    assert points("SMA_GARAGE") == []

    # on schedule: two readings of a healthy source are never more than one interval and a half
    # apart (a missed slot makes it two intervals); inverter B until its restart
    b_readings = readings_of(collector, "sma", house.inverter_b)
    assert max(logged_at(event) for event in b_readings) < house.restarted_at
    series = {
        "senec": (readings_of(collector, "senec"), INTERVAL),
        "meter": (readings_of(collector, "meter"), INTERVAL),
        "sma A": (readings_of(collector, "sma", house.inverter_a), INTERVAL),
        "sma B": (b_readings, INTERVAL),
        "senec-cloud": (readings_of(collector, "senec-cloud"), 60),
    }
    lateness = {}
    for name, (events, interval) in series.items():
        steps = gaps(events)
        assert steps, name
        lateness[name] = round(max(steps) - interval, 3)
    print("largest lateness (s):", lateness, "run:", round(house.ended - house.began), "s")
    for name, late in lateness.items():
        assert late < INTERVAL / 2, (name, late, lateness)
    # the healthy local sources read all through the run, the cloud at its start and a
    # minute later
    span = house.ended - house.began
    for name in ("senec", "meter", "sma A"):
        assert len(series[name][0]) >= span / INTERVAL - 3, (name, len(series[name][0]), span)

    # each failure said once
    def complaints(source: str, device: str | None = None) -> list[str]:
        return [
            event["event"]
            for event in collector.events()
            if event.get("source") == source
            and (device is None or event.get("device") == device)
            and event.get("level") in ("warning", "error")
        ]

    assert complaints("garage") == ["poll failed, backing off"]
    stopped = collector.named("source stopped")
    assert [event["device"] for event in stopped] == [house.inverter_b]
    assert "refused the user password" in stopped[0]["error"]
    assert complaints("sma", house.inverter_b)[-1] == "source stopped"
    assert complaints("sma", house.inverter_a) == []
    assert complaints("senec") == complaints("senec-cloud") == complaints("meter") == []


# --- the dashboard -------------------------------------------------------------------------


def dashboards_module() -> ModuleType:
    path = ROOT / "deploy" / "grafana" / "dashboards.py"
    spec = importlib.util.spec_from_file_location("dashboards", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DASHBOARDS / "energy-house.json").read_text("utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def variables() -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in dashboard()["templating"]["list"]}


def test_the_committed_dashboards_are_what_dashboards_py_makes() -> None:
    made = dashboards_module().rendered()
    on_disk = {path.name: path.read_text("utf-8") for path in DASHBOARDS.glob("*.json")}
    assert on_disk == made, "run: python deploy/grafana/dashboards.py"


def test_the_dashboard_is_one_grafana_11_reads() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41  # Grafana 11.0 to 11.x; older ones are migrated
    assert board["uid"]
    assert len(board["uid"]) <= 40
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    provisioned = (ROOT / "deploy/grafana/provisioning/datasources/influxdb.yml").read_text()
    [uid] = re.findall(r"^\s+uid: (\S+)$", provisioned, re.MULTILINE)
    assert "version: InfluxQL" in provisioned
    source = variables()["datasource"]
    assert (source["type"], source["query"], source["current"]["value"]) == (
        "datasource",
        "influxdb",
        uid,
    )
    by_uid = {"type": "influxdb", "uid": "${datasource}"}
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        place = panel["gridPos"]
        assert place["x"] + place["w"] <= 24, panel["title"]
        for x in range(place["x"], place["x"] + place["w"]):
            for y in range(place["y"], place["y"] + place["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        if panel["type"] == "row":
            continue
        assert panel["type"] in ("stat", "timeseries"), panel["title"]
        assert panel["datasource"] == by_uid, panel["title"]
        assert panel["fieldConfig"]["defaults"]["noValue"], panel["title"]  # says so, no error
        for target in panel["targets"]:
            assert target["datasource"] == by_uid
            assert target["rawQuery"] is True
            query = target["query"]
            assert "$timeFilter" in query, panel["title"]
            assert '"."' not in query
            assert "solar" not in query
            assert re.search(r'FROM "\$(\w+|\{\w+\}\w*)"', query), panel["title"]  # by variable
    for item in variables().values():
        if item["type"] == "query":
            assert item["datasource"] == by_uid


CATALOGUES: dict[str, FieldSpec] = {}


def catalogue() -> dict[str, FieldSpec]:
    if not CATALOGUES:
        for kind in load_kinds().values():
            CATALOGUES.update(kind.fields)
        CATALOGUES.update(SELF_FIELDS)
    return CATALOGUES


def fields_of(query: str) -> list[str]:
    """The fields a query reads (not the names its subquery gives its results)."""
    inner = query.split("FROM (", 1)[1] if "FROM (SELECT" in query else ""
    aliases = set(re.findall(r'AS "([^"]+)"', inner))
    return [name for name in re.findall(r'\w+\("(\w+)"', query) if name not in aliases]


def test_every_field_a_panel_names_is_in_a_catalogue_with_the_panels_unit() -> None:
    units = {"watt": "W", "watth": "Wh", "percent": "%", "volt": "V", "ms": "ms"}
    for panel in panels():
        unit = panel["fieldConfig"]["defaults"]["unit"]
        for target in panel["targets"]:
            query = target["query"]
            names = fields_of(query)
            assert names, query
            for name in names:
                assert name in catalogue(), f"{panel['title']}: {name} is in no catalogue"
            field_units = {catalogue()[name].unit for name in names}
            where = f"{panel['title']}: {query}"
            if unit == "kwatth":  # energy: power over time, or Wh (a counter's rise, a log's sum)
                power = field_units == {"W"} and all(
                    f'integral("{name}", 1h) / 1000' in query or f'mean("{name}") / 12000' in query
                    for name in names
                )
                energy = field_units == {"Wh"} and all(
                    f'spread("{name}") / 1000' in query or f'sum("{name}") / 1000' in query
                    for name in names
                )
                assert power or energy, where
            elif unit == "percent" and field_units == {"W"}:  # a share of two energies
                assert query.startswith("SELECT 100 * (1 - integral("), where
            elif unit == "none":
                assert field_units == {""}, where
            else:
                assert field_units == {units[unit]}, where


class Grafana:
    """Substitutes a dashboard's variables into a query the way Grafana's InfluxDB data source
    does: `$timeFilter` as epoch milliseconds, `$__interval`, and template variables (a
    multi-value one as a regular expression group of its escaped values, or its custom "all"
    value)."""

    def __init__(self, start: float, end: float, interval: str, **chosen: str | list[str]) -> None:
        self.time_filter = f"time >= {int(start * 1000)}ms and time <= {int(end * 1000)}ms"
        self.interval = interval
        self.values: dict[str, str] = {}
        for name, item in variables().items():
            value = chosen.get(name, item.get("current", {}).get("value", ""))
            if value == "$__all":
                self.values[name] = item["allValue"]
            elif isinstance(value, list):
                self.values[name] = "(" + "|".join(re.escape(v) for v in value) + ")"
            else:
                self.values[name] = str(value)

    def __call__(self, query: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name == "timeFilter":
                return self.time_filter
            if name == "__interval":
                return self.interval
            return self.values[name]

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, query)


def rows(influxdb1: InfluxDB1, database: str, query: str) -> list[list[Any]]:
    try:
        result = influxdb1.query(query, database)["results"][0]
    except httpx.HTTPStatusError as exc:  # InfluxDB refused the query: say why
        raise AssertionError(f"{query}: {exc.response.text}") from None
    assert "error" not in result, (query, result["error"])
    values = []
    for series in result.get("series", []):
        values += [row for row in series["values"] if any(v is not None for v in row[1:])]
    return values


def test_every_panel_query_answers_rows_from_the_whole_house(
    house: House, influxdb1: InfluxDB1
) -> None:
    grafana = Grafana(house.began - 60, house.ended + 60, "2s")
    # the variables' own queries list what the house wrote
    serials = rows(influxdb1, house.database, grafana(variables()["serial"]["query"]))
    assert sorted(value for _, value in serials) == [str(SERIAL_A), str(SERIAL_B)]
    sources = rows(influxdb1, house.database, grafana(variables()["source"]["query"]))
    assert {value for _, value in sources} == {"senec", "senec-cloud", "sma", "garage", "meter"}
    [listed] = influxdb1.query("SHOW MEASUREMENTS", house.database)["results"][0]["series"]
    for name in ("house", "sma", "meter", "self"):  # the defaults are what the kinds write
        assert [variables()[name]["current"]["value"]] in listed["values"]

    answered = {}
    for panel in panels():
        for target in panel["targets"]:
            found = rows(influxdb1, house.database, grafana(target["query"]))
            if "_ENERGY" in target["query"]:  # backfill's: the house had no gap to fill
                assert not found
                continue
            assert found, f"{panel['title']}: no rows for {grafana(target['query'])}"
            answered[panel["title"]] = len(found)
    print(f"{len(answered)} panels answered:", answered)
    assert len(answered) == len(panels())

    # the day's energies balance (what comes in goes somewhere), and the shares are shares
    daily, _ = next(p for p in panels() if p["title"] == "Energy per day")["targets"]
    result = influxdb1.query(grafana(daily["query"]), house.database)["results"][0]
    [series] = result["series"]
    energy = {  # summed over the days the run touched (it may cross midnight)
        column: sum(row[index] or 0 for row in series["values"])
        for index, column in enumerate(series["columns"])
        if column != "time"
    }
    came = energy["PV"] + energy["grid import"] + energy["battery out"]
    went = energy["house"] + energy["grid export"] + energy["battery in"]
    assert came > 0
    assert abs(came - went) <= 0.02 * came, energy
    [stat] = [p for p in panels() if p["title"] == "Autarky and self-consumption (time range)"]
    for target in stat["targets"]:
        [(_, share)] = rows(influxdb1, house.database, grafana(target["query"]))
        assert 0 <= share <= 100, (target["query"], share)

    # one inverter picked: only its series; the cloud as the house: its panels answer too
    one = Grafana(house.began - 60, house.ended + 60, "2s", serial=[str(SERIAL_A)])
    query = next(p for p in panels() if p["title"] == "AC power per inverter")["targets"][0]
    result = influxdb1.query(one(query["query"]), house.database)["results"][0]
    assert [series["tags"]["serial"] for series in result["series"]] == [str(SERIAL_A)]
    cloud = Grafana(house.began - 60, house.ended + 60, "2s", house="SENEC_CLOUD")
    for title in ("PV", "House", "Battery charge", "Power flow (sources up, uses down)"):
        [target] = next(p for p in panels() if p["title"] == title)["targets"]
        assert rows(influxdb1, house.database, cloud(target["query"])), title


def test_energy_today_is_the_counters_rise_since_midnight_also_without_a_day_counter(
    influxdb1: InfluxDB1,
) -> None:
    """A Tripower X over ennexOS reports no day counter, only the lifetime one: the panel must
    show its day all the same, and a Speedwire inverter's as before."""
    [panel] = [p for p in panels() if p["title"] == "Energy today per inverter"]
    assert panel["timeFrom"] == "now/d"  # Grafana narrows $timeFilter to today so far
    database = "energy_today"
    influxdb1.create_database(database)
    start = int(time.time()) - 3600
    lines = [  # ennexOS: energy_total only; Speedwire: both counters
        f"SMA,serial=3016259999 energy_total=13435694i {start}",
        f"SMA,serial=3016259999 ac_power=9000i {start + 600}",
        f"SMA,serial=3016259999 energy_total=13441194i {start + 1800}",
        f"SMA,serial=1900123456 energy_total=20000000i,energy_today=1200i {start}",
        f"SMA,serial=1900123456 energy_total=20003300i,energy_today=4500i {start + 1800}",
    ]
    response = httpx.post(
        influxdb1.url + "/write",
        params={"db": database, "precision": "s"},
        content="\n".join(lines),
    )
    assert response.status_code == 204, response.text
    grafana = Grafana(start - 60, start + 1860, "2s")
    [target] = panel["targets"]
    result = influxdb1.query(grafana(target["query"]), database)["results"][0]
    shown = {series["tags"]["serial"]: series["values"][0][1] for series in result["series"]}
    assert shown == {"3016259999": 13441194 - 13435694, "1900123456": 4500 - 1200}


def test_energy_per_day_counts_a_gap_from_the_log_and_never_as_a_straight_line(
    influxdb1: InfluxDB1,
) -> None:
    """A day with two hours of readings, three hours of nothing, two hours of readings, and
    the log's 5-minute energies of the windows in between (backfill's `<house>_ENERGY`): the
    day is what the readings' windows held plus what the log holds; without the log the gap
    counts nothing (InfluxDB's integral would draw a straight line across it)."""
    [panel] = [p for p in panels() if p["title"] == "Energy per day"]
    readings, log = panel["targets"]
    database = "energy_gap"
    gap = write_gap_day(influxdb1, database)
    day, live, logged = gap.day, gap.live, gap.logged
    grafana = Grafana(day, day + 86400 - 1, "2s", house="GAP", timezone="UTC")

    def day_row(query: str) -> dict[str, float]:
        result = influxdb1.query(grafana(query), database)["results"][0]
        [series] = result["series"]
        [row] = [r for r in series["values"] if any(v is not None for v in r[1:])]
        return {c: v for c, v in zip(series["columns"], row, strict=True) if v is not None}

    windows = len({t // 300 for t in live})  # each window with readings: 5 minutes' worth
    from_readings = day_row(readings["query"])
    assert from_readings["PV"] == pytest.approx(windows * 1200 / 12 / 1000)
    assert from_readings["house"] == pytest.approx(windows * 300 / 12 / 1000)
    from_log = day_row(log["query"])
    assert from_log == {
        "time": day,
        "PV (log)": pytest.approx(len(logged) * 90.5 / 1000),
        "house (log)": pytest.approx(len(logged) * 20.0 / 1000),
    }
    # the gap is no straight line: 4 h of readings, not the 7 h an integral would make
    assert from_readings["PV"] == pytest.approx(4 * 1.2, rel=0.01)
    stacking = {
        o["matcher"]["options"]: o["properties"][0]["value"]["group"]
        for o in panel["fieldConfig"]["overrides"]
        if o["properties"][0]["id"] == "custom.stacking"
    }
    assert stacking["PV"] == stacking["PV (log)"] == "PV"


def test_the_collectors_own_figures_tell_what_happened(house: House, influxdb1: InfluxDB1) -> None:
    points = influxdb1.points(house.database, "collector")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        by_source.setdefault(point["source"] or "", []).append(point)
    queue = by_source.pop("")
    assert sum(point["delivered"] for point in queue) > 0
    assert all(point["queue_rejected"] == 0 for point in queue)
    assert all(point["kind"] for rows_ in by_source.values() for point in rows_)
    readings = {name: sum(p["readings"] for p in rows_) for name, rows_ in by_source.items()}
    assert readings["garage"] == 0
    assert sum(p["failed_polls"] for p in by_source["garage"]) >= 1
    assert all(p["running"] for p in by_source["garage"])  # away, not given up
    inverter_b = [p for p in by_source["sma"] if p["device"] == house.inverter_b]
    assert inverter_b[-1]["running"] is False  # stopped for good: the wrong password
    # the figures of the periods add up to what the log says (up to the last period's end)
    logged = len(readings_of(house.collector, "senec"))
    assert logged - 2 <= readings["senec"] <= logged


# --- the day as a picture ------------------------------------------------------------------


def trapezoid_kwh(points: list[dict[str, Any]], name: str) -> float:
    samples = [(float(p["time"]), float(p[name])) for p in points if p.get(name) is not None]
    wh = sum(
        (t2 - t1) * (v1 + v2) / 2 / 3600
        for (t1, v1), (t2, v2) in itertools.pairwise(sorted(samples))
    )
    return wh / 1000


def test_the_report_draws_the_day_with_the_dashboards_figures(
    house: House, influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    day = datetime.fromtimestamp(house.began, UTC).date().isoformat()
    out = tmp_path / "day.png"
    env = {"COLLECTOR_CONFIG": str(house.config)}
    result = run_collector(
        tmp_path, env, "report", "--day", day, "--out", str(out), "--timezone", "UTC"
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 20_000  # a drawing, not an empty canvas
    line = result.stdout.strip()
    assert line.startswith(f"wrote {out}: PV ")
    # the house's energy, integrated here from the points themselves (trapezoids)
    points = [
        p
        for p in influxdb1.points(house.database, "SENEC")
        if datetime.fromtimestamp(p["time"], UTC).date().isoformat() == day
    ]
    printed = {
        label: float(number) * (1 if unit == "kWh" else 0.001)
        for label, number, unit in re.findall(r"(PV|house) ([0-9.]+) (kWh|Wh)", line)
    }
    for label, name in (("PV", "inverter_power"), ("house", "house_power")):
        expected = trapezoid_kwh(points, name)  # PV may be 0 (the simulated house is at night)
        assert abs(printed[label] - expected) <= 0.001 + 0.01 * expected, (label, expected, line)
    assert trapezoid_kwh(points, "house_power") > 0.001  # a minute of a house using 100 W+

    # what it says when it cannot
    wrong = run_collector(tmp_path, env, "report", "--day", day, "--measurement", "NOPE")
    assert wrong.returncode == 1
    assert "no readings in 'NOPE' on " + day in wrong.stderr
    assert wrong.stderr.count("\n") == 1
    bad_day = run_collector(tmp_path, env, "report", "--day", "23.11.2026")
    assert (bad_day.returncode, bad_day.stderr.strip()) == (
        1,
        "collector report: --day: '23.11.2026' is not a date like 2026-11-23",
    )
    zone = run_collector(tmp_path, env, "report", "--timezone", "Mars/Olympus")
    assert zone.returncode == 1
    assert "no time zone 'Mars/Olympus'" in zone.stderr
