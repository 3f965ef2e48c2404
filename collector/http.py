"""HTTP for every kind that speaks it: one client, one deadline per request, one error mapping.

- `new_client` / `device_client`: an httpx client with the collector's User-Agent, no
  redirects followed, and TLS as a device on the LAN needs it (`device_tls`).
- `send`: one request under one total deadline. httpx's own timeout applies to each phase
  (connect, each read, ...), so a device that trickles its answer could take several times
  the timeout; the deadline bounds the whole request. httpx's errors become `SourceError`s
  with the URL in their one line: no kind catches httpx's exceptions itself.
- `json_of`: an answer's JSON, or a `ProtocolError` saying how many bytes came instead.
- `retry_after`: the Retry-After header, in seconds, for sources and sinks alike. How long
  to wait at most is the caller's policy (PollLoop and the writer each cap it once).
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from collector import __version__
from collector.errors import DeviceUnreachable, ProtocolError

USER_AGENT = f"energy-collector/{__version__}"
JSON = "application/json"

# why a connection failed, in one line, from the URL and httpx's error (a kind's own hints)
Explain = Callable[[str, httpx.ConnectError], str]


def device_tls(ca_file: Path | None) -> ssl.SSLContext | bool:
    """What httpx's `verify` gets for a device: without a CA file the connection is encrypted
    but the certificate is not checked (a self-signed one cannot be); with one, the chain is
    checked against it. Not the name: devices issue their certificates to a fixed name
    ("senecGuiSelf") or to an address they no longer have."""
    if ca_file is None:
        return False
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False
    return context


def tls_note(url: str, ca_file: Path | None, variable: str) -> str:
    """How the connection to a device is secured, for the start banner."""
    if not url.startswith("https://"):
        return ""
    if ca_file is not None:
        return f", certificate checked against {variable}"
    return ", certificate not verified (self-signed)"


def new_client(
    timeout: float,
    *,
    base_url: str = "",
    verify: ssl.SSLContext | bool = True,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client with the collector's User-Agent (JSON accepted unless `headers` say otherwise)
    that follows no redirects: a redirect is an answer a kind decides about."""
    return httpx.AsyncClient(
        base_url=base_url,
        verify=verify,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": USER_AGENT, "Accept": JSON, **(headers or {})},
        transport=transport,
        follow_redirects=False,
    )


def device_client(
    url: str,
    ca_file: Path | None,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """A client for a device's web API at `url` (its certificate as `device_tls` says)."""
    return new_client(timeout, base_url=url, verify=device_tls(ca_file), transport=transport)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    deadline: float,
    what: str = "",
    explain: Explain | None = None,
    **request: Any,
) -> httpx.Response:
    """One request, answered within `deadline` seconds in all, or a SourceError: no answer in
    time or no connection (DeviceUnreachable), an answer broken off (ProtocolError). `what`
    opens the error's line ("SENEC login, the login page"); `explain` words a failed
    connection (a TLS hint of the kind)."""
    prefix = f"{what}: " if what else ""
    try:
        async with asyncio.timeout(deadline):
            return await client.request(method, url, **request)
    except (TimeoutError, httpx.TimeoutException):
        problem = f"no answer from {_where(client, url)} within {deadline:g} s"
    except httpx.ConnectError as exc:
        if explain is not None:
            problem = explain(_where(client, url), exc)
        else:
            problem = f"cannot connect to {_where(client, url)}: {_text(exc)}"
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise ProtocolError(
            f"{prefix}{_where(client, url)} broke off its answer: {_text(exc)}"
        ) from None
    except httpx.HTTPError as exc:
        problem = f"request to {_where(client, url)} failed: {_text(exc)}"
    raise DeviceUnreachable(prefix + problem)


def _where(client: httpx.AsyncClient, url: str) -> str:
    """The whole URL of a request, for its error (made only then: it costs a URL parse)."""
    return str(client.base_url.join(url))


def json_of(response: httpx.Response, where: str) -> Any:
    """The answer's JSON; a ProtocolError when it is none."""
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(f"{where} answered no JSON ({len(response.content)} bytes)") from None


def retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After in seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3).
    None when absent or unreadable; a date in the past is 0."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:  # RFC 9110: HTTP dates are GMT
            return None
        return max(0.0, moment.timestamp() - now())
    if seconds != seconds or seconds < 0:  # NaN, or negative
        return None
    return seconds


def _text(exc: Exception) -> str:
    """httpx's words for an error; where it has none (a read that failed), the system's."""
    if str(exc):
        return str(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionResetError):
            return "the connection was reset (TCP RST)"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__
