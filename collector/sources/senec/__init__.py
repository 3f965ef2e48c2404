"""The `senec` kind: a SENEC home battery, read locally through the device's lala.cgi.

Registered in pyproject.toml under the `collector.sources` entry points. Importing this module
is cheap (settings and catalogue only); the HTTP client and the simulator load when used.
"""

from __future__ import annotations

from collector.sources import Instance, InstanceConfig, KindCommand, SourceKind
from collector.sources.senec.fields import FIELDS
from collector.sources.senec.settings import SenecSettings


def build(configs: list[InstanceConfig]) -> list[Instance]:
    from collector.loop import PollLoop
    from collector.sources.senec.source import SenecLocalSource

    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, SenecSettings)
        instances.append(PollLoop(config.name, SenecLocalSource(config.settings, config.name)))
    return instances


KIND = SourceKind(
    name="senec",
    description="SENEC home battery, read locally (lala.cgi over HTTPS or HTTP)",
    env_prefix="SENEC_",
    settings=SenecSettings,
    fields=FIELDS,
    build=build,
    env_triggers=("host",),
    env_selector=("adapter", "local", True),
    simulator=KindCommand.lazy(
        "senec", "a SENEC battery's lala.cgi", "collector.sources.senec.simulator"
    ),
    manufacturer="SENEC",
    model="SENEC.Home (local API)",
    version_field="application_version",
)
