"""The one exception hierarchy of the collector.

CollectorError
├── ConfigError            bad settings: reported at start, exit code 2
├── SourceError            a device or cloud could not deliver a reading
│   ├── DeviceUnreachable  connection refused, timeout, TLS failure, HTTP 5xx
│   ├── ProtocolError      the device answered, but not in a form we understand
│   └── AuthError          wrong password, expired token
│       └── LoginRefused   the credentials were refused: asking again cannot help (permanent)
├── CodecError             a codec (sans-I/O) could not read what a device sent; the kind turns
│                          it into ProtocolError at its boundary (`CodecError.as_protocol_error`)
└── SinkError              InfluxDB did not take the points

How a poll loop goes on after a SourceError is told by its flags (`permanent`, `asleep`,
`retry_after`). A subclass sets them as class attributes; a single error gets them as keyword
arguments of its constructor, never by assigning to an exception already raised.
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

    def __init__(
        self,
        message: str,
        *,
        permanent: bool | None = None,
        asleep: bool | None = None,
        retry_after: float | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__(message)
        if permanent is not None:
            self.permanent = permanent
        if asleep is not None:
            self.asleep = asleep
        if retry_after is not None:
            self.retry_after = retry_after
        self.device = device  # the device or URL it is about, when the message does not say


class DeviceUnreachable(SourceError):
    """The device did not answer in time, refused, or answered with a server error."""


class ProtocolError(SourceError):
    """The device answered with something that is not a valid answer."""


class AuthError(SourceError):
    """The device or cloud refused our credentials."""


class LoginRefused(AuthError):
    """The device or cloud refused the password (or user, or one-time code): asking again with
    the same credentials cannot help, and devices lock out after several wrong ones. The
    instance stops with one line. A kind that must try again later (a cloud whose refusal may be
    passing) says so with `permanent=False` and a `retry_after`."""

    permanent = True


class CodecError(CollectorError, ValueError):
    """What a device sent cannot be read (a sans-I/O codec's error); says what is wrong.

    `device` names the device when the codec knows it. A kind's code turns it into a
    ProtocolError where the answer came in (`as_protocol_error`); the poll loop treats one that
    escapes as a bug of the kind, not as the end of the instance.
    """

    def __init__(self, message: str, *, device: str | None = None) -> None:
        super().__init__(message)
        self.device = device

    def as_protocol_error(self, device: str | None = None) -> ProtocolError:
        where = device or self.device
        text = f"{where}: {self}" if where else str(self)
        return ProtocolError(text, device=where)


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
