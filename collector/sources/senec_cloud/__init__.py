"""The `senec-cloud` kind: a SENEC system read through SENEC's app API (its servers).

For systems without a local interface (Home 4 / P4 / E4) or owners who prefer the cloud.
Selected from the environment with SENEC_ADAPTER=cloud. Registered in pyproject.toml under the
`collector.sources` entry points; importing this module is cheap (settings and catalogue).
"""

from __future__ import annotations

from collector.sources import Instance, InstanceConfig, KindCommand, SourceKind
from collector.sources.senec_cloud.fields import FIELDS
from collector.sources.senec_cloud.settings import SenecCloudSettings


def build(configs: list[InstanceConfig]) -> list[Instance]:
    from collector.loop import PollLoop
    from collector.sources.senec_cloud.source import SenecCloudSource

    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, SenecCloudSettings)
        source = SenecCloudSource(
            config.settings, config.name, config.state_dir, shared=config.shared
        )
        # a cloud that fails is asked again after at most 15 minutes, not every minute
        instances.append(PollLoop(config.name, source, max_backoff=900.0))
    return instances


KIND = SourceKind(
    name="senec-cloud",
    description="SENEC system read through SENEC's app API (mein-senec login, optional TOTP)",
    env_prefix="SENEC_",
    settings=SenecCloudSettings,
    fields=FIELDS,
    build=build,
    env_triggers=("username",),
    env_selector=("adapter", "cloud", False),
    series_tag="system",
    simulator=KindCommand.lazy(
        "senec-cloud",
        "SENEC's login (Keycloak) and app API",
        "collector.sources.senec_cloud.simulator",
    ),
    manufacturer="SENEC",
    model="SENEC.Home (SENEC app API)",
    version_field="application_version",
)
