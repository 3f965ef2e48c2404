"""Where the configuration comes from, read without checking it: the environment with a `.env`
file beneath it, and the TOML file that COLLECTOR_CONFIG names.

Kept apart from the models, so that `collector healthcheck`, which Docker runs every 30 s,
finds DATA_DIR as the daemon does without the cost of loading them: pydantic-settings, whose
dotenv source reads `.env`, is loaded only when there is a `.env` file (compose hands the
container its variables, so there is none there).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_VARIABLE = "COLLECTOR_CONFIG"
ENV_FILE = ".env"
DATA_DIR_VARIABLE = "DATA_DIR"  # [runtime] data_dir in the file
DEFAULT_DATA_DIR = Path("data")


@dataclass
class Environment:
    """The variables and, for each one, whether it came from the environment or from .env."""

    values: dict[str, str]
    from_file: dict[str, str]  # variable -> the .env file it came from

    def origin(self, variable: str) -> str:
        where = self.from_file.get(variable)
        return f"{where} {variable}" if where else f"environment {variable}"


def read_environment(environ: Mapping[str, str], cwd: Path) -> tuple[Environment, list[str]]:
    """The environment with a `.env` file in `cwd` beneath it; and the files read."""
    values = dict(environ)
    from_file: dict[str, str] = {}
    files: list[str] = []
    dotenv = cwd / ENV_FILE
    if dotenv.is_file():
        files.append(str(dotenv.resolve()))
        for name, value in _dotenv_variables(dotenv).items():
            if name not in values and value is not None:
                values[name] = value
                from_file[name] = ENV_FILE
    return Environment(values, from_file), files


def _dotenv_variables(path: Path) -> Mapping[str, str | None]:
    """Every variable of a `.env` file, as pydantic-settings' dotenv source reads it (names as
    written; a name without `=` has no value)."""
    from pydantic_settings import BaseSettings, DotEnvSettingsSource

    class Anything(BaseSettings):
        pass

    return DotEnvSettingsSource(Anything, env_file=path, case_sensitive=True).env_vars


def read_document(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """The TOML file's content; None (and a line in `problems`) when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        problems.append(f"{CONFIG_VARIABLE}: no such file {str(path)!r}")
    except OSError as exc:
        problems.append(f"{CONFIG_VARIABLE}: cannot read {path}: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
    return None


def data_dir_of(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """DATA_DIR as `load_config` resolves it, without checking anything else (for `collector
    healthcheck` and `collector queue`, which must look where the daemon writes): the
    environment with `.env` beneath it, then the [runtime] table of the file that either names
    in COLLECTOR_CONFIG, else the default. A file that cannot be read gives nothing."""
    env, _ = read_environment(os.environ if environ is None else environ, cwd or Path.cwd())
    value = env.values.get(DATA_DIR_VARIABLE, "").strip()
    path_text = env.values.get(CONFIG_VARIABLE, "").strip()
    if not value and path_text:
        table = (read_document(Path(path_text), []) or {}).get("runtime")
        if isinstance(table, dict):
            value = str(table.get("data_dir", "")).strip()
    return Path(value) if value else DEFAULT_DATA_DIR
