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

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import trustme

from collector.mqtt.topics import Node
from collector.simulators.household import Household
from collector.sources import SourceKind, load_kinds
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from tests.harness import Collector, reading_seconds, run_collector, toml_file, unique
from tests.house import MEASUREMENTS, House
from tests.mqtt_watch import Watcher
from tests.servers import InfluxDB1, Mosquitto, VictoriaMetrics

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
        energy_total = f"homeassistant/sensor/{PREFIX}_sma_3010538001/energy_total/config"
        watcher.wait_for(
            lambda: (
                all(announced(watcher, topic) for topic in states)
                and energy_total in watcher.snapshot()
            ),
            60,
            "the house announced",
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
        energy = configs[energy_total]
        assert (energy["device_class"], energy["state_class"]) == ("energy", "total_increasing")
        assert energy["unit_of_measurement"] == "Wh"
        assert snapshot[f"{PREFIX}/status"] == b"online"
        # A source is online once its first reading is collected (on disk), which comes just
        # after that reading's state: wait for it rather than read it off the snapshot.
        watcher.wait_for(
            lambda: all(
                watcher.snapshot().get(f"{PREFIX}/{name}/availability") == b"online"
                for name in HOUSE_NODES
            ),
            30,
            "every source online",
        )

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
                if field not in state:  # announced from another reading: not in this one
                    assert shown == "", (topic, field)  # unknown in Home Assistant, no value
                    assert point.get(field) is None, (topic, field)
                elif isinstance(point[field], bool):
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


# --- one SENEC, the broker's faults --------------------------------------------------------


@pytest.fixture
def senec() -> Iterator[SenecSimulator]:
    simulator = SenecSimulator(SenecDevice(Household(seed=8)), tls=False).start()
    yield simulator
    simulator.stop()


def senec_env(simulator: SenecSimulator, broker: Mosquitto, **more: str) -> dict[str, str]:
    return {
        "SENEC_HOST": simulator.address,
        "SENEC_SCHEMA": "http",
        "SENEC_INTERVAL": "1",
        "MQTT_URL": broker.url,
        "INFLUX_FLUSH_INTERVAL": "",  # blank is unset: no InfluxDB setting (MQTT alone)
        **more,
    }


def publishing_senec(
    tmp_path: Path, victoria: VictoriaMetrics, broker: Mosquitto, senec: SenecSimulator
) -> tuple[str, Collector, Watcher]:
    """A daemon reading the SENEC into VictoriaMetrics (a measurement of its own) and onto the
    broker, once its first state is there; and the watcher that saw it."""
    measurement = unique("SENEC")
    influx = {
        "INFLUX_URL": victoria.url,
        "INFLUX_ORG": "-",
        "INFLUX_BUCKET": "solar",
        "INFLUX_MEASUREMENT": measurement,
        "INFLUX_FLUSH_INTERVAL": "0",
    }
    watcher = Watcher(broker.port)
    collector = Collector(tmp_path / "c", senec_env(senec, broker, **influx))
    topic = f"{PREFIX}/senec/state"
    watcher.wait_for(lambda: topic in watcher.snapshot(), 30, "the first state")
    return measurement, collector, watcher


def state_time(watcher: Watcher, topic: str) -> int:
    state = watcher.snapshot().get(topic)
    return _seconds(json.loads(state)["time"]) if state else 0


def test_a_broker_away_is_said_once_polls_go_on_and_the_state_comes_back(
    tmp_path: Path, victoria: VictoriaMetrics, broker: Mosquitto, senec: SenecSimulator
) -> None:
    measurement, collector, watcher = publishing_senec(tmp_path, victoria, broker, senec)
    topic = f"{PREFIX}/senec/state"
    broker.stop()
    collector.wait_events("MQTT broker away")
    readings = len(collector.named("reading"))
    # polls and InfluxDB go on while the broker is away
    collector.wait_for(lambda: len(collector.named("reading")) >= readings + 3, 30, "3 readings")
    away = int(time.time())
    broker.start()  # without persistence: its retained messages are gone
    collector.wait_events("MQTT broker back", timeout=60)
    watcher.wait_for(lambda: state_time(watcher, topic) >= away, 60, "a state after the outage")
    assert watcher.snapshot()[f"{PREFIX}/status"] == b"online"  # published before the states
    # published again after the state, in the order the topics were first set: wait for it
    availability = f"{PREFIX}/senec/availability"
    watcher.wait_for(lambda: watcher.snapshot().get(availability) == b"online", 30, "online")
    assert collector.stop() == 0
    assert len(collector.named("MQTT broker away")) == 1
    assert len(collector.named("MQTT broker back")) == 1
    logged = len(collector.named("reading"))
    assert len(victoria.series(measurement)["house_power"]) == len(reading_seconds(collector))
    assert logged >= readings + 3
    watcher.close()


def test_a_frozen_broker_delays_no_poll_and_no_write(
    tmp_path: Path, victoria: VictoriaMetrics, broker: Mosquitto, senec: SenecSimulator
) -> None:
    """SIGSTOP: the broker's port still takes connections, but nothing answers (a broker that
    hangs, or one far too slow). Polls stay on their 1 s schedule and InfluxDB gets them; the
    broker is called away once nothing was acknowledged for 10 s, and back after SIGCONT."""
    import signal
    from datetime import datetime

    measurement, collector, watcher = publishing_senec(tmp_path, victoria, broker, senec)
    watcher.close()
    assert broker.process is not None
    broker.process.send_signal(signal.SIGSTOP)
    try:
        frozen = len(collector.named("reading"))
        collector.wait_events("MQTT broker away", timeout=40)
        assert len(collector.named("reading")) >= frozen + 6
    finally:
        broker.process.send_signal(signal.SIGCONT)
    collector.wait_events("MQTT broker back", timeout=60)
    assert collector.stop() == 0
    (away,) = collector.named("MQTT broker away")
    assert "acknowledged no message within 10 s" in away["error"], away
    stamps = [
        datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        for event in collector.named("reading")[frozen - 1 : frozen + 6]
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    # polled every second; a poll that waited for the broker would wait its 10 s timeout
    assert max(gaps) < 5, gaps
    assert len(victoria.series(measurement)["house_power"]) == len(reading_seconds(collector))


def test_the_last_will_says_offline_when_the_collector_is_killed(
    tmp_path: Path, broker: Mosquitto, senec: SenecSimulator
) -> None:
    watcher = Watcher(broker.port)
    collector = Collector(tmp_path / "c", senec_env(senec, broker))
    status = f"{PREFIX}/status"
    watcher.wait_for(lambda: watcher.snapshot().get(status) == b"online", 30, "online")
    collector.kill()
    watcher.wait_for(lambda: watcher.snapshot().get(status) == b"offline", 30, "the last will")
    watcher.close()


def test_mqtt_alone_needs_no_influxdb_and_keeps_no_queue(
    tmp_path: Path, broker: Mosquitto, senec: SenecSimulator
) -> None:
    env = senec_env(senec, broker)
    shown = run_collector(tmp_path, {**env, "DATA_DIR": str(tmp_path / "d")}, "config")
    assert shown.returncode == 0, shown.stderr
    assert "[mqtt]" in shown.stdout
    assert "[influx]" not in shown.stdout
    watcher = Watcher(broker.port)
    collector = Collector(tmp_path / "c", env)
    topic = f"{PREFIX}/senec/state"
    watcher.wait_for(lambda: topic in watcher.snapshot(), 30, "a state")
    collector.wait_events("reading", 3)
    assert collector.stop() == 0
    stopped = collector.named("stopped")[0]
    assert stopped["published"] > 0
    assert "delivered" not in stopped
    assert not (tmp_path / "c" / "data" / "queue.sqlite3").exists()
    assert [e["event"] for e in collector.named("writing to")] == []
    state = watcher.json(topic)
    assert set(state) - {"time"} <= set(load_kinds()["senec"].fields)
    watcher.close()


def test_home_assistant_coming_back_gets_the_discovery_again(
    tmp_path: Path, broker: Mosquitto, senec: SenecSimulator
) -> None:
    watcher = Watcher(broker.port)
    collector = Collector(tmp_path / "c", senec_env(senec, broker))
    config = f"homeassistant/sensor/{PREFIX}_senec/house_power/config"
    watcher.wait_for(lambda: config in watcher.snapshot(), 30, "the discovery")
    before = watcher.count(config)
    watcher.publish("homeassistant/status", b"online")
    watcher.wait_for(lambda: watcher.count(config) > before, 30, "the discovery again")
    collector.wait_events("Home Assistant online: discovery published again")
    assert collector.stop() == 0
    watcher.close()


def test_an_instance_removed_from_the_file_leaves_no_entity_behind(
    tmp_path: Path, broker: Mosquitto, senec: SenecSimulator
) -> None:
    """...but only what this collector announced (DATA_DIR remembers it): another collector on
    the same broker and prefix, which never had that instance, leaves its entities alone."""
    inverter = SmaSimulator([SmaInverter(3010538301, seed=4)]).start()
    try:
        sources: list[dict[str, object]] = [
            {"kind": "senec", "name": "battery", "host": senec.address, "schema": "http"},
            {"kind": "sma", "name": "roof", "host": inverter.addresses[0]},
        ]
        for source in sources:
            source["interval"] = 1
        mqtt: dict[str, object] = {"url": broker.url, "topic": PREFIX}
        config = tmp_path / "collector.toml"
        config.write_text(toml_file(sources, {"mqtt": mqtt}), encoding="utf-8")
        watcher = Watcher(broker.port)
        env = {"COLLECTOR_CONFIG": str(config), "INFLUX_FLUSH_INTERVAL": ""}
        first = Collector(tmp_path / "c", env)
        battery = f"homeassistant/sensor/{PREFIX}_battery/"
        roof = f"homeassistant/sensor/{PREFIX}_roof_3010538301/"
        watcher.wait_for(
            lambda: bool(watcher.under(battery)) and bool(watcher.under(roof)), 30, "both"
        )
        assert first.stop() == 0
        roof_entities = watcher.under(roof)
        battery_entities = watcher.under(battery)
        config.write_text(toml_file(sources[1:], {"mqtt": mqtt}), encoding="utf-8")

        other = Collector(tmp_path / "another-house", env)  # its own DATA_DIR
        other.wait_events("reading", 2)
        assert other.stop() == 0
        assert watcher.under(battery) == battery_entities  # not its to remove

        second = Collector(tmp_path / "c", env)
        watcher.wait_for(
            lambda: (
                not watcher.under(f"homeassistant/binary_sensor/{PREFIX}_battery/")
                and not watcher.under(battery)
                and f"{PREFIX}/battery/state" not in watcher.snapshot()
                and f"{PREFIX}/battery/availability" not in watcher.snapshot()
            ),
            30,
            "the battery's entities, state and availability removed",
        )
        second.wait_for(lambda: bool(second.named("reading")), 30, "a reading")
        assert set(roof_entities) <= set(watcher.under(roof))  # the roof's stay
        removing = "removing Home Assistant entities of an instance no longer configured"
        assert len(second.named(removing)) == 1
        assert other.named(removing) == []
        assert second.stop() == 0
        watcher.close()
    finally:
        inverter.stop()


# --- a broker with users, a broker over TLS -------------------------------------------------


def test_a_broker_with_a_password_file(tmp_path: Path, senec: SenecSimulator) -> None:
    broker = Mosquitto(tmp_path / "broker", users={"collector": "s3cret-Pw", "ha": "ha-pw"})
    broker.start()
    try:
        wrong = Collector(
            tmp_path / "wrong",
            senec_env(senec, broker, MQTT_USERNAME="collector", MQTT_PASSWORD="nope"),
        )
        wrong.wait_events("MQTT broker away")
        wrong.wait_events("reading", 2)  # the polls go on
        assert wrong.stop() == 0
        (away,) = wrong.named("MQTT broker away")
        assert "check MQTT_USERNAME and MQTT_PASSWORD" in away["error"], away
        secret = tmp_path / "mqtt-password"
        secret.write_text("s3cret-Pw\n")
        watcher = Watcher(broker.port, username="ha", password="ha-pw")
        right = Collector(
            tmp_path / "right",
            senec_env(senec, broker, MQTT_USERNAME="collector", MQTT_PASSWORD_FILE=str(secret)),
        )
        topic = f"{PREFIX}/senec/state"
        watcher.wait_for(lambda: topic in watcher.snapshot(), 30, "a state")
        assert right.stop() == 0
        assert right.named("MQTT broker away") == []
        assert "s3cret" not in right.text() + wrong.text()
        watcher.close()
    finally:
        broker.stop()


def test_a_broker_over_tls_with_a_ca_of_its_own(tmp_path: Path, senec: SenecSimulator) -> None:
    broker = Mosquitto(tmp_path / "broker", tls=trustme.CA())
    broker.start()
    try:
        unknown = Collector(tmp_path / "unknown", senec_env(senec, broker))
        unknown.wait_events("MQTT broker away")
        assert unknown.stop() == 0
        (away,) = unknown.named("MQTT broker away")
        assert "give the broker's CA in MQTT_CA_FILE" in away["error"], away
        watcher = Watcher(broker.port, ca_file=broker.ca_path)
        trusted = Collector(
            tmp_path / "trusted", senec_env(senec, broker, MQTT_CA_FILE=str(broker.ca_path))
        )
        topic = f"{PREFIX}/senec/state"
        watcher.wait_for(lambda: topic in watcher.snapshot(), 30, "a state over TLS")
        assert trusted.stop() == 0
        assert trusted.named("MQTT broker away") == []
        (banner,) = trusted.named("publishing to")
        assert banner["broker"] == f"mqtts://127.0.0.1:{broker.port}"
        watcher.close()
    finally:
        broker.stop()


def test_check_prints_what_it_would_publish(tmp_path: Path, senec: SenecSimulator) -> None:
    env = {
        "SENEC_HOST": senec.address,
        "SENEC_SCHEMA": "http",
        "MQTT_URL": "mqtt://127.0.0.1:1",  # `check` does not connect: it prints
        "INFLUX_FLUSH_INTERVAL": "",
    }
    result = run_collector(tmp_path, env, "check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SENEC ")  # the line protocol first
    published = dict(line.split(" ", 1) for line in lines[1:])
    state = json.loads(published[f"{PREFIX}/senec/state"])
    fields = set(state) - {"time"}
    configs = {t: json.loads(m) for t, m in published.items() if t.endswith("/config")}
    assert {t.split("/")[3] for t in configs} == fields
    assert all(c["state_topic"] == f"{PREFIX}/senec/state" for c in configs.values())


def test_the_compose_brokers_start_script_sets_up_the_password_of_env(tmp_path: Path) -> None:
    """deploy/mosquitto/start.sh (the `mqtt` profile's entrypoint), run with Debian's mosquitto:
    the user of .env gets in, anyone else not; without a password it says what to set."""
    import os
    import subprocess

    from tests.harness import ROOT
    from tests.servers import free_port

    script = ROOT / "deploy/mosquitto/start.sh"
    port = free_port()
    base = {
        **os.environ,
        "MOSQUITTO_DIR": str(tmp_path / "data"),
        "MQTT_PORT": str(port),
        "MOSQUITTO_USER": "root" if os.getuid() == 0 else os.environ.get("USER", ""),
    }
    refused = subprocess.run(["/bin/sh", str(script)], env=base, capture_output=True, text=True)
    assert refused.returncode == 2
    assert "set MQTT_USERNAME and MQTT_PASSWORD in .env" in refused.stderr
    env = {**base, "MQTT_USERNAME": "collector", "MQTT_PASSWORD": "pw of the house"}
    log = (tmp_path / "broker.log").open("wb")
    broker = subprocess.Popen(["/bin/sh", str(script)], env=env, stdout=log, stderr=log)
    try:
        watcher = None
        for _ in range(100):  # until it listens
            try:
                watcher = Watcher(port, username="collector", password="pw of the house")
                break
            except (ConnectionRefusedError, AssertionError):
                time.sleep(0.1)
        assert watcher is not None, (tmp_path / "broker.log").read_text()
        watcher.publish("energy/test", b"x", retain=True)
        watcher.wait_for(lambda: watcher.snapshot().get("energy/test") == b"x", 10, "its own")
        watcher.close()
        with pytest.raises(AssertionError, match="could not connect"):
            Watcher(port, username="collector", password="wrong")
    finally:
        broker.terminate()
        broker.wait(10)
        log.close()


# evcc's signs: grid import positive, battery discharging positive
EVCC_EXPECTED = {
    "grid power": lambda s: s["grid_power_plus"] - s["grid_power_minus"],
    "pv power": lambda s: s["inverter_power"],
    "battery power": lambda s: s["bat_power_minus"] - s["bat_power_plus"],
    "battery soc": lambda s: s["bat_fuel_charge"],
}


def evcc_recipe() -> dict[str, tuple[str, str]]:
    """The README's evcc.yaml: '<meter> <power|soc>' -> (topic, jq expression)."""
    from tests.harness import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("**evcc**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    found: dict[str, tuple[str, str]] = {}
    meter = what = topic = ""
    for line in block.splitlines():
        text = line.strip()
        if text.startswith("- name:"):
            meter = text.split(":", 1)[1].strip()
        elif text in ("power:", "soc:"):
            what = text[:-1]
        elif text.startswith("topic:"):
            topic = text.split(":", 1)[1].strip()
        elif text.startswith("jq:"):
            found[f"{meter} {what}"] = (topic, text.split(":", 1)[1].strip())
    return found


def test_the_readmes_evcc_recipe_reads_the_published_state(
    tmp_path: Path, broker: Mosquitto, senec: SenecSimulator
) -> None:
    import subprocess

    from tests.servers import binary

    recipe = evcc_recipe()
    assert set(recipe) == set(EVCC_EXPECTED)
    watcher = Watcher(broker.port)
    collector = Collector(tmp_path / "c", senec_env(senec, broker))
    topics = {topic for topic, _ in recipe.values()}
    watcher.wait_for(lambda: topics <= set(watcher.snapshot()), 30, "the recipe's topics")
    assert collector.stop() == 0
    for name, (topic, expression) in recipe.items():
        message = watcher.snapshot()[topic]
        result = subprocess.run(
            [binary("jq", "jq"), expression], input=message, capture_output=True, check=True
        )
        assert float(result.stdout) == EVCC_EXPECTED[name](json.loads(message)), name
    watcher.close()
