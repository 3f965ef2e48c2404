"""Source kinds as plugins, and many instances in one process, through the daemon into InfluxDB.

- A TOML household: one SENEC and two SMA inverters with different passwords, each with its
  tags; then one inverter's password changes: that instance stops with its one line, the
  others go on with no gap.
- Two kinds defined only in the tests (tests/kinds.py), registered through an entry point:
  a polled one and a pushed one.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from collector.simulators.household import Household
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.sma import codec
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from tests.harness import ROOT, Collector, run_collector, unique
from tests.kinds import plugin_path
from tests.servers import InfluxDB1, free_port

pytestmark = pytest.mark.servers


def seconds_of(events: list[dict[str, Any]]) -> list[int]:
    return sorted(
        {int(datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp()) for e in events}
    )


def series_by_tags(influx: InfluxDB1, database: str, measurement: str) -> dict[str, list[int]]:
    """Point times of each series, keyed by its tags as `k=v,...`."""
    result = influx.query(f'SELECT * FROM "{measurement}" GROUP BY *', database)["results"][0]
    found: dict[str, list[int]] = {}
    for series in result.get("series", []):
        key = ",".join(f"{k}={v}" for k, v in sorted(series["tags"].items()) if v)
        found[key] = sorted(int(row[0]) for row in series["values"])  # epoch seconds
    return found


@pytest.fixture
def household() -> Iterator[tuple[SenecSimulator, SmaSimulator, list[SmaInverter]]]:
    senec = SenecSimulator(SenecDevice(Household(seed=3)), tls=False).start()
    inverters = [
        SmaInverter(3010538116, user_password="roof-pw", seed=1),
        SmaInverter(3010538117, user_password="garage-pw", seed=2, peak_w=4000.0),
    ]
    sma = SmaSimulator(inverters).start()
    yield senec, sma, inverters
    sma.stop()
    senec.stop()


def test_a_toml_household_then_one_wrong_password_stops_only_that_instance(
    influxdb1: InfluxDB1,
    household: tuple[SenecSimulator, SmaSimulator, list[SmaInverter]],
    tmp_path: Path,
) -> None:
    senec, sma, inverters = household
    database = unique("db")
    influxdb1.create_database(database)
    password_file = tmp_path / "garage.pw"
    password_file.write_text("garage-pw\n")
    config = tmp_path / "collector.toml"
    config.write_text(
        f"""
[influx]
api = "v1"
url = "{influxdb1.url}"
bucket = "{database}"

[[source]]
kind = "senec"
name = "home"
host = "{senec.address}"
schema = "http"
interval = 1
tags = {{ site = "house" }}

[[source]]
kind = "sma"
name = "roof"
host = "{sma.addresses[0]}"
password = "roof-pw"
interval = 1
tags = {{ side = "south" }}

