"""The daemon as a subprocess reading SMA inverters over WebConnect and ennexOS (simulated, over
HTTPS with their CA), into a real InfluxDB 1.x; SIGTERM logs both sessions out."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.sources.sma.simulator import SmaInverter
from collector.sources.sma_ennexos.fields import FIELDS as ENNEXOS_FIELDS
from collector.sources.sma_ennexos.simulator import EnnexosDevice, EnnexosSimulator
from collector.sources.sma_webconnect.fields import FIELDS as WEBCONNECT_FIELDS
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from tests.harness import INFLUX_TYPES, Collector, unique
from tests.servers import InfluxDB1

pytestmark = pytest.mark.servers


def test_webconnect_and_ennexos_inverters_arrive_and_are_logged_out_at_the_end(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    webconnect = WebConnectDevice(SmaInverter(3010538120, battery=True, meter=True), slots=2)
    ennexos = EnnexosDevice(SmaInverter(3016259990, strings=3, seed=3), token_lifetime=3.0)
    simulators: list[WebConnectSimulator | EnnexosSimulator] = [
        WebConnectSimulator(webconnect).start(),
        EnnexosSimulator(ennexos).start(),
    ]
    database, measurement = unique("db"), unique("SMA")
    influxdb1.create_database(database)
    ca_files = []
    for index, simulator in enumerate(simulators):
        path = tmp_path / f"ca{index}.pem"
        path.write_bytes(simulator.ca_pem or b"")
        ca_files.append(path)
    password_file = tmp_path / "password"
    password_file.write_text("0000\n")
    try:
        collector = Collector(
            tmp_path / "c",
            {
                "SMA_WEBCONNECT_URL": simulators[0].url,
                "SMA_WEBCONNECT_PASSWORD_FILE": str(password_file),
                "SMA_WEBCONNECT_INTERVAL": "1",
                "SMA_WEBCONNECT_CA_FILE": str(ca_files[0]),
                "SMA_WEBCONNECT_MEASUREMENT": measurement,
                "SMA_ENNEXOS_URL": simulators[1].url,
                "SMA_ENNEXOS_USERNAME": "collector",
                "SMA_ENNEXOS_PASSWORD": "secret",
                "SMA_ENNEXOS_INTERVAL": "1",
                "SMA_ENNEXOS_CA_FILE": str(ca_files[1]),
                "SMA_ENNEXOS_MEASUREMENT": measurement,
                "INFLUX_API": "v1",
                "INFLUX_URL": influxdb1.url,
                "INFLUX_BUCKET": database,
            },
        )
        # five readings of each, and the ennexOS token (3 s) refreshed on the way
        collector.wait_for(
            lambda: all(
                sum(r["source"] == name for r in collector.named("reading")) >= 5
                for name in ("sma-webconnect", "sma-ennexos")
            ),
            timeout=30,
            what="five readings of each kind",
        )
        assert collector.stop() == 0
    finally:
        for simulator in simulators:
            simulator.stop()
    text = collector.text()
    assert "Traceback" not in text
    assert "0000" not in text
    assert "secret" not in text
    # one session each, refreshed rather than replaced, and logged out at SIGTERM
    assert webconnect.state()["logins"] == 1
    assert webconnect.state()["logouts"] == 1
    assert webconnect.state()["open"] == 0
    assert ennexos.state()["logins"] == 1
    assert ennexos.state()["refreshes"] >= 1
    assert ennexos.state()["expired"] == 0
    assert ennexos.state()["grants"] == 0
    assert not collector.named("poll failed")

    readings = collector.named("reading")
    series = influxdb1.query(f'SELECT * FROM "{measurement}" GROUP BY "serial"', database)[
        "results"
    ][0]["series"]
    rows = {
        s["tags"]["serial"]: [dict(zip(s["columns"], v, strict=True)) for v in s["values"]]
        for s in series
    }
    # two devices in one measurement: each point tagged with its serial
    assert set(rows) == {"3010538120", "3016259990"}
    for serial in rows:
        logged = {r["time"] for r in readings if r.get("serial") == serial}
        assert len(rows[serial]) == len(logged)
    hybrid, tripower = rows["3010538120"][-1], rows["3016259990"][-1]
    assert hybrid["bat_fuel_charge"] is not None
    assert hybrid["house_power"] is not None
    assert hybrid["grid_energy_plus"] > 0
    assert tripower["mpp3_power"] is not None
    assert tripower["bat_fuel_charge"] is None  # no battery: absent, not 0
    assert tripower["device_status"] == "Ok"
    types = influxdb1.field_types(database, measurement)
    catalogue = {**ENNEXOS_FIELDS, **WEBCONNECT_FIELDS}
    for name, kind in types.items():
        assert INFLUX_TYPES[catalogue[name].type] == kind, name
