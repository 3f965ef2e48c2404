"""Configuration: environment variables, a `.env` file, and the TOML file COLLECTOR_CONFIG names.

- The environment configures one instance of each source kind (its variables, e.g. `XY_HOST`),
  the writer (`INFLUX_*`), the logs (`LOG_*`) and the runtime (`DATA_DIR`, ...).
- The TOML file describes any number of instances: `[[source]]` tables with `kind`, an optional
  `name` and `tags`, and the kind's keys (its variables without the prefix, in lower case);
  `[influx]`, `[log]` and `[runtime]` likewise. Environment variables of a kind add one more
  instance; `INFLUX_*`, `LOG_*` and runtime variables override the file.
- A `.env` file in the working directory is read as environment variables that the real
  environment overrides, and the start banner says so.

Every value goes through the same pydantic model whichever way it came, so a problem is the same
message either way, named by its variable or by `file:[[source]] #n (name):key`. `load_config`
collects every problem before it gives up (ConfigError, one line each). No kind is named here.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator

from collector.environment import (
    CONFIG_VARIABLE,
    DEFAULT_DATA_DIR,
    Environment,
    read_document,
    read_environment,
)
from collector.errors import ConfigError
from collector.settings import (
    Settings,
    SourceSettings,
    lowercase,
    parse_duration,
    seconds,
)
from collector.sources import InstanceConfig, KindLoadError, SourceKind, load_kinds

PLACEHOLDER = "change-me"  # how the example files' secrets start
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class InfluxSettings(Settings):
    api: Literal["v2", "v1"] = "v2"
    url: str | None = None
    scheme: Literal["http", "https"] = Field("http", alias="schema")
    host: str | None = None
    port: int = Field(8086, ge=1, le=65535)
    token: SecretStr | None = Field(
        None,
        description="your InfluxDB API token (with INFLUX_API=v1: user:password, or nothing)",
    )
    org: str | None = None
    bucket: str | None = None
    timeout: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must look like http://influxdb:8086")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials: use INFLUX_TOKEN")
        return value.strip().rstrip("/")

    @property
    def effective_url(self) -> str:
        if self.url:
            return self.url
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def database_and_rp(self) -> tuple[str, str | None]:
        """For the v1 API: INFLUX_BUCKET is `database` or `database/retention-policy`."""
        assert self.bucket is not None
        database, _, rp = self.bucket.partition("/")
        return database, rp or None

    @property
    def credentials(self) -> tuple[str, str] | None:
        """`user:password` tokens (InfluxDB 1.x) split in two."""
        if self.token is None:
            return None
        user, sep, password = self.token.get_secret_value().partition(":")
        return (user, password) if sep else None


class LogSettings(Settings):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"

    _lower = field_validator("level", "format", mode="before")(lowercase)


class RuntimeSettings(Settings):
    durations: ClassVar[tuple[str, ...]] = ("buffer_max_age", "health_backlog_growing")

    data_dir: Path = DEFAULT_DATA_DIR
    shutdown_grace: float = Field(5.0, ge=0, le=60)
    buffer_max_age: float = Field(30 * 86400.0, gt=0)
    buffer_max_mb: float = Field(500.0, gt=0)
    health_backlog_growing: float = Field(600.0, gt=0)
    health_every: float = Field(10.0, gt=0, le=60)
    # the collector's own figures (collector.selfreport); an empty measurement writes none
    self_measurement: str = "collector"
    self_every: float = Field(60.0, ge=1, le=3600)

    _durations = field_validator("buffer_max_age", "health_backlog_growing", mode="before")(
        parse_duration
    )

    @property
    def buffer_max_bytes(self) -> int:
        return int(self.buffer_max_mb * 1024 * 1024)


@dataclass(frozen=True)
class Table:
    """A table of the core's own settings: `[name]` in the file, `PREFIX` + KEY in the env."""

    name: str
    model: type[Settings]
    prefix: str


TABLES = (
    Table("influx", InfluxSettings, "INFLUX_"),
    Table("log", LogSettings, "LOG_"),
    Table("runtime", RuntimeSettings, ""),
)


# --- keys, variables and where a value came from --------------------------------------------


def keys_of(model: type[Settings]) -> list[str]:
    """The TOML keys of a model (a field's alias, else its name): the model's own declaration
    order first (a kind redeclares inherited keys where it wants them shown), then the rest."""
    fields = model.model_fields
    own = [name for name in model.__annotations__ if name in fields]
    order = own + [name for name in fields if name not in own]
    return [fields[name].alias or name for name in order]


