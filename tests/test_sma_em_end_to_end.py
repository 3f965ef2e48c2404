"""The daemon with an SMA Energy Meter and an SMA inverter, both simulated, into InfluxDB 1.x."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_em.fields import FIELDS
from collector.sources.sma_em.simulator import Meter, MeterSender
from tests.harness import INFLUX_TYPES, Collector, unique
from tests.servers import InfluxDB1, free_port

pytestmark = pytest.mark.servers


def test_a_meter_and_an_inverter_arrive_side_by_side(influxdb1: InfluxDB1, tmp_path: Path) -> None:
    inverter = SmaSimulator([SmaInverter(3010538116, strings=2, seed=1)]).start()
    port = free_port(udp=True)
    sender = MeterSender(Meter(serial=1901429669), ("127.0.0.1", port), period=0.2).start()
    database, meters, inverters = unique("db"), unique("SMA_EM"), unique("SMA")
    influxdb1.create_database(database)
    env = {
        "SMA_HOST": ",".join(inverter.addresses),
        "SMA_INTERVAL": "1",
        "SMA_TIMEOUT": "0.3",
        "SMA_MEASUREMENT": inverters,
        "SMA_EM_SERIAL": "1901429669",
        "SMA_EM_PORT": str(port),
        "SMA_EM_GROUP": "none",
        "SMA_EM_INTERVAL": "1",
        "SMA_EM_MEASUREMENT": meters,
        "INFLUX_API": "v1",
        "INFLUX_URL": influxdb1.url,
        "INFLUX_BUCKET": database,
    }
    try:
        collector = Collector(tmp_path / "c", env)
        collector.wait_for(
            lambda: (
                {"sma", "sma-em"} <= {event["source"] for event in collector.named("reading")}
                and sum(event["source"] == "sma-em" for event in collector.named("reading")) >= 2
            ),
            what="readings of the meter and the inverter",
        )
        assert collector.stop() == 0
    finally:
        sender.stop()
        inverter.stop()

    assert "Traceback" not in collector.text()
    [heard] = collector.named("meter heard")
    assert (heard["serial"], heard["model"], heard["version"]) == (
        1901429669,
        "Energy Meter 2.0",
        "2.0.18.R",
    )
    logged = [event for event in collector.named("reading") if event["source"] == "sma-em"]
    points = influxdb1.points(database, meters)
    assert len(points) == len(logged)
    assert sum(point["samples"] for point in points) == sum(event["samples"] for event in logged)
    types = influxdb1.field_types(database, meters)
    assert types == {
        name: INFLUX_TYPES[spec.type]
        for name, spec in FIELDS.items()
        if name != "grid_frequency"  # the EM 2.0 sends none
    }
    for point in points:
        assert 220 < point["grid_voltage_l1"] < 240
    assert influxdb1.points(database, inverters)  # the inverter beside it
