"""One SMA inverter through WebConnect: a Poller (see collector.sources).

At the first poll of a session-less start: a login, then once `getAllOnlValues.json` to learn
which of the keys we map this device has, and its serial, type and software in one
`getValues.json`. Every poll after that is one `getValues.json` with those keys, in the same
session. At night an inverter keeps answering with `null` values: fields left out, except the
AC power, which is 0 W while the device answers (as for Speedwire).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from collector.errors import DeviceUnreachable, ProtocolError
from collector.http import tls_note
from collector.logging import get_logger
from collector.reading import FieldValue, Reading
from collector.sources.sma_common import InverterSilent, SerialTag, reading_summary
from collector.sources.sma_common.records import version_text
from collector.sources.sma_common.registers import DEVICE_CLASSES, REGISTERS
from collector.sources.sma_webconnect.client import WebConnectClient
from collector.sources.sma_webconnect.codec import (
    EXTRA,
    LOG_GRID_DAILY,
    LOG_YIELD_5MIN,
    ErrorAnswer,
    ReplyError,
    entries_of,
    fields_from,
    log_records,
    lri_of,
    tag_of,
    values_of,
)
from collector.sources.sma_webconnect.settings import SmaWebConnectSettings

AC_POWER = 0x00263F00
# The device's serial number, class, type and software version (parameters, read once).
SERIAL, CLASS, TYPE, VERSION = "6800_00A21E00", "6800_08821F00", "6800_08822000", "6800_00823400"


class SmaWebConnectSource:
    """A Poller: one inverter, one session; and its 5-minute yield log, a DeviceLog
    (collector.backfill): `energy_total` at each step, written into the live series."""

    log_step = 300.0
    log_span = 86400.0
    log_covers = 0.0  # the counter at that moment
    log_settle = 0.0

    def __init__(
        self,
        settings: SmaWebConnectSettings,
        name: str = "sma-webconnect",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.interval = settings.interval
        self.timeout = settings.effective_timeout
        self._serial = SerialTag(name)
        self.client = WebConnectClient(
            settings.url,
            settings.password.get_secret_value(),
            settings.right,
            timeout=self.timeout,
            ca_file=settings.ca_file,
            name=name,
            transport=transport,
        )
        self.keys: list[str] | None = None  # learned at the first session
        self.serial: str | None = None
        self._metered = False
        self._log = get_logger(source=name)

    def describe(self) -> str:
        tls = tls_note(self.settings.url, self.settings.ca_file, "SMA_WEBCONNECT_CA_FILE")
        return f"SMA inverter at {self.settings.url} (WebConnect, {self.settings.user_group}{tls})"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def poll(self) -> Reading:
        now = datetime.fromtimestamp(int(time.time()), UTC)
        started = time.monotonic()
        try:
            if self.keys is None:
                await self._learn()
            assert self.keys is not None
            reply = await self.client.read("getValues.json", {"destDev": [], "keys": self.keys})
        except DeviceUnreachable as exc:
            if exc.asleep:
                raise
            raise InverterSilent(f"{exc} (asleep for the night, or unreachable)") from None
        fields = fields_from(await self._entries(reply, "getValues.json"))
        self._metered = "grid_energy_plus" in fields  # its meter's log is asked too
        if "ac_power" not in fields:
            raise ProtocolError("the inverter's answer has no AC power")
        fields["response_duration"] = round((time.monotonic() - started) * 1000)
        return Reading(now, self.settings.measurement, fields, self._serial.tags(self.serial))

    async def _learn(self) -> None:
        """Which of our keys this inverter has, and what it is (once; its log line)."""
        everything = await self.client.read("getAllOnlValues.json", {"destDev": []})
        entries = await self._entries(everything, "getAllOnlValues.json")
        keys = sorted(key for key in entries if lri_of(key) in REGISTERS or lri_of(key) in EXTRA)
        if not any(lri_of(key) == AC_POWER for key in keys):
            raise ProtocolError(
                f"the device at {self.settings.url} lists no AC power among its "
                f"{len(entries)} values: not an inverter?"
            )
        info = await self.client.read(
            "getValues.json", {"destDev": [], "keys": [SERIAL, CLASS, TYPE, VERSION]}
        )
        try:
            details = entries_of(info)
        except (ErrorAnswer, ReplyError):
            details = {}  # not needed to read values: said as unknown
        serial, device_class, device_type, version = (
            _first(details.get(key)) for key in (SERIAL, CLASS, TYPE, VERSION)
        )
        self.serial = str(serial) if isinstance(serial, int) else None
        self._log.info(
            "inverter",
            serial=self.serial or "unknown",
            device_class=DEVICE_CLASSES.get(tag_of(device_class) or 0, "unknown"),
            type=tag_of(device_type),
            software=version_text(version) if isinstance(version, int) else None,
            keys=len(keys),
        )
        self.keys = keys

    async def _entries(self, reply: Any, call: str) -> dict[str, Any]:
        try:
            return entries_of(reply)
        except ErrorAnswer as exc:
            await self.client.give_up()  # as pysma: any error ends the session
            raise ProtocolError(
                f"the inverter answered {call} with err {exc.code}; session closed, a new one "
                "at the next poll"
            ) from None
        except ReplyError as exc:
            raise ProtocolError(f"{call}: {exc}") from None

    def summary(self, reading: Reading) -> dict[str, Any]:
        return reading_summary(reading)

    def describe_log(self) -> str:
        return f"5-minute yield (WebConnect getLogger.json, key {LOG_YIELD_5MIN})"

    async def read_log(
        self, series: Mapping[str, str], start: datetime, end: datetime
    ) -> list[Reading]:
        """The 5-minute yield as `energy_total`; with an energy meter also its daily counters
        as `grid_energy_minus` (feed-in) and `grid_energy_plus` (draw), one reading per time."""
        keys = {LOG_YIELD_5MIN: "energy_total"}
        if self._metered:
            keys.update(LOG_GRID_DAILY)
        by_time: dict[int, dict[str, FieldValue]] = {}
        for key, field in keys.items():
            for stamp, wh in await self._log_of(key, start, end):
                by_time.setdefault(stamp, {})[field] = wh
        measurement, tags = self.settings.measurement, dict(series)
        return [
            Reading(datetime.fromtimestamp(stamp, UTC), measurement, fields, tags)
            for stamp, fields in sorted(by_time.items())
        ]

    async def _log_of(self, key: int, start: datetime, end: datetime) -> list[tuple[int, int]]:
        body = {
            "destDev": [],
            "key": key,
            "tStart": int(start.timestamp()),
            "tEnd": int(end.timestamp()) - 1,
        }
        reply = await self.client.read("getLogger.json", body)
        try:
            return log_records(reply)
        except ErrorAnswer as exc:
            raise ProtocolError(
                f"the inverter answered getLogger.json (key {key}) with err {exc.code}"
            ) from None
        except ReplyError as exc:
            raise ProtocolError(f"getLogger.json (key {key}): {exc}") from None


def _first(entry: Any) -> Any:
    values = values_of(entry) if entry is not None else []
    return values[0] if values else None