def secret_keys(model: type[Settings]) -> list[str]:
    """Keys whose values are secrets: they also take `KEY_file`, and are never shown."""
    hints = typing.get_type_hints(model)
    return [
        info.alias or name
        for name, info in model.model_fields.items()
        if SecretStr in (hints[name], *typing.get_args(hints[name]))
    ]


def variable_of(model: type[Settings], prefix: str, key: str) -> str:
    return model.env_names.get(key) or f"{prefix}{key}".upper()


@dataclass
class Origins:
    """Where each key's value came from, for `collector config`."""

    values: dict[str, str] = field(default_factory=dict)

    def of(self, key: str) -> str:
        return self.values.get(key, "default")


class _Collector:
    """Gathers one table's raw values from the environment or a file, with their origins."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def from_env(
        self, model: type[Settings], prefix: str, env: Environment
    ) -> tuple[dict[str, Any], Origins]:
        raw: dict[str, Any] = {}
        origins = Origins()
        secrets = secret_keys(model)
        for key in keys_of(model):
            variable = variable_of(model, prefix, key)
            value = env.values.get(variable, "")
            if key in secrets:
                path = env.values.get(f"{variable}_FILE", "").strip()
                if path:
                    if value.strip():
                        self.problems.append(
                            f"{variable}: set either {variable} or {variable}_FILE, not both"
                        )
                        continue
                    secret = self._read_secret(path, f"{variable}_FILE")
                    if secret is not None:
                        raw[key] = secret
                        origins.values[key] = env.origin(f"{variable}_FILE")
                    continue
            if value.strip():
                raw[key] = value
                origins.values[key] = env.origin(variable)
        return raw, origins

    def from_table(
        self,
        model: type[Settings],
        table: Mapping[str, Any],
        where: str,
        origin: str,
        ignore: tuple[str, ...] = (),
    ) -> tuple[dict[str, Any], Origins]:
        raw: dict[str, Any] = {}
        origins = Origins()
        known = keys_of(model)
        secrets = secret_keys(model)
        for key, value in table.items():
            if key in ignore:
                continue
            if key in secrets or (key.endswith("_file") and key[: -len("_file")] in secrets):
                base = key.removesuffix("_file")
                if key != base:
                    if base in table:
                        self.problems.append(f"{where}:{key}: set either {base} or {key}, not both")
                        continue
                    secret = self._read_secret(str(value), f"{where}:{key}")
                    if secret is not None:
                        raw[base] = secret
                        origins.values[base] = f"{origin} ({key})"
                    continue
            if key not in known:
                choices = [*known, *(f"{s}_file" for s in secrets)]
                self.problems.append(
                    f"{where}:{key}: unknown key{_closest(key, choices)} "
                    f"(known: {', '.join([*ignore, *choices])})"
                )
                continue
            if isinstance(value, str) and not value.strip():
                continue  # empty: the default, as for an empty variable
            raw[key] = value
            origins.values[key] = origin
        return raw, origins

    def _read_secret(self, path: str, where: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.problems.append(f"{where}: cannot read {path}: {exc.strerror or exc}")
            return None


def env_values(
    model: type[Settings], prefix: str, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A model's raw values from the environment (and .env, and NAME_FILE), not validated:
    for a kind's own commands that need some of its settings without a whole configuration."""
    env, _ = read_environment(os.environ if environ is None else environ, Path.cwd())
    problems: list[str] = []
    raw, _ = _Collector(problems).from_env(model, prefix, env)
    return raw, problems


