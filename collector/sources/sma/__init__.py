"""The `sma` kind: SMA inverters over Speedwire (UDP 9522), and `collector discover`.

Registered in pyproject.toml under the `collector.sources` entry points. Importing this module
is cheap (settings and catalogue); the client, the simulator and discovery load when used.
"""

from __future__ import annotations

from collector.settings import format_address
from collector.sources import Instance, InstanceConfig, KindCommand, SourceKind
from collector.sources.sma.fields import FIELDS
from collector.sources.sma.settings import SmaSettings


def build(configs: list[InstanceConfig]) -> list[Instance]:
    """One poll loop per inverter; every point carries the inverter's `serial` tag."""
    from collector.loop import PollLoop
    from collector.sources.sma.source import SmaSource

    instances: list[Instance] = []
    for config in configs:
        settings = config.settings
        assert isinstance(settings, SmaSettings)
        targets = settings.targets
        for target in targets:
            source = SmaSource(
                target,
                settings.password.get_secret_value(),
                settings.group,
                interval=settings.interval,
                timeout=settings.effective_timeout,
                measurement=settings.measurement,
                name=config.name,
            )
            device = format_address(*target) if len(targets) > 1 else ""
            instances.append(PollLoop(config.name, source, device=device))
    return instances


KIND = SourceKind(
    name="sma",
    description="SMA inverters over Speedwire (UDP 9522; encryption off)",
    env_prefix="SMA_",
    settings=SmaSettings,
    fields=FIELDS,
    build=build,
    series_tag="serial",
    simulator=KindCommand.lazy(
        "sma",
        "SMA inverters speaking Speedwire (UDP) on 127.0.0.1",
        "collector.sources.sma.simulator",
    ),
    commands=(
        KindCommand.lazy(
            "discover",
            "find SMA Speedwire devices (multicast on the LAN, and the given addresses) and "
            "print their address, serial, type and software version",
            "collector.sources.sma.discover",
        ),
    ),
    manufacturer="SMA",
    model="inverter (Speedwire)",
)
