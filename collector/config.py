"""Configuration: every environment variable the collector reads is declared here.

Variables come from the environment and from an optional `.env` file in the working directory.
Names follow the SOLECTRUS senec-collector where a variable means the same thing. A secret can
also be given as `NAME_FILE`, the path of a file holding it (Docker secrets).

`load_config` collects every problem before it gives up, so that a user sees all of them at
once, one line each.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.errors import ConfigError

LOCAL_DEVICE_MIN_INTERVAL = 5.0  # below this the SENEC device may suffer (cloud sync, reboots)


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _lowercase(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _host_problem(value: str) -> Literal["path", "port", "name"] | None:
    """What is wrong with `host[:port]`: a scheme or path, a bad port, no host; None if fine."""
    if "://" in value or "/" in value:
        return "path"
    parts = urlsplit(f"//{value}")
    try:
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError:
        return "port"
    return None if parts.hostname else "name"


class SenecLocalSettings(_Settings):
    model_config = SettingsConfigDict(env_prefix="SENEC_")

    host: str | None = None
    scheme: Literal["https", "http"] = Field("https", validation_alias="SENEC_SCHEMA")
    interval: float = Field(5.0, ge=1.0)
    timeout: float | None = Field(None, gt=0)
    language: Literal["de", "en", "it"] = "de"
    ignore: str = ""
    ca_file: Path | None = None

    _blank = field_validator("host", "timeout", "ca_file", mode="before")(_blank_to_none)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        problem = _host_problem(value)
        if problem == "path":
            raise ValueError(
                "give only the host name or address (optionally :port), no scheme or path"
            )
        if problem == "port":
            raise ValueError("the port after ':' must be a number from 1 to 65535")
        if problem == "name":
            raise ValueError("is not a host name or address")
        return value

    @property
    def effective_timeout(self) -> float:
        """The request timeout: given, or 80 % of the interval (at most 30 s)."""
        return self.timeout if self.timeout is not None else min(self.interval * 0.8, 30.0)

    @property
    def ignored_fields(self) -> list[str]:
        return [name.strip() for name in self.ignore.split(",") if name.strip()]

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


class SmaSettings(_Settings):
    """SMA inverters over Speedwire (UDP 9522)."""

    model_config = SettingsConfigDict(env_prefix="SMA_")

    host: str | None = None  # one or more, comma-separated, each `address[:port]`
    password: SecretStr = SecretStr("0000")
    user_group: Literal["user", "installer"] = "user"
    interval: float = Field(5.0, ge=1.0)
    timeout: float = Field(1.0, gt=0, le=10)  # per request; each is tried 3 times
    measurement: str = "SMA"

    _blank = field_validator("host", mode="before")(_blank_to_none)

    _lower = field_validator("user_group", mode="before")(_lowercase)

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if len(text) > 12 or not text.isascii():
            raise ValueError("a Speedwire password is at most 12 ASCII characters")
        return value

    _measurement = field_validator("measurement")(_not_blank)

    @property
    def targets(self) -> list[tuple[str, int]]:
        """(address, port) of each inverter; the port defaults to 9522."""
        result = []
        for item in (self.host or "").split(","):
            item = item.strip()
            if not item:
                continue
            parts = urlsplit(f"//{item}")
            result.append((parts.hostname or item, parts.port or 9522))
        return result


class InfluxSettings(_Settings):
    model_config = SettingsConfigDict(env_prefix="INFLUX_")

    api: Literal["v2", "v1"] = "v2"
    url: str | None = None
    scheme: Literal["http", "https"] = Field("http", validation_alias="INFLUX_SCHEMA")
    host: str | None = None
    port: int = Field(8086, ge=1, le=65535)
    token: SecretStr | None = None
    org: str | None = None
    bucket: str | None = None
    measurement: str = "SENEC"
    timeout: float = Field(10.0, gt=0)

    _blank = field_validator("url", "host", "token", "org", "bucket", mode="before")(_blank_to_none)

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

    _measurement = field_validator("measurement")(_not_blank)

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


class LogSettings(_Settings):
    model_config = SettingsConfigDict(env_prefix="LOG_")

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"

    _lower = field_validator("level", "format", mode="before")(_lowercase)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """`30d`, `12h`, `90m`, `45s` or a plain number of seconds, as seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("must be a duration such as 30d, 12h, 90m, 45s (or seconds)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    return value


def format_duration(seconds: float) -> str:
    """The shortest exact form of a duration: 2592000 -> 30d, 5400 -> 90m, 7.5 -> 7.5s."""
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


class RuntimeSettings(_Settings):
    data_dir: Path = Path("data")
    shutdown_grace: float = Field(5.0, ge=0, le=60)
    buffer_max_age: float = Field(30 * 86400.0, gt=0)
    buffer_max_mb: float = Field(500.0, gt=0)
    health_backlog_growing: float = Field(600.0, gt=0)

    _durations = field_validator("buffer_max_age", "health_backlog_growing", mode="before")(
        parse_duration
    )

    @property
    def buffer_max_bytes(self) -> int:
        return int(self.buffer_max_mb * 1024 * 1024)


# --- loading -------------------------------------------------------------------------------

SECRETS: dict[str, tuple[type[_Settings], str]] = {
    "INFLUX_TOKEN": (InfluxSettings, "token"),
    "SMA_PASSWORD": (SmaSettings, "password"),
}


def _read_file_secrets(environ: dict[str, str]) -> tuple[dict[type, dict[str, str]], list[str]]:
    """Resolve `NAME_FILE` variables of secrets into init values."""
    values: dict[type, dict[str, str]] = {}
    problems: list[str] = []
    for name, (model, attribute) in SECRETS.items():
        path = environ.get(f"{name}_FILE", "").strip()
        if not path:
            continue
        if environ.get(name, "").strip():
            problems.append(f"{name}: set either {name} or {name}_FILE, not both")
            continue
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"{name}_FILE: cannot read {path}: {exc.strerror or exc}")
            continue
        values.setdefault(model, {})[attribute] = secret
    return values, problems


