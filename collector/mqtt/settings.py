"""`[mqtt]` and `MQTT_*`: the broker the live view is published to, and Home Assistant's
discovery. MQTT is on when MQTT_URL is set."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from collector.settings import Settings, existing_file

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


def topic_prefix(value: str) -> str:
    """A topic prefix: one or more levels, no wildcards, no empty level."""
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    if any(char in text for char in "+#\0"):
        raise ValueError("must not contain the wildcards + or #")
    if any(not level for level in text.split("/")):
        raise ValueError("must not start or end with / or hold an empty level")
    return text


class MqttSettings(Settings):
    model_config = SettingsConfigDict(env_prefix="MQTT_")
    reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"ca_file": ("url",)}

    url: str | None = Field(
        None, description="the broker: mqtt://host:1883, or mqtts://host:8883 for TLS"
    )
    username: str | None = None
    password: SecretStr | None = Field(None, description="the broker user's password")
    ca_file: Path | None = None
    client_id: str | None = None
    topic: str = "energy"
    qos: int = Field(1, ge=0, le=2)
    discovery: bool = True
    discovery_prefix: str = "homeassistant"

    _topics = field_validator("topic", "discovery_prefix")(topic_prefix)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("must look like mqtt://broker:1883 or mqtts://broker:8883")
        if parts.username or parts.password:
            raise ValueError("must not contain credentials: use MQTT_USERNAME and MQTT_PASSWORD")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("must be the broker's address only, without a path")
        try:
            parts.port  # noqa: B018 (it raises for a port out of range)
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        return value.strip().rstrip("/")

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        url = info.data.get("url")
        if value is not None and isinstance(url, str) and not url.startswith("mqtts://"):
            raise ValueError("only makes sense with an mqtts:// URL")
        return existing_file(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value.strip() if value is not None else None

    @property
    def host(self) -> str:
        assert self.url is not None
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        assert self.url is not None
        parts = urlsplit(self.url)
        return parts.port or DEFAULT_PORTS[parts.scheme]

    @property
    def tls(self) -> bool:
        return self.url is not None and self.url.startswith("mqtts://")

    @property
    def effective_client_id(self) -> str:
        return self.client_id or f"energy-collector-{socket.gethostname()}"

    def derived(self, key: str) -> tuple[Any, str] | None:
        if key == "client_id" and self.client_id is None:
            return self.effective_client_id, "default (energy-collector-<hostname>)"
        return None
