"""The `senec-connect` kind: SENEC.Connect, SENEC's official API (a subscription key).

One request answers for every system of the account; each system with data becomes a point
(tagged `system` when there are several, or when another instance writes the same
measurement and tags). Registered in pyproject.toml under the
`collector.sources` entry points; importing this module is cheap (settings and catalogue).
"""

from __future__ import annotations

from collector.sources import Instance, InstanceConfig, KindCommand, SourceKind
from collector.sources.senec_connect.fields import FIELDS
from collector.sources.senec_connect.settings import SenecConnectSettings


def build(configs: list[InstanceConfig]) -> list[Instance]:
    from collector.loop import PollLoop
    from collector.sources.senec_connect.source import SenecConnectSource

    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, SenecConnectSettings)
        source = SenecConnectSource(config.settings, config.name, shared=config.shared)
        instances.append(PollLoop(config.name, source, max_backoff=900.0))
    return instances


KIND = SourceKind(
    name="senec-connect",
    description="SENEC.Connect, SENEC's official API (subscription key; Home 4 / P4 / E4)",
    env_prefix="SENEC_CONNECT_",
    settings=SenecConnectSettings,
    fields=FIELDS,
    build=build,
    env_triggers=("key",),
    series_tag="system",
    simulator=KindCommand.lazy(
        "senec-connect", "SENEC.Connect's API", "collector.sources.senec_connect.simulator"
    ),
    manufacturer="SENEC",
    model="SENEC.Home (SENEC.Connect)",
)
