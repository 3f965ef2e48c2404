"""The one exception hierarchy of the collector.

CollectorError
├── ConfigError            bad settings: reported at start, exit code 2
├── SourceError            a device or cloud could not deliver a reading
│   ├── DeviceUnreachable  connection refused, timeout, TLS failure, HTTP 5xx
│   ├── ProtocolError      the device answered, but not in a form we understand
│   └── AuthError          wrong password, expired token
└── SinkError              InfluxDB did not take the points
"""

from __future__ import annotations

from typing import Any


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""


class ConfigError(CollectorError):
    """The configuration is invalid; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class SourceError(CollectorError):
    """A source could not produce a reading this time.

    The class attributes tell the poll loop how to go on; a subclass (or an instance) sets them:

    - `permanent`: asking again cannot help (a wrong password): the instance stops, with one line.
    - `asleep`: the device is expected to be silent for a while (an inverter at night): report
      it once and back off at once instead of warning about each missed poll.
    - `retry_after`: seconds the device asked us to wait before the next attempt, if it said so.
    """

    permanent: bool = False
    asleep: bool = False
    retry_after: float | None = None


class DeviceUnreachable(SourceError):
    """The device did not answer in time, refused, or answered with a server error."""


class ProtocolError(SourceError):
    """The device answered with something that is not a valid answer."""


class AuthError(SourceError):
    """The device or cloud refused our credentials."""


class SinkError(CollectorError):
    """Writing to the database failed.

    `retryable` tells whether the same points may succeed later (network, 5xx, 429, auth)
    or will never be accepted (400/422: malformed point, field type conflict).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)

    @property
    def is_auth(self) -> bool:
        return self.status in (401, 403)


def excerpt(value: Any, limit: int = 120) -> str:
    """A value as an error message may quote it: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
