"""Topic names and the state message of a reading.

- `<prefix>/status`: `online` while the collector runs, `offline` (its last will) after;
- `<prefix>/<instance>/availability`: `online` while the instance's device answers;
- `<prefix>/<instance>/state`, or `<prefix>/<instance>/<series>/state` for a reading with its
  kind's series tag (an inverter's serial): one JSON object, `time` (ISO 8601, UTC) and every
  field by its catalogue name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from collector.reading import Reading

ONLINE = b"online"
OFFLINE = b"offline"

_NOT_IN_LEVEL = re.compile(r"[/+#\0]")
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_-]")


def level(text: str) -> str:
    """A topic level from any text: no separator, no wildcard."""
    return _NOT_IN_LEVEL.sub("_", text) or "_"


def identifier(text: str) -> str:
    """An id as Home Assistant takes it in a discovery topic: letters, digits, _ and -."""
    return _NOT_IN_ID.sub("_", text)


@dataclass(frozen=True)
class Node:
    """One device as MQTT shows it: an instance, or one series (serial) of an instance."""

    instance: str
    series: str | None = None

    def base(self, prefix: str) -> str:
        parts = [prefix, level(self.instance)]
        if self.series is not None:
            parts.append(level(self.series))
        return "/".join(parts)

    def state_topic(self, prefix: str) -> str:
        return f"{self.base(prefix)}/state"

    def node_id(self, prefix: str) -> str:
        """Its id in Home Assistant's discovery topics and unique ids."""
        parts = [prefix.replace("/", "_"), self.instance]
        if self.series is not None:
            parts.append(self.series)
        return identifier("_".join(parts))


def status_topic(prefix: str) -> str:
    return f"{prefix}/status"


def availability_topic(prefix: str, instance: str) -> str:
    return f"{prefix}/{level(instance)}/availability"


def state_message(reading: Reading) -> bytes:
    """The reading as one JSON object: `time` first, then its fields as they are."""
    document: dict[str, object] = {"time": reading.time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    document.update(reading.fields)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
