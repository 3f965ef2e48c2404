"""The `sma-ennexos` kind's settings: variables `SMA_ENNEXOS_*`, keys of a [[source]] table."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from collector.settings import (
    Note,
    PolledSettings,
    device_url,
    existing_file,
    https_ca,
    not_blank,
    secret_given,
)


class SmaEnnexosSettings(PolledSettings):
    """One SMA ennexOS device (Sunny Tripower X, Sunny Boy Smart Energy) through its web API."""

    timeout_cap: ClassVar[float] = 8.0

    url: str = Field(description="the device's web interface, e.g. https://192.168.1.41")
    username: str = Field(description="an account of the device's own user management")
    password: SecretStr
    interval: float = Field(10.0, ge=1.0)
    timeout: float | None = Field(None, gt=0)
    ca_file: Path | None = Field(
        None, description="check the device's certificate against this CA (PEM)"
    )
    measurement: str = "SMA"

    _username = field_validator("username")(not_blank)
    _ca = field_validator("ca_file")(existing_file)

    _url = field_validator("url")(device_url)
    _secret = field_validator("password")(secret_given)
    reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"ca_file": ("url",)}
    _https = field_validator("ca_file")(https_ca)

    def notes(self) -> list[Note]:
        if self.url.startswith("http://"):
            return [Note("url", f"{self.url} is plain http: the password crosses the LAN readable")]
        return []
