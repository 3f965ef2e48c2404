"""The `sma` kind's settings: variables `SMA_*`, keys of a [[source]] table."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from collector.settings import PolledSettings, lowercase, parse_address
from collector.sources.sma import codec
from collector.sources.sma_common import frame


class SmaSettings(PolledSettings):
    """SMA inverters over Speedwire (UDP 9522), one password for all of them."""

    attempts: ClassVar[int] = 3  # each request is tried three times within a poll
    timeout_cap: ClassVar[float] = 1.0  # per attempt, when not given

    host: str = Field(description="one or more addresses, comma-separated, each address[:port]")
    password: SecretStr = Field(
        SecretStr("0000"), description="the inverters' password for the user group"
    )
    user_group: Literal["user", "installer"] = "user"
    interval: float = Field(5.0, ge=1.0)
    timeout: float | None = Field(None, gt=0, le=10)
    measurement: str = "SMA"

    _lower = field_validator("user_group", mode="before")(lowercase)

    @field_validator("host")
    @classmethod
    def _hosts(cls, value: str) -> str:
        items = [item for item in value.split(",") if item.strip()]
        if not items:
            raise ValueError("give at least one address")
        for item in items:
            parse_address(item, frame.PORT)
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        if len(text) > codec.PASSWORD_LENGTH or not text.isascii():
            raise ValueError("a Speedwire password is at most 12 ASCII characters")
        return value

    @property
    def targets(self) -> list[tuple[str, int]]:
        """(address, port) of each inverter; the port defaults to 9522."""
        return [parse_address(item, frame.PORT) for item in self.host.split(",") if item.strip()]

    @property
    def group(self) -> int:
        return codec.GROUP_INSTALLER if self.user_group == "installer" else codec.GROUP_USER
