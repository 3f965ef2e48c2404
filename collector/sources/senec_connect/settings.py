"""The `senec-connect` kind's settings: variables `SENEC_CONNECT_*`, keys of a [[source]] table."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from collector.settings import Note, PolledSettings, field_names, http_url, known_fields

CONNECT_URL = "https://apim-eds-gwc-prod.azure-api.net/senec-connect/v1"
FREE_REQUESTS_A_MONTH = 45_000  # SENEC.Connect's free tier
MONTH = 31 * 86400.0  # the longest month decides


class SenecConnectSettings(PolledSettings):
    """SENEC.Connect, SENEC's official API: every system of the account in one request."""

    env_names: ClassVar[dict[str, str]] = {
        "measurement": "INFLUX_MEASUREMENT",
        "system_id": "SENEC_SYSTEM_ID",
    }
    timeout_cap: ClassVar[float] = 20.0

    key: SecretStr = Field(description="the subscription key from developer.senec.com")
    url: str = CONNECT_URL
    interval: float = Field(60.0, ge=10.0)
    timeout: float | None = Field(None, gt=0)
    system_id: str | None = Field(None, description="only this system; default every one")
    ignore: str = ""
    measurement: str = "SENEC"

    @field_validator("key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return SecretStr(value.get_secret_value().strip())

    _url = field_validator("url")(http_url)

    @field_validator("system_id")
    @classmethod
    def _system_id(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    @field_validator("ignore")
    @classmethod
    def _ignore(cls, value: str) -> str:
        from collector.sources.senec_connect.fields import FIELDS

        return known_fields(value, FIELDS)

    def notes(self) -> list[Note]:
        notes = []
        monthly = MONTH / self.interval
        if monthly > FREE_REQUESTS_A_MONTH:
            notes.append(
                Note(
                    "interval",
                    f"{self.interval:g} s makes up to {monthly:,.0f} requests a month, more than "
                    f"the {FREE_REQUESTS_A_MONTH:,} of SENEC.Connect's free tier: SENEC will "
                    "refuse the rest of the month (60 s keeps within it)",
                )
            )
        if self.url.startswith("http://"):
            notes.append(
                Note("url", f"{self.url} is plain http: fine for the simulator, not for SENEC")
            )
        return notes

    @property
    def ignored_fields(self) -> list[str]:
        return field_names(self.ignore)
