"""The daemon with `senec-cloud` and `senec-connect` instances against their simulators, into a
real InfluxDB 1.x."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator
from collector.sources.senec_connect.simulator import KEY, SenecConnect, SenecConnectSimulator
from tests.harness import INFLUX_TYPES, Collector, unique, v1_settings
from tests.servers import InfluxDB1


def cloud_settings(simulator: SenecCloudSimulator) -> dict[str, str]:
    account = simulator.cloud.account
    return {
        "SENEC_ADAPTER": "cloud",
        "SENEC_USERNAME": account.username,
        "SENEC_PASSWORD": account.password,
        "SENEC_TOTP_URI": simulator.totp_uri(),
        "SENEC_REQUEST_MODE": "full",
        "SENEC_INTERVAL": "60",
        **{f"SENEC_{key.upper()}": value for key, value in simulator.settings().items()},
    }


def test_a_cloud_account_with_mfa_arrives_and_a_restart_does_not_log_in_again(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    cloud = SenecCloud()
    cloud.faults.update({"mfa": True, "two_step": True})
    simulator = SenecCloudSimulator(cloud).start()
    database, measurement = unique("db"), unique("SENEC")
    influxdb1.create_database(database)
    env = {**v1_settings(influxdb1, database, measurement), **cloud_settings(simulator)}
    try:
        first = Collector(tmp_path / "c", env)
        first.wait_events("reading", 1)
        assert first.stop() == 0
        # another process with the same DATA_DIR
        second = Collector(tmp_path / "c2", {**env, "DATA_DIR": str(tmp_path / "c" / "data")})
        second.wait_events("reading", 1)
        assert second.stop() == 0
    finally:
        simulator.stop()

    assert cloud.stats.logins == 1
    assert len(first.named("senec login")) == 1
    assert second.named("senec login") == []
    assert len(second.named("senec login reused")) == 1
    [chosen] = first.named("senec system chosen")
    assert chosen["id"] == "999999"
    warnings = [event for event in first.events() if event.get("level") in ("warning", "error")]
    assert [event["event"] for event in warnings] == ["configuration"] * 4  # the http:// URLs
    assert all("is plain http" in event["note"] for event in warnings)

    points = {point["time"]: point for point in influxdb1.points(database, measurement)}
    readings = first.named("reading") + second.named("reading")
    assert len(points) == len({event["time"] for event in readings})  # one point a SENEC time
    for event in readings:
        point = points[int(datetime.fromisoformat(event["time"]).timestamp())]
        assert point["inverter_power"] == event["inverter_w"]
        assert point["house_power"] == event["house_w"]
        assert point["bat_fuel_charge"] == event["soc_pct"]
        assert point["bat_power_plus"] - point["bat_power_minus"] == event["battery_w"]
    expected_types = {
        "inverter_power": int,
        "house_power": int,
        "grid_power_plus": int,
        "grid_power_minus": int,
        "bat_power_plus": int,
        "bat_power_minus": int,
        "bat_fuel_charge": float,
        "ev_connected": bool,
        "wallbox_charge_power": int,
        "measure_time": int,
        "case_temp": float,
        "application_version": str,
        "current_state": str,
        "current_state_ok": bool,
    }
    types = influxdb1.field_types(database, measurement)
    assert {name: types[name] for name in expected_types} == {
        name: INFLUX_TYPES[kind] for name, kind in expected_types.items()
    }
    assert point["measure_time"] == point["time"]
    assert point["application_version"] == "826"


def test_cloud_and_connect_in_one_daemon_from_a_toml_file(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    cloud = SenecCloudSimulator().start()
    connect = SenecConnectSimulator(SenecConnect(systems=2)).start()
    database = unique("db")
    influxdb1.create_database(database)
    urls = "\n".join(f'{key} = "{value}"' for key, value in cloud.settings().items())
    config = tmp_path / "collector.toml"
    config.write_text(
        f"""
[[source]]
kind = "senec-cloud"
name = "app"
username = "{cloud.cloud.account.username}"
password = "{cloud.cloud.account.password}"
measurement = "cloud"
{urls}

[[source]]
kind = "senec-connect"
name = "official"
key = "{KEY}"
url = "{connect.url}"
measurement = "connect"
tags = {{ site = "home" }}
"""
    )
    env = {**v1_settings(influxdb1, database, "unused"), "COLLECTOR_CONFIG": str(config)}
    try:
        collector = Collector(tmp_path / "c", env)
        collector.wait_events("reading", 3)  # one of the app, two of the official API
        assert collector.stop() == 0
    finally:
        cloud.stop()
        connect.stop()

    by_source: dict[str, int] = {}
    for event in collector.named("reading"):
        by_source[event["source"]] = by_source.get(event["source"], 0) + 1
    assert by_source["app"] >= 1
    assert by_source["official"] >= 2
    assert len(influxdb1.points(database, "cloud")) >= 1
    result = influxdb1.query('SHOW SERIES FROM "connect"', database)["results"][0]
    series = sorted(row[0] for row in result["series"][0]["values"])
    assert series == [
        "connect,site=home,system=S4H1-SIM-0001",
        "connect,site=home,system=S4H1-SIM-0002",
    ]
