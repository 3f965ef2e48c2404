"""The `senec` kind's settings: variables `SENEC_*` (SOLECTRUS names), keys of a [[source]]."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from collector.settings import (
    Note,
    PolledSettings,
    field_names,
    known_fields,
    lowercase,
    parse_address,
)

DEVICE_MIN_INTERVAL = 5.0  # below this the device may suffer (cloud sync, reboots)


class SenecSettings(PolledSettings):
    """A SENEC home battery, read locally through its lala.cgi."""

    # SOLECTRUS's senec-collector calls the measurement INFLUX_MEASUREMENT.
    env_names: ClassVar[dict[str, str]] = {"measurement": "INFLUX_MEASUREMENT"}
    reads_before: ClassVar[dict[str, tuple[str, ...]]] = {
        "host": ("adapter",),
        "ca_file": ("scheme",),
    }

    adapter: Literal["local", "cloud"] = "local"
    host: str | None = Field(
        None, validate_default=True, description="the device: host or host:port, no http(s)://"
    )
    scheme: Literal["https", "http"] = Field("https", alias="schema")
    interval: float = Field(5.0, ge=1.0)
    timeout: float | None = Field(None, gt=0)
    language: Literal["de", "en", "it"] = "de"
    ignore: str = ""
    ca_file: Path | None = None
    measurement: str = "SENEC"

    _lower = field_validator("adapter", "scheme", "language", mode="before")(lowercase)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("adapter") == "local":  # (a refused adapter says why itself)
                raise ValueError("is required")
            return None
        parse_address(value, 443)
        return value.strip()

    @field_validator("adapter")
    @classmethod
    def _adapter(cls, value: str) -> str:
        if value == "cloud":
            raise ValueError(
                'SENEC\'s cloud is its own kind: kind = "senec-cloud" (from the environment, '
                "SENEC_ADAPTER=cloud selects it)"
            )
        return value

    @field_validator("ignore")
    @classmethod
    def _ignore(cls, value: str) -> str:
        from collector.sources.senec.fields import FIELDS

        return known_fields(value, FIELDS)

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        if info.data.get("scheme") != "https":
            raise ValueError("only makes sense with https")
        if not value.is_file():
            raise ValueError(f"no such file {str(value)!r}")
        return value

    def notes(self) -> list[Note]:
        if self.interval >= DEVICE_MIN_INTERVAL:
            return []
        return [
            Note(
                "interval",
                f"{self.interval:g} s: polling a SENEC device more often than every "
                f"{DEVICE_MIN_INTERVAL:g} s may stop its cloud sync or make it restart",
            )
        ]

    @property
    def ignored_fields(self) -> list[str]:
        return field_names(self.ignore)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"