def _env_name(model: type[_Settings], loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    if name.isupper():  # an alias is already the variable's name
        return name
    prefix = model.model_config.get("env_prefix", "")
    return f"{prefix}{name}".upper()


def _describe(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    message = re.sub(r"^Value error, ", "", message)
    message = message.replace("Input should be", "must be")
    shown = error.get("input")
    if isinstance(shown, str | int | float) and error["type"] != "missing":
        return f"{message} (got {str(shown)!r})"
    return message


def _load(model: type[_Settings], init: dict[str, Any], problems: list[str]) -> Any:
    try:
        return model(**init)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(f"{_env_name(model, error['loc'])}: {_describe(dict(error))}")
        return None


@dataclass
class Config:
    senec: SenecLocalSettings | None
    sma: SmaSettings | None
    influx: InfluxSettings | None
    log: LogSettings
    runtime: RuntimeSettings
    warnings: list[str] = field(default_factory=list)


def load_config(*, need_sink: bool = True) -> Config:
    """Read and check the whole configuration; raise ConfigError listing every problem."""
    secrets, problems = _read_file_secrets(dict(os.environ))
    warnings: list[str] = []

    log = _load(LogSettings, {}, problems) or LogSettings.model_construct()
    runtime = _load(RuntimeSettings, {}, problems)
    senec: SenecLocalSettings | None = _load(SenecLocalSettings, {}, problems)
    sma: SmaSettings | None = _load(SmaSettings, secrets.get(SmaSettings, {}), problems)
    influx: InfluxSettings | None = (
        _load(InfluxSettings, secrets.get(InfluxSettings, {}), problems) if need_sink else None
    )

    if sma is not None and sma.host is None:
        sma = None
    elif sma is not None:
        _check_sma(sma, problems)
    if senec is not None and senec.host is None:
        senec = None
        if sma is None and not any(p.startswith("SMA_") for p in problems):
            problems.append(
                "no source configured: set SENEC_HOST to your SENEC device's address "
                "or SMA_HOST to your SMA inverters' addresses"
            )
    elif senec is not None:
        _check_senec(senec, problems, warnings)
    if influx is not None:
        _check_influx(influx, problems)

    if problems:
        raise ConfigError(problems)
    return Config(senec=senec, sma=sma, influx=influx, log=log, runtime=runtime, warnings=warnings)


def _check_senec(senec: SenecLocalSettings, problems: list[str], warnings: list[str]) -> None:
    from collector.sources.senec_local.fields import SENEC_FIELDS

    unknown = [name for name in senec.ignored_fields if name not in SENEC_FIELDS]
    if unknown:
        problems.append(
            f"SENEC_IGNORE: unknown field {', '.join(unknown)} "
            f"(known: {', '.join(sorted(SENEC_FIELDS))})"
        )
    if senec.interval < LOCAL_DEVICE_MIN_INTERVAL:
        warnings.append(
            f"SENEC_INTERVAL is {senec.interval:g} s: polling a SENEC device more often than "
            f"every {LOCAL_DEVICE_MIN_INTERVAL:g} s may stop its cloud sync or make it restart"
        )
    if senec.timeout is not None and senec.timeout >= senec.interval:
        problems.append(
            f"SENEC_TIMEOUT: must be shorter than SENEC_INTERVAL ({senec.interval:g} s), "
            f"got {senec.timeout:g} s"
        )
    if not math.isfinite(senec.interval):
        problems.append("SENEC_INTERVAL: must be a finite number of seconds")
    if senec.ca_file is not None:
        if senec.scheme != "https":
            problems.append("SENEC_CA_FILE: only makes sense with SENEC_SCHEMA=https")
        elif not senec.ca_file.is_file():
            problems.append(f"SENEC_CA_FILE: no such file {str(senec.ca_file)!r}")


def _check_sma(sma: SmaSettings, problems: list[str]) -> None:
    for item in (sma.host or "").split(","):
        item = item.strip()
        if not item:
            continue
        problem = _host_problem(item)
        if problem == "path":
            problems.append(f"SMA_HOST: give addresses only (optionally :port), got {item!r}")
        elif problem == "port":
            problems.append(f"SMA_HOST: the port in {item!r} must be a number from 1 to 65535")
        elif problem == "name":
            problems.append(f"SMA_HOST: {item!r} is not a host name or address")
    if sma.timeout * 3 >= sma.interval:
        problems.append(
            f"SMA_TIMEOUT: three attempts ({sma.timeout:g} s each) must fit into SMA_INTERVAL "
            f"({sma.interval:g} s)"
        )


def _check_influx(influx: InfluxSettings, problems: list[str]) -> None:
    if influx.url is None and influx.host is None:
        problems.append("INFLUX_HOST: is required (or give the whole INFLUX_URL)")
    if influx.bucket is None:
        if influx.api == "v2":
            problems.append("INFLUX_BUCKET: is required")
        else:
            problems.append("INFLUX_BUCKET: is required (with INFLUX_API=v1: the database name)")
    if influx.api == "v2" and influx.org is None:
        problems.append(
            "INFLUX_ORG: is required with INFLUX_API=v2 "
            "(InfluxDB 1.8 and VictoriaMetrics ignore it: any value such as '-' will do)"
        )
    if influx.api == "v1" and influx.token is not None and influx.credentials is None:
        problems.append("INFLUX_TOKEN: with INFLUX_API=v1 it must be user:password")
