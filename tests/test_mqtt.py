"""The live view on MQTT, end to end: the daemon as a process, the simulated house, Debian's
mosquitto broker, and a client subscribed to everything as Home Assistant would be.

- the whole house: every discovery message has what Home Assistant needs (unit and classes as
  the catalogue says, unique ids unique over the house), and each state's values, rendered
  through the entity's own value template, are the point InfluxDB holds for that reading;
- the broker stopped and started again: said once each, the state published again;
- the last will after SIGKILL; an instance removed from the file leaves no entity behind;
- MQTT alone, without InfluxDB; a broker with a password file; a broker over TLS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from collector.mqtt.topics import Node
from collector.sources import SourceKind, load_kinds
from tests.harness import Collector, toml_file, unique
from tests.house import MEASUREMENTS, House
from tests.mqtt_watch import Watcher
from tests.servers import InfluxDB1, Mosquitto

pytestmark = pytest.mark.servers

PREFIX = "energy"
REQUIRED = ("name", "unique_id", "state_topic", "value_template", "availability", "device")

# what each instance of the house is, and the series (serials) its readings carry
HOUSE_NODES: dict[str, tuple[str, list[str | None]]] = {
    "senec": ("senec", [None]),
    "senec-cloud": ("senec-cloud", [None]),
    "sma": ("sma", ["3010538001", "3010538002"]),
    "webconnect": ("sma-webconnect", ["3010538003"]),
    "ennexos": ("sma-ennexos", ["3016259004"]),
    "meter": ("sma-em", ["1900000007"]),
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "broker")
    server.start()
    yield server
    server.stop()


def render(template: str, state: dict[str, Any]) -> str:
    """A value template as Home Assistant renders it (jinja2; a missing key renders empty)."""
    return jinja2.Environment().from_string(template).render(value_json=state)


def configs_of(watcher: Watcher) -> dict[str, dict[str, Any]]:
    return {
        topic: json.loads(message)
        for topic, message in watcher.under("homeassistant/").items()
        if topic.endswith("/config")
    }


def announced(watcher: Watcher, topic: str) -> bool:
    """The node of a state topic has its state and an entity for every field in it."""
    snapshot = watcher.snapshot()
    if topic not in snapshot:
        return False
    fields = set(json.loads(snapshot[topic])) - {"time"}
    have = {c["value_template"] for c in configs_of(watcher).values() if c["state_topic"] == topic}
    return all(any(f"value_json.{name} " in t for t in have) for name in fields)


def test_the_house_on_mqtt_is_what_home_assistant_needs_and_what_influxdb_holds(
    tmp_path: Path, influxdb1: InfluxDB1, broker: Mosquitto
) -> None:
    kinds = load_kinds()
    database = unique("mqtt")
    influxdb1.create_database(database)
    watcher = Watcher(broker.port)
    with House(tmp_path) as house:
        config = tmp_path / "collector.toml"
        tables: dict[str, dict[str, object]] = {
            "influx": {"api": "v1", "url": influxdb1.url, "bucket": database},
            "mqtt": {"url": broker.url, "topic": PREFIX},
        }
        config.write_text(toml_file(house.sources(), tables), encoding="utf-8")
        collector = Collector(tmp_path / "c", {"COLLECTOR_CONFIG": str(config)})
        states = {
            Node(name, series).state_topic(PREFIX): (name, series)
            for name, (_, serials) in HOUSE_NODES.items()
            for series in serials
        }
        watcher.wait_for(
            lambda: all(announced(watcher, topic) for topic in states), 60, "the house announced"
        )
        snapshot = watcher.snapshot()
        configs = configs_of(watcher)

        # Discovery: what Home Assistant needs, from the catalogues, no id twice.
        ids = [config["unique_id"] for config in configs.values()]
        assert len(ids) == len(set(ids))
        for topic, entity in configs.items():
            assert all(key in entity for key in REQUIRED), (topic, entity)
            component, node_id, field, _ = topic.split("/")[1:]
            name, series = states[entity["state_topic"]]
            kind: SourceKind = kinds[HOUSE_NODES[name][0]]
            spec = kind.fields[field]
            assert component == ("binary_sensor" if spec.type is bool else "sensor")
            assert entity["unique_id"] == f"{node_id}_{field}"
            assert entity.get("unit_of_measurement") == (spec.unit or None)
            device_class, state_class = spec.home_assistant
            assert entity.get("device_class") == device_class, topic
            assert entity.get("state_class") == state_class, topic
            assert [a["topic"] for a in entity["availability"]] == [
                f"{PREFIX}/status",
                f"{PREFIX}/{name}/availability",
            ]
            device = entity["device"]
            assert device["identifiers"] == [node_id]
            assert device["manufacturer"] == kind.manufacturer
            assert device.get("serial_number") == series
        energy = configs[f"homeassistant/sensor/{PREFIX}_sma_3010538001/energy_total/config"]
        assert (energy["device_class"], energy["state_class"]) == ("energy", "total_increasing")
        assert energy["unit_of_measurement"] == "Wh"
        assert snapshot[f"{PREFIX}/status"] == b"online"
        for name in HOUSE_NODES:
            assert snapshot[f"{PREFIX}/{name}/availability"] == b"online", name

        # Each state, read through its entities' templates, is the point InfluxDB holds.
        def point_of(topic: str) -> dict[str, Any] | None:
            name, series = states[topic]
            state = json.loads(snapshot[topic])
            second = _seconds(state["time"])
            for point in influxdb1.points(database, MEASUREMENTS[name][0]):
                if point["time"] == second and (series is None or point["serial"] == series):
                    return point
            return None

        collector.wait_for(
            lambda: all(point_of(topic) is not None for topic in states), 60, "the points"
        )
        compared = 0
        for topic in states:
            state = json.loads(snapshot[topic])
            point = point_of(topic)
            assert point is not None
            for where, entity in configs.items():
                if entity["state_topic"] != topic:
                    continue
                field = where.split("/")[3]
                shown = render(entity["value_template"], state)
                if isinstance(point[field], bool):
                    assert shown == ("ON" if point[field] else "OFF"), (topic, field)
                elif isinstance(point[field], str):
                    assert shown == point[field], (topic, field)
                else:
                    assert float(shown) == point[field], (topic, field, shown, point[field])
                compared += 1
        assert compared == len(configs)
        assert collector.stop() == 0
    watcher.wait_for(
        lambda: watcher.snapshot().get(f"{PREFIX}/status") == b"offline", 10, "status offline"
    )
    watcher.close()


def _seconds(text: str) -> int:
    from datetime import datetime

    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())
