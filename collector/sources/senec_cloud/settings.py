"""The `senec-cloud` kind's settings: variables `SENEC_*` (SOLECTRUS names), keys of a [[source]].

SENEC_ADAPTER=cloud selects this kind from the environment (`local`, the default, is the kind
`senec`). SENEC moves its servers now and then; every address can be set.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from collector.settings import (
    Note,
    PolledSettings,
    field_names,
    http_url,
    known_fields,
    lowercase,
)

SSO_URL = "https://sso.senec.com/realms/senec"
SYSTEMS_URL = "https://senec-app-systems-proxy.prod.senec.dev/systems/api/v1"
MEASUREMENTS_URL = "https://senec-app-measurements-proxy.prod.senec.dev/measurements/api/v1"
WALLBOX_URL = "https://senec-app-wallbox-proxy.prod.senec.dev/wallbox/api/v1"
CLOUD_MIN_INTERVAL = 60.0  # SENEC's servers: at most one poll a minute (as SOLECTRUS enforces)

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
URL_KEYS = ("cloud_sso_url", "cloud_systems_url", "cloud_measurements_url", "cloud_wallbox_url")


class SenecCloudSettings(PolledSettings):
    """A SENEC account, read through SENEC's app API (Keycloak login, optional TOTP)."""

    env_names: ClassVar[dict[str, str]] = {"measurement": "INFLUX_MEASUREMENT"}
    timeout_cap: ClassVar[float] = 20.0

    adapter: Literal["cloud"] = "cloud"
    username: str = Field(description="the e-mail address of the mein-senec.de account")
    password: SecretStr
    totp_uri: SecretStr | None = Field(
        None, description="otpauth://totp/... from the QR code shown when MFA was set up"
    )
    system_id: str | None = Field(
        None, description="which of the account's systems; default the first"
    )
    request_mode: Literal["minimal", "full"] = "minimal"
    interval: float = Field(60.0, ge=CLOUD_MIN_INTERVAL)
    timeout: float | None = Field(None, gt=0)
    ignore: str = ""
    measurement: str = "SENEC"
    cloud_sso_url: str = SSO_URL
    cloud_systems_url: str = SYSTEMS_URL
    cloud_measurements_url: str = MEASUREMENTS_URL
    cloud_wallbox_url: str = WALLBOX_URL

    _lower = field_validator("adapter", "request_mode", mode="before")(lowercase)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL.fullmatch(value):
            raise ValueError("must be the e-mail address you log in to mein-senec.de with")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("totp_uri")
    @classmethod
    def _totp_uri(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from collector.sources.senec_cloud.codec import totp_problem

        problem = totp_problem(value.get_secret_value().strip())
        if problem:
            raise ValueError(problem)
        return SecretStr(value.get_secret_value().strip())

    @field_validator("system_id")
    @classmethod
    def _system_id(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()

    _url = field_validator(*URL_KEYS)(http_url)

    @field_validator("ignore")
    @classmethod
    def _ignore(cls, value: str) -> str:
        from collector.sources.senec_cloud.fields import FIELDS

        return known_fields(value, FIELDS)

    def notes(self) -> list[Note]:
        return [
            Note(key, f"{getattr(self, key)} is plain http: fine for the simulator, not for SENEC")
            for key in URL_KEYS
            if getattr(self, key).startswith("http://")
        ]

    @property
    def ignored_fields(self) -> list[str]:
        return field_names(self.ignore)
