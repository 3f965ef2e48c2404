"""Home Assistant's MQTT discovery: one device per node (an instance, or one serial of it), one
entity per field of its kind's catalogue that the device has reported.

`homeassistant/<component>/<node id>/<field>/config`, retained: `sensor` for numbers and texts,
`binary_sensor` for booleans. Unit, device class and state class come from the catalogue
(`FieldSpec.home_assistant`), so counters are `total_increasing` and the Energy dashboard takes
them. An entity is available while the collector runs (`<prefix>/status`) and its instance's
device answers (`<prefix>/<instance>/availability`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from collector import __version__
from collector.mqtt.settings import MqttSettings
from collector.mqtt.topics import Node, availability_topic, state_message, status_topic
from collector.reading import Catalogue, FieldSpec, Reading
from collector.sources import SourceKind

ORIGIN = {
    "name": "energy-collector",
    "sw_version": __version__,
}


@dataclass(frozen=True)
class Device:
    """What Home Assistant shows of a node's device."""

    name: str
    manufacturer: str
    model: str
    sw_version: str | None = None
    serial: str | None = None


def node_of(name: str, kind: SourceKind, reading: Reading) -> Node:
    """The node a reading of instance `name` belongs to: the instance, or its series."""
    return Node(name, reading.tags.get(kind.series_tag) if kind.series_tag else None)


def device_of(kind: SourceKind, node: Node, reading: Reading) -> Device:
    """A node's device as a reading of it shows it (its firmware where the kind has a field
    for it)."""
    version = reading.fields.get(kind.version_field) if kind.version_field else None
    return Device(
        name=node.instance if node.series is None else f"{node.instance} {node.series}",
        manufacturer=kind.manufacturer or kind.name,
        model=kind.model or kind.description,
        sw_version=str(version) if version is not None else None,
        serial=node.series,
    )


def component_of(spec: FieldSpec) -> str:
    return "binary_sensor" if spec.type is bool else "sensor"


def entity_name(spec: FieldSpec) -> str:
    """A short name from the field's description: up to its first '(', ':' or ','."""
    text = re.split(r" \(|:|,", spec.description, maxsplit=1)[0].strip()
    return text[:1].upper() + text[1:] if text else spec.name


def config_topic(discovery_prefix: str, prefix: str, node: Node, spec: FieldSpec) -> str:
    return f"{discovery_prefix}/{component_of(spec)}/{node.node_id(prefix)}/{spec.name}/config"


def entity_config(
    prefix: str, node: Node, device: Device, spec: FieldSpec, qos: int
) -> dict[str, object]:
    """The discovery message of one field of one node (as a dict: `entities` encodes it)."""
    node_id = node.node_id(prefix)
    component = component_of(spec)
    unique = f"{node_id}_{spec.name}"
    config: dict[str, object] = {
        "name": entity_name(spec),
        "unique_id": unique,
        # the entity id (Home Assistant 2025.10 on; the object_id before it ends with 2026.4)
        "default_entity_id": f"{component}.{unique}",
        "state_topic": node.state_topic(prefix),
        "availability": [
            {"topic": status_topic(prefix)},
            {"topic": availability_topic(prefix, node.instance)},
        ],
        "availability_mode": "all",
        "qos": qos,
    }
    if spec.type is bool:
        # a field the reading does not have renders empty: unknown, not off
        config["value_template"] = (
            f"{{% if value_json.{spec.name} is defined %}}"
            f"{{{{ 'ON' if value_json.{spec.name} else 'OFF' }}}}{{% endif %}}"
        )
        config["payload_on"] = "ON"
        config["payload_off"] = "OFF"
    else:
        config["value_template"] = f"{{{{ value_json.{spec.name} }}}}"
        device_class, state_class = spec.home_assistant
        if spec.unit:
            config["unit_of_measurement"] = spec.unit
        if device_class is not None:
            config["device_class"] = device_class
        if state_class is not None:
            config["state_class"] = state_class
    info: dict[str, object] = {
        "identifiers": [node_id],
        "name": device.name,
        "manufacturer": device.manufacturer,
        "model": device.model,
    }
    if device.sw_version:
        info["sw_version"] = device.sw_version
    if device.serial:
        info["serial_number"] = device.serial
    config["device"] = info
    config["origin"] = ORIGIN
    return config


def entities(
    discovery_prefix: str,
    prefix: str,
    node: Node,
    device: Device,
    catalogue: Catalogue,
    qos: int,
) -> list[tuple[str, bytes]]:
    """(topic, message) of every field's entity of a node, in the catalogue's order."""
    return [
        (
            config_topic(discovery_prefix, prefix, node, spec),
            json.dumps(entity_config(prefix, node, device, spec, qos), ensure_ascii=False).encode(),
        )
        for spec in catalogue.values()
    ]


def discovery_messages(
    settings: MqttSettings, node: Node, device: Device, kind: SourceKind, names: Iterable[str]
) -> list[tuple[str, bytes]]:
    """(topic, message) of the entities of these fields of a node, those the kind knows."""
    specs = {name: kind.fields[name] for name in names if name in kind.fields}
    return entities(settings.discovery_prefix, settings.topic, node, device, specs, settings.qos)


def instance_of_config(message: bytes, prefix: str) -> str | None:
    """The instance a retained discovery message of ours names in its state topic (None: it
    is not ours, or not readable). Used to remove the entities of instances no longer
    configured."""
    try:
        config = json.loads(message)
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    topic = config.get("state_topic", config.get("stat_t"))
    if not isinstance(topic, str) or not topic.startswith(f"{prefix}/"):
        return None
    rest = topic[len(prefix) + 1 :].split("/")
    return rest[0] if len(rest) >= 2 and rest[-1] == "state" else None


def messages_of(
    settings: MqttSettings, name: str, kind: SourceKind, reading: Reading
) -> list[tuple[str, bytes]]:
    """What one reading of instance `name` makes the collector publish (`collector check`):
    its state, and the discovery of its fields."""
    node = node_of(name, kind, reading)
    messages = [(node.state_topic(settings.topic), state_message(reading))]
    if settings.discovery:
        device = device_of(kind, node, reading)
        messages += discovery_messages(settings, node, device, kind, reading.fields)
    return messages
