"""The instances of the kinds found at run time: `[[source]]` tables of the file, and the one
instance of each kind that the environment adds. pydantic-settings knows neither: a table names
its kind, which decides its model; the environment configures a kind when its trigger variable
is set (or its selector, where kinds share a prefix)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.config.checks import closest, placeholder_warning
from collector.config.keys import attribute_of, variable_of
from collector.config.sources import (
    Given,
    Origins,
    environment_sources,
    settle,
    table_sources,
)
from collector.environment import Environment
from collector.settings import SourceSettings
from collector.sources import InstanceConfig, SourceKind

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass
class Draft:
    """An instance before its model is built: its kind, name, tags and sources."""

    kind: SourceKind
    name: str | None
    tags: dict[str, str]
    sources: list[Given]
    where: str  # how problems name it: "file:[[source]] #2" or "" for the environment


def drafts_from_file(
    document: Mapping[str, Any],
    file_name: str,
    kinds: dict[str, SourceKind],
    problems: list[str],
) -> list[Draft]:
    tables = document.get("source", [])
    if not isinstance(tables, list):
        problems.append(f"{file_name}: sources are [[source]] tables (double brackets)")
        return []
    drafts: list[Draft] = []
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
                f"{where}:kind: unknown kind {kind_name!r}{closest(str(kind_name), list(kinds))} "
                f"(known kinds: {', '.join(kinds)})"
            )
            continue
        tags = _tags(table.get("tags", {}), f"{where}:tags", problems)
        if name is not None and (not isinstance(name, str) or not _NAME.match(name)):
            problems.append(
                f"{where}:name: must be letters, digits, '-', '_' or '.' (got {name!r})"
            )
            name = None
        sources = table_sources(
            kind.settings, table, where, f"file {file_name}", problems, ("kind", "name", "tags")
        )
        drafts.append(Draft(kind, name, tags, sources, where))
    return drafts


def _tags(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        problems.append(f'{where}: must be an inline table of texts, e.g. {{ site = "garage" }}')
        return {}
    return dict(value)


def drafts_from_env(
    env: Environment, kinds: dict[str, SourceKind], problems: list[str]
) -> list[Draft]:
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
        sources = environment_sources(kind.settings, kind.env_prefix, env, problems)
        drafts.append(Draft(kind, None, {}, sources, ""))
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


def trigger(kind: SourceKind) -> str:
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


def instances_of(
    drafts: list[Draft],
    problems: list[str],
    warnings: list[str],
    origins: dict[str, Origins],
) -> list[InstanceConfig]:
    """Each draft's model, under its name (or its kind's, numbered when taken)."""
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

        def name_of(key: str, draft: Draft = draft, model: type[SourceSettings] = model) -> str:
            if not draft.where:
                return variable_of(model, draft.kind.env_prefix, key)
            return f"{draft.where}:{key}" if key else draft.where

        found = Origins()
        settings: SourceSettings | None = settle(model, draft.sources, found, name_of, problems)
        if settings is None:
            continue
        for note in settings.notes():
            warnings.append(f"{name_of(note.key)}: {note.text}")
        placeholder_warning(model, draft.kind.env_prefix, settings, warnings, draft.where)
        instances.append(InstanceConfig(draft.kind.name, name, settings, draft.tags))
        origins[name] = found
    return instances


def _free_name(base: str, taken: Mapping[str, str]) -> str:
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"