def _closest(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def validate(
    model: type[Settings],
    raw: Mapping[str, Any],
    name_of: Callable[[str], str],
    problems: list[str],
) -> Any:
    """The model from raw values, or None with one problem line per error appended."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        secrets = secret_keys(model)
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            problems.append(f"{name_of(key)}: {_describe(dict(error), key in secrets)}")
        return None


def _describe(error: dict[str, Any], secret: bool) -> str:
    message = str(error["msg"])
    message = re.sub(r"^(Value|Assertion) error, ", "", message)
    message = message.replace("Input should be", "must be").replace("Field required", "is required")
    shown = error.get("input")
    if secret or error["type"] in ("missing", "extra_forbidden"):
        return message
    if isinstance(shown, str | int | float):
        return f"{message} (got {str(shown)!r})"
    return message


# --- the configuration -----------------------------------------------------------------------


@dataclass
class Config:
    kinds: dict[str, SourceKind]
    instances: list[InstanceConfig]
    influx: InfluxSettings | None
    log: LogSettings
    runtime: RuntimeSettings
    files: list[str]  # files the settings came from, besides the environment
    origins: dict[str, Origins]  # "influx", "log", "runtime", and each instance's name
    warnings: list[str] = field(default_factory=list)

    def kind_of(self, instance: InstanceConfig) -> SourceKind:
        return self.kinds[instance.kind]


@dataclass
class _Draft:
    kind: SourceKind
    name: str | None
    tags: dict[str, str]
    raw: dict[str, Any]
    origins: Origins
    where: str  # how problems name it: "file:[[source]] #2" or "" for the environment


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
    collect = _Collector(problems)

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
        raw, origin = collect.from_table(
            table.model, content, f"{file_name}:[{table.name}]", f"file {file_name}"
        )
        env_raw, env_origin = collect.from_env(table.model, table.prefix, env)
        raw.update(env_raw)
        origin.values.update(env_origin.values)
        origins[table.name] = origin

        def name_of(key: str, table: Table = table, origin: Origins = origin) -> str:
            if origin.of(key).startswith("file "):
                return f"{file_name}:[{table.name}]:{key}"
            return variable_of(table.model, table.prefix, key)

        namers[table.name] = name_of
        tables[table.name] = validate(table.model, raw, name_of, problems)

    drafts = _drafts_from_file(document, file_name, kinds, collect, problems)
    before = len(problems)
    drafts += _drafts_from_env(env, kinds, collect, problems)
    selector_refused = len(problems) > before
    instances = _instances(drafts, problems, warnings, origins)
    unknown = _unknown_variables(env, kinds)
    attempted = drafts or document.get("source") or unreadable or selector_refused
    if not instances and not attempted and need_sources:
        triggers = ", ".join(_trigger(kind) for kind in kinds.values())
        problems.append(
            f"no source configured: set {triggers}, or name a TOML file in {CONFIG_VARIABLE}"
            + ("" if not unknown else f" ({'; '.join(unknown)})")
        )
    else:
        warnings.extend(unknown)
    instances[:] = _check_series(instances, kinds, problems)

    influx: InfluxSettings | None = tables.get("influx")
    if influx is not None:
        _check_influx(influx, namers["influx"], problems)
    if need_sink and influx is not None:
        _placeholder_warning(InfluxSettings, "INFLUX_", influx, warnings)
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
    )


def _drafts_from_file(
    document: Mapping[str, Any],
    file_name: str,
    kinds: dict[str, SourceKind],
    collect: _Collector,
    problems: list[str],
) -> list[_Draft]:
    tables = document.get("source", [])
    if not isinstance(tables, list):
        problems.append(f"{file_name}: sources are [[source]] tables (double brackets)")
        return []
    drafts: list[_Draft] = []
    for number, table in enumerate(tables, 1):
        name = table.get("name")
        where = f"{file_name}:[[source]] #{number}" + (
            f" ({name})" if isinstance(name, str) else ""
        )
        kind_name = table.get("kind")
        if kind_name is None:
            problems.append(f"{where}: kind is missing (known kinds: {', '.join(kinds)})")
            continue
        kind = kinds.get(str(kind_name))
        if kind is None:
            problems.append(
                f"{where}:kind: unknown kind {kind_name!r}{_closest(str(kind_name), list(kinds))} "
                f"(known kinds: {', '.join(kinds)})"
            )
            continue
        tags = _tags(table.get("tags", {}), f"{where}:tags", problems)
        if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
            problems.append(
                f"{where}:name: must be letters, digits, '-', '_' or '.' (got {name!r})"
            )
            name = None
        raw, origins = collect.from_table(
            kind.settings, table, where, f"file {file_name}", ignore=("kind", "name", "tags")
        )
        drafts.append(_Draft(kind, name, tags, raw, origins, where))
    return drafts


def _tags(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        problems.append(f'{where}: must be an inline table of texts, e.g. {{ site = "garage" }}')
        return {}
    return dict(value)


def _drafts_from_env(
    env: Environment, kinds: dict[str, SourceKind], collect: _Collector, problems: list[str]
) -> list[_Draft]:
    drafts = []
    claimed: dict[str, list[str]] = {}  # selector variable -> the values kinds claim
    for kind in kinds.values():
        chosen = _selected(kind, env, claimed)
        if chosen is False:
            continue
        if chosen is None and not any(
            _set_apart_from_default(kind.settings, kind.env_prefix, k, env)
            for k in kind.env_triggers
        ):
            continue
        raw, origins = collect.from_env(kind.settings, kind.env_prefix, env)
        drafts.append(_Draft(kind, None, {}, raw, origins, ""))
    for variable, values in claimed.items():
        given = env.values.get(variable, "").strip().lower()
        if given and given not in values:
            problems.append(f"{variable}: {given!r} is none of {', '.join(values)}")
    return drafts


def _selected(kind: SourceKind, env: Environment, claimed: dict[str, list[str]]) -> bool | None:
    """What a kind's selector says (see SourceKind.env_selector): False, the variable names
    another kind; True, it names this one and that alone configures it; None, the trigger
    variables decide. Notes the value it claims in `claimed`."""
    if kind.env_selector is None:
        return None
    key, value, by_default = kind.env_selector
    variable = variable_of(kind.settings, kind.env_prefix, key)
    claimed.setdefault(variable, []).append(value)
    given = env.values.get(variable, "").strip().lower()
    if given != value and (given or not by_default):
        return False
    return True if given == value and not by_default else None


def _trigger(kind: SourceKind) -> str:
    """The variable that configures a kind from the environment, for "no source configured"."""
    selector = kind.env_selector
    if selector is not None and not selector[2]:
        return f"{variable_of(kind.settings, kind.env_prefix, selector[0])}={selector[1]}"
    return variable_of(kind.settings, kind.env_prefix, kind.env_triggers[0])


def _set_apart_from_default(
    model: type[SourceSettings], prefix: str, key: str, env: Environment
) -> bool:
    """A trigger variable counts when it is set to something else than its default (compose
    passes every variable, most of them with their defaults)."""
    value = env.values.get(variable_of(model, prefix, key), "").strip()
    default = model.model_fields[attribute_of(model, key)].default
    return bool(value) and value.lower() != str(default).lower()


def _instances(
    drafts: list[_Draft],
    problems: list[str],
    warnings: list[str],
    origins: dict[str, Origins],
) -> list[InstanceConfig]:
    taken: dict[str, str] = {}
    for draft in drafts:
        if draft.name is None:
            continue
        if draft.name in taken:
            problems.append(
                f"{draft.where}:name: {draft.name!r} is already the name of {taken[draft.name]}"
            )
        taken.setdefault(draft.name, draft.where)
    instances: list[InstanceConfig] = []
    for draft in drafts:
        name = draft.name or _free_name(draft.kind.name, taken)
        taken.setdefault(name, draft.where or "the environment's instance")
        model = draft.kind.settings

        def name_of(key: str, draft: _Draft = draft, model: type[SourceSettings] = model) -> str:
            if not draft.where:
                return variable_of(model, draft.kind.env_prefix, key)
            return f"{draft.where}:{key}" if key else draft.where

        settings: SourceSettings | None = validate(model, draft.raw, name_of, problems)
        if settings is None:
            continue
        for note in settings.notes():
            warnings.append(f"{name_of(note.key)}: {note.text}")
        _placeholder_warning(model, draft.kind.env_prefix, settings, warnings, draft.where)
        instances.append(InstanceConfig(draft.kind.name, name, settings, draft.tags))
        origins[name] = draft.origins
    return instances


def _free_name(base: str, taken: Mapping[str, str]) -> str:
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _check_series(
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


def _check_influx(
    influx: InfluxSettings, name_of: Callable[[str], str], problems: list[str]
) -> None:
    if influx.url is None and influx.host is None:
        problems.append(f"{name_of('host')}: is required (or give the whole {name_of('url')})")
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


def _placeholder_warning(
    model: type[Settings], prefix: str, settings: Settings, warnings: list[str], where: str = ""
) -> None:
    for key in secret_keys(model):
        value = getattr(settings, attribute_of(model, key))
        if isinstance(value, SecretStr) and value.get_secret_value().startswith(PLACEHOLDER):
            name = f"{where}:{key}" if where else variable_of(model, prefix, key)
            what = model.model_fields[attribute_of(model, key)].description or "the real value"
            warnings.append(f"{name} is still the example's placeholder: put {what} there")


def attribute_of(model: type[Settings], key: str) -> str:
    """The model's attribute for a TOML key (they differ where a key is an alias)."""
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return name
    return key


def _unknown_variables(env: Environment, kinds: dict[str, SourceKind]) -> list[str]:
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
            hint = _closest(variable.upper(), sorted(known)).replace(" (did you", "; did you")
            hint = hint.rstrip(")")
            found.append(f"{variable} is not a setting of any source kind{hint}")
    return found


# --- showing it ------------------------------------------------------------------------------


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
