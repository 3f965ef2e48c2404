"""The `sma-webconnect` kind: SMA inverters read through WebConnect, their web interface's JSON
API (sma.md §7), for the many that have Speedwire switched off.

Registered in pyproject.toml under the `collector.sources` entry points; importing this module
is cheap (settings and catalogue only).
"""

from __future__ import annotations

from collector.sources import Instance, InstanceConfig, KindCommand, SourceKind
from collector.sources.sma_webconnect.fields import FIELDS
from collector.sources.sma_webconnect.settings import SmaWebConnectSettings


def build(configs: list[InstanceConfig]) -> list[Instance]:
    from collector.loop import PollLoop
    from collector.sources.sma_webconnect.source import SmaWebConnectSource

    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, SmaWebConnectSettings)
        source = SmaWebConnectSource(config.settings, config.name)
        # a full session table is waited out in minutes (SessionsFull.retry_after)
        instances.append(PollLoop(config.name, source, max_backoff=300.0))
    return instances


KIND = SourceKind(
    name="sma-webconnect",
    description="SMA inverters through WebConnect, their web interface's JSON API (https)",
    env_prefix="SMA_WEBCONNECT_",
    settings=SmaWebConnectSettings,
    fields=FIELDS,
    build=build,
    env_triggers=("url",),
    series_tag="serial",
    simulator=KindCommand.lazy(
        "sma-webconnect",
        "an SMA inverter's WebConnect interface (HTTPS, sessions and their limit)",
        "collector.sources.sma_webconnect.simulator",
    ),
    manufacturer="SMA",
    model="inverter (WebConnect)",
)
