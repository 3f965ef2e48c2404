"""Where one table's values come from, as pydantic-settings sources.

A table (a kind's instance, or `[influx]`, `[log]`, `[runtime]`) is its model built from a few
sources, the first one given winning:

- `SecretFilesSource`: secrets read from files, named by `NAME_FILE` variables or `key_file`
  keys (as Docker secrets are handed over);
- `EnvironmentSource`: pydantic-settings' environment source over the variables as
  `collector.environment` read them (the environment with `.env` beneath it, which
  pydantic-settings' dotenv source read), by the project's names: `PREFIX` + KEY, or a name kept
  from another tool (`env_names`);
- `TableSource`: one table of the TOML file, the source pydantic-settings' TOML source is built
  on. The file is parsed once (`collector.environment.read_document`, which the health check
  shares without loading pydantic) and holds many tables, where pydantic-settings' TOML source
  maps one file to one model;
- `OriginsSource`: gives no value; it notes which source gave each key's value, for
  `collector config` and for naming a problem by its variable or by its place in the file.

A source reports what it cannot read (a missing secret file, an unknown key) in `problems`,
worded as before; `settle` builds the model and turns pydantic's errors into the same lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
)

from collector.config.checks import closest
from collector.config.keys import keys_of, secret_keys, variable_of
from collector.environment import Environment
from collector.settings import Settings

# --- where a value came from ----------------------------------------------------------------


@dataclass
class Origins:
    """Where each key's value came from, for `collector config`."""

    values: dict[str, str] = field(default_factory=dict)

    def of(self, key: str) -> str:
        return self.values.get(key, "default")


# --- the sources -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretFile:
    """A secret to be read from a file: `path`, and how problems and origins name it."""

    path: str
    where: str  # names a problem reading the file
    origin: str
    conflict: str | None = None  # the problem when the plain value is set as well


