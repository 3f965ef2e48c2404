"""The `sma-em` kind: SMA Energy Meters (EM 1.0, 2.0) and Sunny Home Managers 2.0, heard on UDP.

The first pushed kind: the meters send a datagram about every second (multicast, or unicast
with "direct meter communication"); each instance makes one reading per interval and meter.
Registered in pyproject.toml under the `collector.sources` entry points; importing this module
is cheap (settings and catalogue only).
"""

from __future__ import annotations

from collector.sources import Instance, InstanceConfig, KindCommand, SourceKind
from collector.sources.sma_em.fields import FIELDS
from collector.sources.sma_em.settings import SmaEmSettings


def build(configs: list[InstanceConfig]) -> list[Instance]:
    from collector.sources.sma_em.source import MeterSocket, MeterSource

    sockets: dict[int, MeterSocket] = {}  # instances on one port share its socket
    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, SmaEmSettings)
        port = config.settings.port
        if port not in sockets:
            sockets[port] = MeterSocket(config.settings)
        instances.append(MeterSource(config.name, config.settings, sockets[port]))
    return instances


KIND = SourceKind(
    name="sma-em",
    description="SMA Energy Meter / Sunny Home Manager datagrams (UDP 9522, multicast or unicast)",
    env_prefix="SMA_EM_",
    settings=SmaEmSettings,
    fields=FIELDS,
    build=build,
    env_triggers=("serial", "enable"),
    series_tag="serial",
    simulator=KindCommand.lazy(
        "sma-em", "an SMA Energy Meter's datagrams", "collector.sources.sma_em.simulator"
    ),
    manufacturer="SMA",
    model="Energy Meter / Sunny Home Manager",
)
