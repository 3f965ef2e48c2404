"""The `sma-webconnect` kind's settings: variables `SMA_WEBCONNECT_*`, keys of a [[source]]."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from collector.settings import Note, PolledSettings, existing_file, http_url, lowercase


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

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        text = value.strip()
        if "://" not in text:
            text = f"https://{text}"  # an address alone: https, as the web UI
        url = http_url(text)
        if urlsplit(url).path not in ("", "/"):
            raise ValueError(f"give the inverter's address only, without a path: {value!r}")
        return url

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("ca_file")
    @classmethod
    def _https_only(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        url = info.data.get("url")
        if value is not None and isinstance(url, str) and not url.startswith("https://"):
            raise ValueError("only makes sense with an https:// URL")
        return value

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
