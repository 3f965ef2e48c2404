"""The `sma-em` kind's settings: variables `SMA_EM_*`, keys of a [[source]] table."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from collector.settings import SourceSettings

GROUP = "239.12.255.254"
PORT = 9522


class SmaEmSettings(SourceSettings):
    """SMA Energy Meters and Sunny Home Managers, heard on UDP (multicast or unicast)."""

    enable: bool = Field(False, description="read meters without naming their serials")
    serial: str = Field("", description="only these meters (comma-separated serials)")
    interface: str = Field("", description="this machine's address to join the group on")
    group: str = Field(GROUP, description="the multicast group; none: only unicast")
    port: int = Field(PORT, ge=1, le=65535)
    interval: float = Field(5.0, ge=1.0)
    measurement: str = "SMA_EM"

    @field_validator("serial")
    @classmethod
    def _serials(cls, value: str) -> str:
        for item in _items(value):
            if not item.isdigit() or not 0 < int(item) < 2**32:
                raise ValueError(f"{item!r} is not a meter serial (a number, as on its label)")
        return value

    @field_validator("interface")
    @classmethod
    def _interface(cls, value: str) -> str:
        if value.strip():
            try:
                ipaddress.IPv4Address(value.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not an IPv4 address of this machine") from None
        return value.strip()

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        text = value.strip().lower()
        if text == "none":
            return text
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a multicast address (or none)") from None
        if not address.is_multicast:
            raise ValueError(f"{value!r} is not a multicast address (224.0.0.0/4), or none")
        return text

    @property
    def serials(self) -> set[int]:
        return {int(item) for item in _items(self.serial)}


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
