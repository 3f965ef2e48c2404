"""SenecLocalSource: one POST to lala.cgi per poll, decoded into a Reading.

One request in flight per device (the poll loop awaits each poll), a total deadline shorter than
the interval, TLS without verification by default (the device's certificate is self-signed) or
verified against SENEC_CA_FILE.
"""

from __future__ import annotations

import functools
import ssl
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from collector import http
from collector.errors import AuthError, DeviceUnreachable, ProtocolError
from collector.logging import get_logger
from collector.reading import Reading
from collector.sources.senec.codec import encode_request
from collector.sources.senec.normalise import (
    MAPPING,
    FieldPlan,
    compute_fields,
    device_time,
    request_sections,
    state_code_of,
    wanted_keys,
)
from collector.sources.senec.settings import SenecSettings
from collector.sources.senec.shape import KeyPlan, decode_body
from collector.sources.senec.states import (
    LANGUAGE_FILES,
    StateNames,
    StateTableNotFound,
    parse_language_file,
)
from collector.sources.senec_common import headline

# The device's own web UI sends its JSON this way; some firmware is picky about it.
HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
    "Accept": "application/json, text/javascript, */*; q=0.01",
}
STATE_NAMES_REFRESH = 24 * 3600.0  # re-read the device's names daily (new firmware, new states)
STATE_NAMES_RETRY_FIRST = 5.0
STATE_NAMES_RETRY_MAX = 3600.0
UNKNOWN_STATE_RETRY = 600.0  # an unknown code asks for a refresh at most this often


def tls_context(settings: SenecSettings) -> ssl.SSLContext | bool:
    return http.device_tls(settings.ca_file) if settings.scheme == "https" else False


class SenecLocalSource:
    """A Poller (see collector.sources): one SENEC device."""

    def __init__(
        self,
        settings: SenecSettings,
        name: str = "senec",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.interval = settings.interval
        self.timeout = settings.effective_timeout
        self.measurement = settings.measurement
        ignored = set(settings.ignored_fields)
        self.fields = [name for name in MAPPING if name not in ignored]
        keys = wanted_keys(self.fields)
        self._body = encode_request(request_sections(keys))
        self._keys = KeyPlan(keys)  # learns the answer's text: later answers decode in one pass
        self._plan = FieldPlan(self.fields)
        self.states = StateNames(settings.language)
        self._states_due = 0.0  # monotonic time of the next language file read
        self._states_retry = STATE_NAMES_RETRY_FIRST
        self._states_failed = False
        self._unknown_asked = 0.0
        self.problems: dict[str, str] = {}  # variable -> problem currently reported
        self._log = get_logger(source=name)
        self._client = http.new_client(
            self.timeout,
            base_url=settings.base_url,
            verify=tls_context(settings),
            headers=HEADERS,
            transport=transport,
        )
        self._explain = functools.partial(_connect_problem, settings=settings)

    def describe(self) -> str:
        tls = http.tls_note(self.settings.base_url, self.settings.ca_file, "SENEC_CA_FILE")
        ignored = self.settings.ignored_fields
        left_out = f"; not written: {', '.join(ignored)}" if ignored else ""
        return f"SENEC at {self.settings.base_url}{tls}{left_out}"

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- polling -------------------------------------------------------------------------

    async def poll(self) -> Reading:
        poll_time = datetime.now(UTC).replace(microsecond=0)
        started = time.monotonic()
        body = await self._request("POST", "/lala.cgi", self._body)
        duration_ms = round((time.monotonic() - started) * 1000)
        values = decode_body(body, self._keys)

        code = state_code_of(values) if "current_state" in self.fields else None
        unknown = code is not None and not self.states.knows(code)
        if unknown and time.monotonic() - self._unknown_asked >= UNKNOWN_STATE_RETRY:
            self._unknown_asked = time.monotonic()
            self._states_due = 0.0
        if "current_state" in self.fields and time.monotonic() >= self._states_due:
            await self._refresh_states()

        fields = compute_fields(values, self._plan, self.states)
        moment = device_time(values)
        if moment is None:
            moment = poll_time
            if "measure_time" in self.fields:
                fields["measure_time"] = int(poll_time.timestamp())
        if "response_duration" in self.fields:
            fields["response_duration"] = duration_ms
        self._report_problems(values.problems)
        return Reading(time=moment, measurement=self.measurement, fields=fields)

    async def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        url = f"{self.settings.base_url}{path}"
        response = await http.send(
            self._client, method, path, deadline=self.timeout, explain=self._explain, content=body
        )
        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"{url} refused access (HTTP {status})")
        if status >= 500:
            raise DeviceUnreachable(f"{url} answered HTTP {status} (device busy or failing)")
        if status != 200:
            raise ProtocolError(f"{url} answered HTTP {status}")
        return response.content

    # --- state names ---------------------------------------------------------------------

    async def _refresh_states(self) -> None:
        path = LANGUAGE_FILES[self.settings.language]
        try:
            body = await self._request("GET", path)
            names = parse_language_file(body.decode("utf-8", "replace"))
        except (DeviceUnreachable, ProtocolError, AuthError, StateTableNotFound) as exc:
            self._states_due = time.monotonic() + self._states_retry
            if not self._states_failed:
                self._states_failed = True
                self._log.warning(
                    "state names not readable from the device",
                    file=path,
                    error=str(exc),
                    using=f"{self.states.origin} names",
                    retry_in_s=round(self._states_retry),
                )
            self._states_retry = min(self._states_retry * 2, STATE_NAMES_RETRY_MAX)
            return
        self.states.replace(names)
        self._states_due = time.monotonic() + STATE_NAMES_REFRESH
        self._states_retry = STATE_NAMES_RETRY_FIRST
        self._states_failed = False
        self._log.info(
            "state names read from the device",
            file=path,
            names=len(names),
            language=self.settings.language,
        )

    # --- problems --------------------------------------------------------------------------

    def _report_problems(self, problems: dict[str, str]) -> None:
        """Log a variable's problem once, and once more when it is gone."""
        for key, problem in problems.items():
            if self.problems.get(key) != problem:
                self._log.warning(
                    "value unusable, fields from it are left out", variable=key, problem=problem
                )
        for key in set(self.problems) - set(problems):
            self._log.info("value usable again", variable=key)
        self.problems = dict(problems)

    def summary(self, reading: Reading) -> dict[str, Any]:
        """Headline values for the per-reading log line."""
        return headline(reading, len(self.fields))


def _connect_problem(url: str, exc: httpx.ConnectError, settings: SenecSettings) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text or "TLS" in text:
        hint = ""
        if settings.ca_file is not None:
            hint = " (is SENEC_CA_FILE the CA that signed the device's certificate?)"
        elif settings.scheme == "https":
            hint = " (firmware before 0825 speaks plain HTTP: try SENEC_SCHEMA=http)"
        return f"TLS handshake with {url} failed: {text}{hint}"
    if "refused" in text.lower() and settings.scheme == "http":
        return f"cannot connect to {url}: {text} (firmware 0825 and later need SENEC_SCHEMA=https)"
    return f"cannot connect to {url}: {text or type(exc).__name__}"
