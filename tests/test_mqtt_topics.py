"""The live view's pure parts: topic names, the state message, Home Assistant's discovery."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from collector.mqtt.discovery import (
    Device,
    entities,
    entity_config,
    entity_name,
    instance_of_config,
)
from collector.mqtt.topics import Node, level, state_message
from collector.reading import FieldSpec, Reading
from collector.sources import load_kinds

NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True)  # instance names
ANY_TEXT = st.text(min_size=1, max_size=30)
DEVICE = Device("roof", "SMA", "inverter (Speedwire)", serial="3010538001")


@given(NAMES, st.none() | ANY_TEXT)
def test_topics_never_hold_a_wildcard_and_ids_only_what_home_assistant_takes(
    name: str, series: str | None
) -> None:
    node = Node(name, series)
    topic = node.state_topic("energy")
    levels = topic.split("/")
    assert levels[0] == "energy"
    assert levels[-1] == "state"
    assert len(levels) == (3 if series is None else 4)
    assert not any(char in topic for char in "+#\0")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", node.node_id("energy"))


@given(NAMES, st.none() | ANY_TEXT, st.sampled_from(["energy", "home/energy"]))
def test_the_instance_is_found_again_in_its_discovery_message(
    name: str, series: str | None, prefix: str
) -> None:
    spec = FieldSpec("ac_power", int, "W", "AC power")
    config = entity_config(prefix, Node(name, series), DEVICE, spec, 1)
    assert instance_of_config(json.dumps(config).encode(), prefix) == level(name)
    assert instance_of_config(json.dumps(config).encode(), "other") is None


def test_what_is_not_a_discovery_message_of_ours_is_left_alone() -> None:
    for message in (b"", b"not json", b"[1]", b'{"state_topic": 3}', b'{"stat_t": "energy/x"}'):
        assert instance_of_config(message, "energy") is None
    assert instance_of_config(b'{"stat_t": "energy/x/state"}', "energy") == "x"


def test_the_state_message_is_time_then_the_fields_as_they_are() -> None:
    reading = Reading(
        datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC),
        "SMA",
        {
            "ac_power": 1200,
            "grid_voltage_l1": 231.5,
            "device_status_ok": True,
            "device_status": "Ok",
        },
        {"serial": "3010538001"},
    )
    message = state_message(reading)
    assert message == (
        b'{"time":"2026-12-07T10:00:05Z","ac_power":1200,"grid_voltage_l1":231.5,'
        b'"device_status_ok":true,"device_status":"Ok"}'
    )


def test_entity_names_are_the_description_up_to_its_first_aside() -> None:
    kinds = load_kinds()
    assert entity_name(kinds["sma"].fields["grid_relay"]) == "Grid relay"
    assert entity_name(kinds["senec"].fields["grid_power_minus"]) == "Power exported to the grid"
    assert entity_name(kinds["senec"].fields["bat_fuel_charge"]) == "Battery state of charge"


def test_a_boolean_is_a_binary_sensor_that_is_unknown_when_the_reading_lacks_it() -> None:
    spec = FieldSpec("device_status_ok", bool, "", "whether the device status is Ok")
    ((topic, message),) = entities(
        "homeassistant", "energy", Node("roof", "1"), DEVICE, {spec.name: spec}, 1
    )
    assert topic == "homeassistant/binary_sensor/energy_roof_1/device_status_ok/config"
    config = json.loads(message)
    assert (config["payload_on"], config["payload_off"]) == ("ON", "OFF")
    assert "unit_of_measurement" not in config
    assert "is defined" in config["value_template"]
