"""The core's own tables: `[influx]`, `[mqtt]`, `[log]` and `[runtime]` in the file, and their
variables (`INFLUX_*`, `MQTT_*`, `LOG_*`, and the runtime's without a prefix). Each model's
`env_prefix` is its table's variable prefix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from collector.environment import DEFAULT_DATA_DIR
from collector.mqtt.settings import MqttSettings
from collector.settings import Settings, lowercase, parse_duration

PLACEHOLDER = "change-me"  # how the example files' secrets start


class InfluxSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="INFLUX_")

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
    flush_interval: float = Field(
        1.0,
        ge=0,
        le=60,
        description="seconds a new reading may wait so that the readings of that time go to "
        "InfluxDB in one request (0: each at once)",
    )

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
    model_config = SettingsConfigDict(env_prefix="LOG_")

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"

    _lower = field_validator("level", "format", mode="before")(lowercase)


class RuntimeSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="")
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
    # how far back a gap is filled from a device's log (collector.backfill); 0: never
    backfill_days: float = Field(7.0, ge=0, le=3660)

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

    @property
    def prefix(self) -> str:
        return str(self.model.model_config.get("env_prefix", ""))


TABLES = (
    Table("influx", InfluxSettings),
    Table("mqtt", MqttSettings),
    Table("log", LogSettings),
    Table("runtime", RuntimeSettings),
)
