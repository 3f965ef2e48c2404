"""One SMA ennexOS device through its web API: a Poller (see collector.sources).

At the first poll the device's description (product, serial, firmware) is read once for its log
line and the serial tag; every poll is then one `POST /api/v1/measurements/live` for the device
itself (`IGULD:SELF`), its channels mapped by id to the Speedwire kind's fields.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from collector.errors import DeviceUnreachable, ProtocolError
from collector.house_fields import ENERGY_SUFFIX
from collector.http import tls_note
from collector.logging import get_logger
from collector.reading import Reading
from collector.sources.sma_common import InverterSilent, SerialTag, reading_summary
from collector.sources.sma_ennexos.client import EnnexosClient
from collector.sources.sma_ennexos.codec import (
    LOG_STEP,
    LOGGED_COUNTERS,
    SELF,
    AnswerError,
    channels_of,
    fields_from,
    interval_energies,
    search_body,
)
from collector.sources.sma_ennexos.settings import SmaEnnexosSettings

LIVE = "/api/v1/measurements/live"
SEARCH = "/api/v1/measurements/search"
DEVICE = f"/api/v1/plants/Plant:1/devices/{SELF}"


class SmaEnnexosSource:
    """A Poller: one ennexOS device. And a DeviceLog (collector.backfill): its 15-minute energies
    (PV, and the grid's where it has a meter), written to `<measurement>_ENERGY`, one point per
    interval at its start. They are differences, not counter readings: a counter made from them
    would need an exact reading on the log's grid to start from, which no live poll gives."""

    log_step = float(LOG_STEP)
    log_span = 86400.0  # a day of intervals (96 for each channel) per request
    log_covers = float(LOG_STEP)
    log_settle = 0.0  # the device answers only intervals that are over

    def __init__(
        self,
        settings: SmaEnnexosSettings,
        name: str = "sma-ennexos",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.interval = settings.interval
        self.timeout = settings.effective_timeout
        self._serial = SerialTag(name)
        self.client = EnnexosClient(
            settings.url,
            settings.username,
            settings.password.get_secret_value(),
            timeout=self.timeout,
            ca_file=settings.ca_file,
            name=name,
            transport=transport,
        )
        self.serial: str | None = None
        self._metered = False  # the live answer has the grid's counters: their log is asked too
        self._described = False
        self._log = get_logger(source=name)

    def describe(self) -> str:
        tls = tls_note(self.settings.url, self.settings.ca_file, "SMA_ENNEXOS_CA_FILE")
        return f"SMA ennexOS device at {self.settings.url} (user {self.settings.username}{tls})"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def poll(self) -> Reading:
        now = datetime.fromtimestamp(int(time.time()), UTC)
        started = time.monotonic()
        try:
            if not self._described:
                await self._describe()
            answer = await self.client.call("POST", LIVE, [{"componentId": SELF}])
        except DeviceUnreachable as exc:
            raise InverterSilent(f"{exc} (asleep for the night, or unreachable)") from None
        try:
            channels = channels_of(answer)
        except AnswerError as exc:
            raise ProtocolError(f"{LIVE}: {exc}") from None
        fields = fields_from(channels)
        if "ac_power" not in fields:
            raise ProtocolError(
                f"the device's {len(channels)} live channels have no AC power "
                "(Measurement.GridMs.TotW): not an inverter?"
            )
        fields["response_duration"] = round((time.monotonic() - started) * 1000)
        self._metered = "grid_energy_plus" in fields
        return Reading(now, self.settings.measurement, fields, self._serial.tags(self.serial))

    def describe_log(self) -> str:
        return "15-minute energies (ennexOS measurements/search, Dif)"

    async def read_log(
        self, series: Mapping[str, str], start: datetime, end: datetime
    ) -> list[Reading]:
        channels = [
            channel
            for channel, field in LOGGED_COUNTERS.items()
            if field == "inverter_energy" or self._metered
        ]
        body = search_body(channels, _iso(start), _iso(end))
        answer = await self.client.call("POST", SEARCH, body)
        try:
            intervals = interval_energies(answer)
        except AnswerError as exc:
            raise ProtocolError(f"{SEARCH}: {exc}") from None
        measurement = f"{self.settings.measurement}{ENERGY_SUFFIX}"
        tags = dict(series)
        return [
            Reading(datetime.fromtimestamp(begin, UTC), measurement, energies, tags)
            for begin, energies in sorted(intervals.items())
        ]

    async def _describe(self) -> None:
        try:
            info = await self.client.call("GET", DEVICE)
        except ProtocolError as exc:  # not needed for the values: said, and read without it
            if exc.permanent:
                raise
            self._log.warning("ennexos device description unreadable", error=str(exc))
            info = {}
        info = info if isinstance(info, dict) else {}
        serial = info.get("serial")
        self.serial = str(serial) if isinstance(serial, str | int) and str(serial) else None
        self._log.info(
            "inverter",
            product=info.get("product", "unknown"),
            serial=self.serial or "unknown",
            software=info.get("firmwareVersion"),
            product_tag=info.get("productTagId"),
        )
        self._described = True

    def summary(self, reading: Reading) -> dict[str, Any]:
        return reading_summary(reading)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
