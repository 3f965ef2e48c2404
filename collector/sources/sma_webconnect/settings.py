"""The `sma-webconnect` kind's settings: variables `SMA_WEBCONNECT_*`, keys of a [[source]]."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from collector.settings import (
    Note,
    PolledSettings,
    device_url,
    existing_file,
    https_ca,
    lowercase,
    secret_given,
)


class SmaWebConnectSettings(PolledSettings):
    """One SMA inverter read through WebConnect, its web interface's JSON API."""

    timeout_cap: ClassVar[float] = 8.0  # a WebConnect answer can take seconds

    url: str = Field(description="the inverter's web interface, e.g. https://192.168.1.40")
    password: SecretStr = Field(description="the password of the user group, as in the web UI")
    user_group: Literal["user", "installer"] = "user"
    interval: float = Field(10.0, ge=1.0)
    timeout: float | None = Field(None, gt=0)
    ca_file: Path | None = Field(
        None, description="check the inverter's certificate against this CA (PEM)"
    )
    measurement: str = "SMA"

    _lower = field_validator("user_group", mode="before")(lowercase)
    _ca = field_validator("ca_file")(existing_file)

    _url = field_validator("url")(device_url)
    _secret = field_validator("password")(secret_given)
    reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"ca_file": ("url",)}
    _https = field_validator("ca_file")(https_ca)

    def notes(self) -> list[Note]:
        if self.url.startswith("http://"):
            return [
                Note(
                    "url",
                    f"{self.url} is plain http: newer firmware refuses logins over it (err 404), "
                    "and the password crosses the LAN readable",
                )
            ]
        return []

    @property
    def right(self) -> str:
        """The user group as the login names it."""
        return "istl" if self.user_group == "installer" else "usr"
