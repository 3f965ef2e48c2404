"""The `sma-ennexos` kind's settings: variables `SMA_ENNEXOS_*`, keys of a [[source]] table."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from collector.settings import Note, PolledSettings, existing_file, http_url, not_blank


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

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        text = value.strip()
        if "://" not in text:
            text = f"https://{text}"
        url = http_url(text)
        if urlsplit(url).path not in ("", "/"):
            raise ValueError(f"give the device's address only, without a path: {value!r}")
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
            return [Note("url", f"{self.url} is plain http: the password crosses the LAN readable")]
        return []
