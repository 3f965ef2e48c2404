"""What every source kind's settings model builds on, and the value types they share.

A kind's settings are a pydantic-settings model. Its keys are the TOML keys of a `[[source]]`
table; the environment variable of a key is the kind's prefix plus the key in upper case
(`password_file` of a kind with prefix `XY_` is `XY_PASSWORD_FILE`), unless the model names
another variable in `env_names` (for names kept from other tools). The core (collector.config)
reads both ways into the same model through its settings sources, so a value is checked the same
wherever it came from. Built directly (`XySettings(host=...)`, as tests and simulators do) a
model reads only what it is given: no environment, no file.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# --- value types ---------------------------------------------------------------------------


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address → (host, port).

    ValueError says what is wrong, in words fit for a configuration error.
    """
    item = text.strip()
    if not item:
        raise ValueError("is empty")
    if "://" in item or "/" in item:
        raise ValueError(f"give only the host name or address (optionally :port), got {item!r}")
    host, port_text = item, None
    if item.startswith("["):
        host, sep, rest = item[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{item!r} is not [address]:port")
        port_text = rest[1:] if rest else None
        _ipv6(host, item)
    elif item.count(":") == 1:
        host, _, port_text = item.partition(":")
    elif item.count(":") > 1:  # a bare IPv6 address: no port
        _ipv6(host, item)
    if port_text is not None and (not port_text.isdigit() or not 1 <= int(port_text) <= 65535):
        raise ValueError(f"the port in {item!r} must be a number from 1 to 65535")
    if not host or not re.fullmatch(r"[A-Za-z0-9._:%-]+", host):
        raise ValueError(f"{item!r} is not a host name or address")
    return host, int(port_text) if port_text is not None else default_port


def _ipv6(host: str, item: str) -> None:
    try:
        ipaddress.IPv6Address(host.split("%")[0])
    except ValueError:
        raise ValueError(f"{item!r} is not a host name or address") from None


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """`30d`, `12h`, `90m`, `45s` or a plain number of seconds, as seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("must be a duration such as 30d, 12h, 90m, 45s (or seconds)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    return value


def format_duration(seconds: float) -> str:
    """The shortest exact form of a duration: 2592000 -> 30d, 5400 -> 90m, 7.5 -> 7.5s."""
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def seconds(value: float) -> float | int:
    """A number of seconds for people: 2.4000000000000004 -> 2.4, 5.0 -> 5."""
    rounded = round(value, 3)
    return int(rounded) if rounded == int(rounded) else rounded


def lowercase(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def field_names(text: str) -> list[str]:
    """The names of a comma-separated list such as SENEC_IGNORE's."""
    return [name.strip() for name in text.split(",") if name.strip()]


def known_fields(text: str, catalogue: Any) -> str:
    """A list of field names, each of which the catalogue has; ValueError naming the others."""
    unknown = [name for name in field_names(text) if name not in catalogue]
    if unknown:
        raise ValueError(
            f"unknown field {', '.join(unknown)} (known: {', '.join(sorted(catalogue))})"
        )
    return text


def http_url(value: str) -> str:
    """An https:// (or, for simulators, http://) address, without a trailing slash."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"must be an https:// address, got {value!r}")
    return value.strip().rstrip("/")


def device_url(value: str) -> str:
    """A device's web interface: an address alone means https; no path."""
    text = value.strip()
    url = http_url(text if "://" in text else f"https://{text}")
    if urlsplit(url).path not in ("", "/"):
        raise ValueError(f"give the device's address only, without a path: {value!r}")
    return url


def https_ca(value: Path | None, info: ValidationInfo) -> Path | None:
    """A CA file is for an https:// `url` only (a model using it declares
    `reads_before = {"ca_file": ("url",)}`)."""
    url = info.data.get("url")
    if value is not None and isinstance(url, str) and not url.startswith("https://"):
        raise ValueError("only makes sense with an https:// URL")
    return value


def secret_given(value: Any) -> Any:
    if not value.get_secret_value():
        raise ValueError("must not be empty")
    return value


def existing_file(value: Path | None) -> Path | None:
    """A file that must exist now (a CA certificate), or nothing."""
    if value is not None and not value.is_file():
        raise ValueError(f"no such file {str(value)!r}")
    return value


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# --- the models ----------------------------------------------------------------------------


class Settings(BaseSettings):
    """A table of settings: unknown keys are errors, every number finite, names as written
    (case-sensitive), defaults taken as declared (not validated, as a plain model does)."""

    model_config = SettingsConfigDict(
        extra="forbid",
        populate_by_name=True,
        allow_inf_nan=False,
        frozen=True,
        case_sensitive=True,
        validate_default=False,
    )

    # key -> environment variable, where it is not PREFIX + KEY (names kept from other tools)
    env_names: ClassVar[dict[str, str]] = {}
    # keys that take durations such as 30d or 90m, and are shown that way
    durations: ClassVar[tuple[str, ...]] = ()
    # field -> the fields its validator reads from `info.data`. pydantic validates fields in
    # the order they are declared, and `info.data` holds only those before: each of these must
    # be declared before the field (checked when a model is defined, so that a kind which
    # declares its fields in another order fails at once instead of skipping the check).
    # A subclass adds to its bases' entries.
    reads_before: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        order = list(cls.model_fields)
        for klass in cls.__mro__:
            for name, earlier in vars(klass).get("reads_before", {}).items():
                for other in earlier:
                    if name in order and (
                        other not in order or order.index(other) > order.index(name)
                    ):
                        raise TypeError(
                            f"{cls.__name__}: the validator of {name!r} reads {other!r}, "
                            f"which must be declared before it"
                        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built directly, a model takes only its arguments. The configuration hands each
        model its own sources (collector.config.sources), which know the prefix of its kind."""
        return (init_settings,)

    def derived(self, key: str) -> tuple[Any, str] | None:
        """For a key left unset whose value follows from others: (value, how), for display."""
        return None


@dataclass(frozen=True)
class Note:
    """A warning about a setting that is allowed but unwise."""

    key: str
    text: str


class SourceSettings(Settings):
    """One instance of a source kind. `measurement` is the only key every kind has (a kind
    redeclares it with its default)."""

    measurement: str

    _measurement = field_validator("measurement")(not_blank)

    def notes(self) -> list[Note]:
        """Warnings for the start banner about allowed but unwise values."""
        return []


class PolledSettings(SourceSettings):
    """A kind that asks its device on a schedule.

    The request timeout defaults to a share of the interval (80 %, split over the attempts, at
    most `timeout_cap`), so that no interval a user may choose is refused because of a default
    they did not set; only a timeout the user gave can be refused.
    """

    attempts: ClassVar[int] = 1  # how often one request is tried within one poll
    reads_before: ClassVar[dict[str, tuple[str, ...]]] = {"timeout": ("interval",)}
    timeout_cap: ClassVar[float] = 30.0

    interval: float = Field(5.0, ge=1.0)
    timeout: float | None = Field(None, gt=0)

    @field_validator("timeout")
    @classmethod
    def _timeout_fits(cls, value: float | None, info: ValidationInfo) -> float | None:
        interval = info.data.get("interval")
        if value is None or interval is None:
            return value
        if value * cls.attempts >= interval:
            tries = f"{cls.attempts} attempts of " if cls.attempts > 1 else ""
            raise ValueError(
                f"{tries}{value:g} s must fit into the interval ({interval:g} s): "
                "give a shorter timeout or a longer interval"
            )
        return value

    def derived(self, key: str) -> tuple[Any, str] | None:
        if key == "timeout" and self.timeout is None:
            share = "80 % of the interval" + (
                f" over {self.attempts} attempts" if self.attempts > 1 else ""
            )
            return self.effective_timeout, f"default ({share}, at most {self.timeout_cap:g} s)"
        return None

    @property
    def effective_timeout(self) -> float:
        """Seconds one attempt may take: the given timeout, or a share of the interval."""
        if self.timeout is not None:
            return self.timeout
        return min(self.interval * 0.8 / self.attempts, self.timeout_cap)