[[source]]
kind = "sma"
name = "garage"
host = "{sma.addresses[1]}"
password_file = "{password_file}"
interval = 1
tags = {{ side = "east" }}
"""
    )
    collector = Collector(tmp_path / "c", {"COLLECTOR_CONFIG": str(config)})

    def readings(name: str) -> list[dict[str, Any]]:
        return [e for e in collector.named("reading") if e.get("source") == name]

    collector.wait_for(
        lambda: all(len(readings(name)) >= 3 for name in ("home", "roof", "garage")),
        what="3 readings from each instance",
    )
    banner = {e["source"]: e for e in collector.named("reading from")}
    assert banner["garage"]["tags"] == "side=east"
    assert banner["roof"]["timeout_s"] == 0.267  # a share of its 1 s interval

    # The garage inverter's password changes; its session is lost, the re-login is refused.
    garage = inverters[1]
    garage.passwords[codec.GROUP_USER] = "changed"
    garage.faults.session_lost_after = garage.answered_queries
    collector.wait_for(
        lambda: any(e.get("source") == "garage" for e in collector.named("source stopped")),
        what="garage stopped",
    )
    stopped_at = len(readings("home")), len(readings("roof"))
    collector.wait_for(
        lambda: (
            len(readings("home")) >= stopped_at[0] + 3
            and len(readings("roof")) >= stopped_at[1] + 3
        ),
        what="three more readings from home and roof",
    )
    health = run_collector(tmp_path / "c", {"COLLECTOR_CONFIG": str(config)}, "healthcheck")
    assert health.returncode == 1
    assert health.stderr.startswith("unhealthy: garage: stopped: ")
    assert "password" in health.stderr
    assert collector.stop() == 0

    stops = collector.named("source stopped")
    assert [e["source"] for e in stops] == ["garage"]  # one line, for that instance only
    assert [e for e in collector.named("poll failed") if e.get("source") == "garage"] == []
    # every SMA point carries its inverter's serial (issue 19.3), beside the instance's tags
    sma_series = {
        ",".join(tag for tag in key.split(",") if not tag.startswith("serial=")): value
        for key, value in series_by_tags(influxdb1, database, "SMA").items()
    }
    assert all("serial=" in key for key in series_by_tags(influxdb1, database, "SMA"))
    assert set(sma_series) == {"side=south", "side=east"}
    assert sma_series["side=south"] == seconds_of(readings("roof"))
    assert sma_series["side=east"] == seconds_of(readings("garage"))
    assert series_by_tags(influxdb1, database, "SENEC") == {
        "site=house": seconds_of(readings("home"))
    }
    for name in ("home", "roof"):  # no gap: never more than a missed poll between two readings
        times = seconds_of(readings(name))
        assert max(b - a for a, b in itertools.pairwise(times)) <= 3, (name, times)


def test_polled_and_pushed_kinds_from_a_plugin_run_through_the_daemon(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    database = unique("db")
    influxdb1.create_database(database)
    port = free_port()
    plugins = plugin_path(tmp_path / "plugins")
    env = {
        "PYTHONPATH": f"{ROOT}:{plugins}",
        "INFLUX_API": "v1",
        "INFLUX_URL": influxdb1.url,
        "INFLUX_BUCKET": database,
        "COUNTER_START": "100",
        "COUNTER_FAIL_AT": "103",
        "LISTENER_PORT": str(port),
    }
    sources = run_collector(tmp_path, env, "sources")
    assert "listener: listens for power datagrams (tests only)" in sources.stdout
    assert "    port = LISTENER_PORT, (required)" in sources.stdout

    sending = threading.Event()
    sent: list[float] = []

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            value = 0
            while not sending.is_set():
                value = 100 + (value + 37) % 200
                sock.sendto(f"power={value}".encode(), ("127.0.0.1", port))
                sent.append(value)
                sock.sendto(b"garbage", ("127.0.0.1", port))
                time.sleep(0.02)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        collector = Collector(tmp_path / "c", env)

        def readings(name: str) -> list[dict[str, Any]]:
            return [e for e in collector.named("reading") if e.get("source") == name]

        collector.wait_for(
            lambda: len(readings("listener")) >= 3 and len(readings("counter")) >= 4,
            what="readings from both kinds",
        )
        assert collector.stop() == 0
    finally:
        sending.set()
        sender.join(5)
    failures = collector.named("poll failed")
    assert [(e["source"], e["error"]) for e in failures] == [
        ("counter", "poll 103 fails on purpose")
    ]
    counts = [e["count"] for e in readings("counter")]
    assert counts[:3] == [101, 102, 104]

    points = influxdb1.points(database, "counter")
    assert [p["count"] for p in points] == counts[: len(points)]
    assert len(points) == len(seconds_of(readings("counter")))
    meter = influxdb1.points(database, "meter")
    assert len(meter) == len(readings("listener"))
    for point, event in zip(meter, readings("listener"), strict=True):
        assert 100 <= point["power"] <= 300
        assert point["power"] == event["power"]
        assert point["packets"] == event["packets"] > 0
        assert point["last_power"] in sent
    types = influxdb1.field_types(database, "meter")
    assert types == {"power": "float", "packets": "integer", "last_power": "float"}


def test_check_takes_the_first_reading_of_a_pushed_kind(tmp_path: Path) -> None:
    port = free_port()
    plugins = plugin_path(tmp_path / "plugins")
    stop = threading.Event()

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not stop.is_set():
                sock.sendto(b"power=250", ("127.0.0.1", port))
                time.sleep(0.05)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        result = run_collector(
            tmp_path,
            {"PYTHONPATH": f"{ROOT}:{plugins}", "LISTENER_PORT": str(port)},
            "check",
        )
    finally:
        stop.set()
        sender.join(5)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("meter last_power=250,packets=")
    assert ",power=250 " in result.stdout


def test_a_kind_whose_build_renames_its_instances_is_one_clear_error(tmp_path: Path) -> None:
    """Before: a KeyError from the daemon's lookup of the built instance by its name."""
    from collector.config import Config, RuntimeSettings
    from collector.config.tables import LogSettings
    from collector.daemon import build_instances
    from collector.sources import Instance, InstanceConfig, KindLoadError
    from tests.kinds import COUNTER, CounterSettings, build_counters

    def renaming(configs: list[InstanceConfig]) -> list[Instance]:
        return build_counters([dataclasses.replace(c, name=f"{c.name}-x") for c in configs])

    kind = dataclasses.replace(COUNTER, build=renaming)
    config = Config(
        kinds={kind.name: kind},
        instances=[InstanceConfig(kind.name, "garage", CounterSettings(), {})],
        influx=None,
        log=LogSettings(),
        runtime=RuntimeSettings(data_dir=tmp_path),
        files=[],
        origins={},
    )
    expected = "built instances named garage-x, which are not configured (garage are): a kind"
    with pytest.raises(KindLoadError, match=re.escape(expected)):
        build_instances(config)
    config.kinds = {kind.name: COUNTER}
    assert [item.instance.name for item in build_instances(config)] == ["garage"]
