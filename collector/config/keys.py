"""A settings model's keys, as the TOML file and the environment name them."""

from __future__ import annotations

import typing

from pydantic import SecretStr

from collector.settings import Settings


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


def attribute_of(model: type[Settings], key: str) -> str:
    """The model's attribute for a TOML key (they differ where a key is an alias)."""
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return name
    return key
