"""The readings of one moment share the work: one transaction on disk, one request to InfluxDB.

A daemon reads a SENEC and two SMA inverters (three readings a second) into VictoriaMetrics with
the default INFLUX_FLUSH_INTERVAL (1 s); VictoriaMetrics' own request counter says how many
write requests it took for them. (The other tests run with INFLUX_FLUSH_INTERVAL=0, so that
they need not wait for it; the queue's group commit is tested in test_queue.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.simulators.household import Household
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from tests.harness import Collector, toml_file, unique
from tests.servers import VictoriaMetrics

pytestmark = pytest.mark.servers

READINGS = 30


def test_a_second_of_readings_goes_to_the_database_in_one_request(
    tmp_path: Path, victoria: VictoriaMetrics
) -> None:
    senec = SenecSimulator(SenecDevice(Household(seed=3)), tls=False).start()
    inverters = SmaSimulator(
        [SmaInverter(3010538201, seed=1), SmaInverter(3010538202, strings=3, seed=2)]
    ).start()
    names = {"senec": unique("SENEC"), "sma": unique("SMA")}
    sources: list[dict[str, object]] = [
        {"kind": "senec", "name": "senec", "host": senec.address, "schema": "http"},
        {"kind": "sma", "name": "sma", "host": ",".join(inverters.addresses)},
    ]
    for source in sources:
        source["interval"] = 1
        source["measurement"] = names[str(source["name"])]
    config = tmp_path / "collector.toml"
    influx: dict[str, object] = {"url": victoria.url, "org": "-", "bucket": "solar"}
    config.write_text(toml_file(sources, {"influx": influx}), encoding="utf-8")
    before = victoria.write_requests()
    try:
        # a blank INFLUX_FLUSH_INTERVAL is unset: the default, not the tests' 0
        collector = Collector(
            tmp_path / "c", {"COLLECTOR_CONFIG": str(config), "INFLUX_FLUSH_INTERVAL": ""}
        )
        collector.wait_events("reading", READINGS, timeout=60)
        assert collector.stop() == 0  # the writer delivers what is queued before it exits
    finally:
        senec.stop()
        inverters.stop()
    requests = victoria.write_requests() - before
    readings = collector.named("reading")
    stopped = collector.named("stopped")[0]
    assert stopped["left_in_queue"] == 0
    counted = {"senec": "house_power", "sma": "ac_power"}
    for name, measurement in names.items():
        logged = sum(1 for event in readings if event["source"] == name)
        points = len(victoria.samples(measurement)[counted[name]])
        assert points == logged > 0, (name, points, logged)
    # three readings a second (and the daemon's own figures now and then) in about one request
    # a second; written one by one (INFLUX_FLUSH_INTERVAL=0) they take about one each
    assert requests * 2 <= len(readings), (requests, len(readings))