class SecretFilesSource(PydanticBaseSettingsSource):
    """Secrets read from files (`NAME_FILE` variables, `key_file` keys), stripped."""

    def __init__(
        self, settings_cls: type[BaseSettings], files: Mapping[str, SecretFile], problems: list[str]
    ) -> None:
        super().__init__(settings_cls)
        self.values: dict[str, str] = {}
        self.given: dict[str, str] = {}
        for key, secret in files.items():
            if secret.conflict is not None:
                problems.append(secret.conflict)
                continue
            try:
                self.values[key] = Path(secret.path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{secret.where}: cannot read {secret.path}: {exc.strerror or exc}")
                continue
            self.given[key] = secret.origin

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        key = field.alias or field_name
        return self.values.get(key), key, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class EnvironmentSource(EnvSettingsSource):
    """A model's values from the variables, by the project's names. A blank variable counts as
    unset (compose hands every variable over, most of them empty); a secret whose `NAME_FILE`
    is set is the SecretFilesSource's. Values go to the model as text, never decoded as JSON."""

    def __init__(self, settings_cls: type[Settings], prefix: str, env: Environment) -> None:
        super().__init__(settings_cls, case_sensitive=True, env_prefix=prefix)
        self.env_vars = env.values
        self.environment = env
        self.model = settings_cls
        self.secrets = set(secret_keys(settings_cls))
        self.given: dict[str, str] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        key = field.alias or field_name
        variable = variable_of(self.model, self.env_prefix, key)
        if key in self.secrets and (self.env_vars.get(f"{variable}_FILE") or "").strip():
            return None, key, False
        value = self.env_vars.get(variable) or ""
        if not value.strip():
            return None, key, False
        self.given[key] = self.environment.origin(variable)
        return value, key, False

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        return value


class TableSource(InitSettingsSource):
    """One table of the TOML file. Unknown keys are problems with the closest known key; an
    empty text is the default, as an empty variable is; `key_file` keys are secret files."""

    def __init__(
        self,
        settings_cls: type[Settings],
        table: Mapping[str, Any],
        where: str,
        origin: str,
        problems: list[str],
        ignore: tuple[str, ...] = (),
    ) -> None:
        values: dict[str, Any] = {}
        self.given: dict[str, str] = {}
        self.files: dict[str, SecretFile] = {}
        known = keys_of(settings_cls)
        secrets = secret_keys(settings_cls)
        for key, value in table.items():
            if key in ignore:
                continue
            base = key.removesuffix("_file")
            if key != base and base in secrets:
                both = f"{where}:{key}: set either {base} or {key}, not both"
                self.files[base] = SecretFile(
                    str(value),
                    f"{where}:{key}",
                    f"{origin} ({key})",
                    both if base in table else None,
                )
                continue
            if key not in known:
                choices = [*known, *(f"{s}_file" for s in secrets)]
                problems.append(
                    f"{where}:{key}: unknown key{closest(key, choices)} "
                    f"(known: {', '.join([*ignore, *choices])})"
                )
                continue
            if isinstance(value, str) and not value.strip():
                continue  # empty: the default, as for an empty variable
            values[key] = value
            self.given[key] = origin
        super().__init__(settings_cls, values)


def environment_files(
    model: type[Settings], prefix: str, env: Environment
) -> dict[str, SecretFile]:
    """The secrets whose `NAME_FILE` variable is set."""
    files = {}
    for key in secret_keys(model):
        variable = variable_of(model, prefix, key)
        path = env.values.get(f"{variable}_FILE", "").strip()
        if not path:
            continue
        both = env.values.get(variable, "").strip()
        conflict = f"{variable}: set either {variable} or {variable}_FILE, not both"
        files[key] = SecretFile(
            path, f"{variable}_FILE", env.origin(f"{variable}_FILE"), conflict if both else None
        )
    return files


class OriginsSource(PydanticBaseSettingsSource):
    """Gives no value: notes which source gave each key (the first that has it wins, as in
    pydantic-settings' merge), in `origins`."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        sources: Iterable[SecretFilesSource | EnvironmentSource | TableSource],
        origins: Origins,
    ) -> None:
        super().__init__(settings_cls)
        self.sources = list(sources)
        self.origins = origins

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        for source in self.sources:
            for key, origin in source.given.items():
                self.origins.values.setdefault(key, origin)
        return {}


Given = SecretFilesSource | EnvironmentSource | TableSource


def environment_sources(
    model: type[Settings], prefix: str, env: Environment, problems: list[str]
) -> list[Given]:
    """A table's sources in the variables: secret files first, then the values."""
    return [
        SecretFilesSource(model, environment_files(model, prefix, env), problems),
        EnvironmentSource(model, prefix, env),
    ]


def table_sources(
    model: type[Settings],
    table: Mapping[str, Any],
    where: str,
    origin: str,
    problems: list[str],
    ignore: tuple[str, ...] = (),
) -> list[Given]:
    """A table's sources in the file: secret files first, then the values."""
    values = TableSource(model, table, where, origin, problems, ignore)
    return [SecretFilesSource(model, values.files, problems), values]


def given_values(sources: Iterable[Given]) -> dict[str, Any]:
    """What the sources give, merged (the first wins), not validated."""
    merged: dict[str, Any] = {}
    for source in sources:
        for key, value in source().items():
            merged.setdefault(key, value)
    return merged


# --- the model from its sources --------------------------------------------------------------


def settle(
    model: type[Settings],
    sources: list[Given],
    origins: Origins,
    name_of: Callable[[str], str],
    problems: list[str],
) -> Any:
    """The model from its sources (the first wins), its origins noted; or None with one
    problem line per error, each named by `name_of` its key."""
    chain: tuple[PydanticBaseSettingsSource, ...] = (
        *sources,
        OriginsSource(model, sources, origins),
    )
    try:
        return model(_build_sources=(chain, {}))
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
