"""The checks pydantic-settings has no notion of: "did you mean", variables no kind declares,
two instances writing one series, what InfluxDB's API needs, and secrets left at the example's
placeholder. (A kind's own checks, such as a timeout that must fit its interval, are validators
of its model.)"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable

from pydantic import SecretStr

from collector.config.keys import attribute_of, keys_of, secret_keys, variable_of
from collector.config.tables import PLACEHOLDER, InfluxSettings
from collector.environment import CONFIG_VARIABLE, Environment
from collector.settings import Settings
from collector.sources import InstanceConfig, SourceKind


def closest(word: str, choices: list[str]) -> str:
    """` (did you mean X?)` for the choice nearest a misspelt word, or nothing."""
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def unknown_variables(env: Environment, kinds: dict[str, SourceKind]) -> list[str]:
    """Variables with a kind's prefix that no kind declares (misspelt), with the closest."""
    known: set[str] = {CONFIG_VARIABLE}
    for kind in kinds.values():
        secrets = secret_keys(kind.settings)
        for key in keys_of(kind.settings):
            variable = variable_of(kind.settings, kind.env_prefix, key)
            known.add(variable)
            if key in secrets:
                known.add(f"{variable}_FILE")
    prefixes = tuple(kind.env_prefix for kind in kinds.values())
    found = []
    for variable in sorted(env.values):
        if variable.upper().startswith(prefixes) and variable.upper() not in known:
            hint = closest(variable.upper(), sorted(known)).replace(" (did you", "; did you")
            hint = hint.rstrip(")")
            found.append(f"{variable} is not a setting of any source kind{hint}")
    return found


def check_series(
    instances: list[InstanceConfig], kinds: dict[str, SourceKind], problems: list[str]
) -> list[InstanceConfig]:
    """Two instances must not write the same series: InfluxDB would overwrite points. Kinds
    with the same series tag (a serial) may share a measurement: each of those instances is
    marked `shared`, and its points carry the tag. Returns the instances so marked."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[InstanceConfig]] = {}
    for instance in instances:
        key = (instance.settings.measurement, tuple(sorted(instance.tags.items())))
        groups.setdefault(key, []).append(instance)
    shared: set[int] = set()
    for key, group in groups.items():
        if len(group) < 2:
            continue
        first = group[0]
        tag = kinds[first.kind].series_tag
        apart = [other for other in group[1:] if not tag or kinds[other.kind].series_tag != tag]
        if not apart:
            shared.update(id(instance) for instance in group)
            continue
        problems.append(
            f"{first.name} and {apart[0].name} would write the same series (measurement "
            f"{first.settings.measurement!r}"
            + (f", tags {dict(key[1])}" if key[1] else ", no tags")
            + "), so InfluxDB would overwrite one's points with the other's: give one of them "
            "another measurement or tags"
        )
    return [
        dataclasses.replace(instance, shared=True) if id(instance) in shared else instance
        for instance in instances
    ]


def check_influx(
    influx: InfluxSettings, name_of: Callable[[str], str], problems: list[str], *, alone: bool
) -> None:
    """What the chosen API needs, which no single key's validator can see. `alone`: nothing of
    InfluxDB was given (and no MQTT either), so the missing host is said with the other way."""
    if influx.url is None and influx.host is None:
        other = ", or set MQTT_URL to publish on MQTT without InfluxDB" if alone else ""
        problems.append(
            f"{name_of('host')}: is required (or give the whole {name_of('url')}){other}"
        )
    if influx.bucket is None:
        if influx.api == "v2":
            problems.append(f"{name_of('bucket')}: is required")
        else:
            problems.append(
                f"{name_of('bucket')}: is required (with INFLUX_API=v1: the database name)"
            )
    if influx.api == "v2" and influx.org is None:
        problems.append(
            f"{name_of('org')}: is required with INFLUX_API=v2 "
            "(InfluxDB 1.8 and VictoriaMetrics ignore it: any value such as '-' will do)"
        )
    if influx.api == "v1" and influx.token is not None and influx.credentials is None:
        if influx.token.get_secret_value().startswith(PLACEHOLDER):
            problems.append(
                f"{name_of('token')}: is still the example's placeholder; with INFLUX_API=v1 "
                "put user:password there, or leave it empty when InfluxDB has no authentication"
            )
        else:
            problems.append(f"{name_of('token')}: with INFLUX_API=v1 it must be user:password")


def placeholder_warning(
    model: type[Settings], prefix: str, settings: Settings, warnings: list[str], where: str = ""
) -> None:
    """A secret still at the example files' placeholder (`change-me…`)."""
    for key in secret_keys(model):
        value = getattr(settings, attribute_of(model, key))
        if isinstance(value, SecretStr) and value.get_secret_value().startswith(PLACEHOLDER):
            name = f"{where}:{key}" if where else variable_of(model, prefix, key)
            what = model.model_fields[attribute_of(model, key)].description or "the real value"
            warnings.append(f"{name} is still the example's placeholder: put {what} there")
