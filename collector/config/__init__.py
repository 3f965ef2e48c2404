"""Configuration: environment variables, a `.env` file, and the TOML file COLLECTOR_CONFIG names.

- The environment configures one instance of each source kind (its variables, e.g. `XY_HOST`),
  the writer (`INFLUX_*`), the logs (`LOG_*`) and the runtime (`DATA_DIR`, ...).
- The TOML file describes any number of instances: `[[source]]` tables with `kind`, an optional
  `name` and `tags`, and the kind's keys (its variables without the prefix, in lower case);
  `[influx]`, `[mqtt]`, `[log]` and `[runtime]` likewise. Environment variables of a kind add
  one more instance; `INFLUX_*`, `MQTT_*`, `LOG_*` and runtime variables override the file.
  InfluxDB may be left out when MQTT_URL is set (MQTT alone).
- A `.env` file in the working directory is read as environment variables that the real
  environment overrides, and the start banner says so.

Every table is a pydantic-settings model built from its sources (`sources`), so a problem is the
same message whichever way a value came, named by its variable or by
`file:[[source]] #n (name):key`. `load_config` collects every problem before it gives up
(ConfigError, one line each). No kind is named here.

The parts: `tables` (the core's models), `keys` (keys and variable names), `sources` (where a
table's values come from), `instances` (the `[[source]]` tables and the environment's
instances), `checks` (what no single model sees).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from collector.config.checks import (
    check_influx,
    check_series,
    placeholder_warning,
    unknown_variables,
)
from collector.config.instances import drafts_from_env, drafts_from_file, instances_of, trigger
from collector.config.keys import attribute_of, keys_of, secret_keys, variable_of
from collector.config.sources import (
    Given,
    Origins,
    environment_sources,
    given_values,
    settle,
    table_sources,
)
from collector.config.tables import (
    TABLES,
    InfluxSettings,
    LogSettings,
    RuntimeSettings,
    Table,
)
from collector.environment import CONFIG_VARIABLE, read_document, read_environment
from collector.errors import ConfigError
from collector.mqtt.settings import MqttSettings
from collector.settings import Settings, seconds
from collector.sources import InstanceConfig, KindLoadError, SourceKind, load_kinds

__all__ = [  # what the rest of the collector and the tests use
    "TABLES",
    "Config",
    "InfluxSettings",
    "MqttSettings",
    "Origins",
    "RuntimeSettings",
    "attribute_of",
    "env_values",
    "keys_of",
    "load_config",
    "secret_keys",
    "shown",
    "variable_of",
]


@dataclass
class Config:
    kinds: dict[str, SourceKind]
    instances: list[InstanceConfig]
    influx: InfluxSettings | None  # None: not configured (MQTT alone), or not needed
    log: LogSettings
    runtime: RuntimeSettings
    files: list[str]  # files the settings came from, besides the environment
    origins: dict[str, Origins]  # "influx", "log", "runtime", and each instance's name
    warnings: list[str] = field(default_factory=list)
    mqtt: MqttSettings | None = None  # None: MQTT_URL is not set

    def kind_of(self, instance: InstanceConfig) -> SourceKind:
        return self.kinds[instance.kind]


def load_config(
    *,
    need_sink: bool = True,
    need_sources: bool = True,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Read and check the whole configuration; raise ConfigError listing every problem."""
    env, files = read_environment(os.environ if environ is None else environ, cwd or Path.cwd())
    problems: list[str] = []
    warnings: list[str] = []
    try:
        kinds = load_kinds()
    except KindLoadError as exc:
        raise ConfigError([str(exc)]) from None
    if not kinds:
        raise ConfigError(
            ["no source kinds are installed: install the collector package (pip install .)"]
        )

    document: dict[str, Any] = {}
    file_name = ""
    unreadable = False  # a file was named but not read: its problem says so already
    path_text = env.values.get(CONFIG_VARIABLE, "").strip()
    if path_text:
        read = read_document(Path(path_text), problems)
        unreadable = read is None
        document = read or {}
        file_name = path_text
        files.append(path_text)
        for key in document:
            if key not in ("source", *(table.name for table in TABLES)):
                problems.append(
                    f"{file_name}: unknown table [{key}] (known: [[source]], "
                    + ", ".join(f"[{table.name}]" for table in TABLES)
                    + ")"
                )

    origins: dict[str, Origins] = {}
    tables: dict[str, Any] = {}
    namers: dict[str, Callable[[str], str]] = {}
    for table in TABLES:
        if table.name == "influx" and not need_sink:
            continue
        content = document.get(table.name, {})
        if not isinstance(content, dict):
            problems.append(f"{file_name}: [{table.name}] must be a table")
            content = {}
        in_file = table_sources(
            table.model, content, f"{file_name}:[{table.name}]", f"file {file_name}", problems
        )
        in_env = environment_sources(table.model, table.prefix, env, problems)
        origin = origins[table.name] = Origins()

        def name_of(key: str, table: Table = table, origin: Origins = origin) -> str:
            if origin.of(key).startswith("file "):
                return f"{file_name}:[{table.name}]:{key}"
            return variable_of(table.model, table.prefix, key)

        namers[table.name] = name_of
        tables[table.name] = settle(table.model, [*in_env, *in_file], origin, name_of, problems)

    drafts = drafts_from_file(document, file_name, kinds, problems)
    before = len(problems)
    drafts += drafts_from_env(env, kinds, problems)
    selector_refused = len(problems) > before
    instances = instances_of(drafts, problems, warnings, origins)
    unknown = unknown_variables(env, kinds)
    attempted = drafts or document.get("source") or unreadable or selector_refused
    if not instances and not attempted and need_sources:
        triggers = ", ".join(trigger(kind) for kind in kinds.values())
        problems.append(
            f"no source configured: set {triggers}, or name a TOML file in {CONFIG_VARIABLE}"
            + ("" if not unknown else f" ({'; '.join(unknown)})")
        )
    else:
        warnings.extend(unknown)
    instances[:] = check_series(instances, kinds, problems)

    mqtt: MqttSettings | None = tables.get("mqtt")
    mqtt_given = bool(origins["mqtt"].values)
    if mqtt is not None and mqtt.url is None:
        if mqtt_given:
            problems.append(f"{namers['mqtt']('url')}: is required to publish on MQTT")
        mqtt = None  # MQTT is off
    influx: InfluxSettings | None = tables.get("influx")
    influx_given = bool(origins.get("influx", Origins()).values)
    if influx is not None and mqtt_given and not influx_given:
        influx = None  # MQTT alone: no InfluxDB setting was given
    if influx is not None:
        check_influx(influx, namers["influx"], problems, alone=not influx_given)
    if need_sink and influx is not None:
        placeholder_warning(InfluxSettings, "INFLUX_", influx, warnings)
    if problems:
        raise ConfigError(problems)
    log: LogSettings = tables["log"]
    runtime: RuntimeSettings = tables["runtime"]
    return Config(
        kinds=kinds,
        instances=instances,
        influx=influx,
        log=log,
        runtime=runtime,
        files=files,
        origins=origins,
        warnings=warnings,
        mqtt=mqtt,
    )


def env_values(
    model: type[Settings], prefix: str, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A model's raw values from the environment (and .env, and NAME_FILE), not validated:
    for a kind's own commands that need some of its settings without a whole configuration."""
    env, _ = read_environment(os.environ if environ is None else environ, Path.cwd())
    problems: list[str] = []
    sources: list[Given] = environment_sources(model, prefix, env, problems)
    return given_values(sources), problems


def shown(value: Any) -> str:
    """A value as `collector config` and the banner show it; secrets as ***."""
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, float):
        return f"{seconds(value)}"
    if isinstance(value, Path):
        return str(value)
    if value is None:
        return "(not set)"
    return str(value)
