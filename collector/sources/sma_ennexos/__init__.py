"""The `sma-ennexos` kind: SMA's ennexOS devices (Sunny Tripower X, Sunny Boy Smart Energy),
which speak neither Speedwire nor WebConnect, read through their web API (sma.md §7b).

Registered in pyproject.toml under the `collector.sources` entry points; importing this module
is cheap (settings and catalogue only).
"""

from __future__ import annotations

from collector.sources import Instance, InstanceConfig, KindCommand, SourceKind
from collector.sources.sma_ennexos.fields import FIELDS
from collector.sources.sma_ennexos.settings import SmaEnnexosSettings


def build(configs: list[InstanceConfig]) -> list[Instance]:
    from collector.loop import PollLoop
    from collector.sources.sma_ennexos.source import SmaEnnexosSource

    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, SmaEnnexosSettings)
        source = SmaEnnexosSource(config.settings, config.name)
        instances.append(PollLoop(config.name, source, max_backoff=300.0))
    return instances


KIND = SourceKind(
    name="sma-ennexos",
    description="SMA ennexOS devices (Tripower X, Sunny Boy Smart Energy) through their web API",
    env_prefix="SMA_ENNEXOS_",
    settings=SmaEnnexosSettings,
    fields=FIELDS,
    build=build,
    env_triggers=("url",),
    series_tag="serial",
    simulator=KindCommand.lazy(
        "sma-ennexos",
        "an SMA ennexOS device's web API (tokens, live measurements)",
        "collector.sources.sma_ennexos.simulator",
    ),
    manufacturer="SMA",
    model="ennexOS device",
)
