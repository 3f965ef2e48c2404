"""The `sma` source: one SMA inverter over Speedwire, one reading per poll.

The session is kept: one login, then every poll sends all queries at once (pipelined) and waits
for their answers. A device that answers only some of them (it takes one request at a time) is
asked one query after another from then on. Error 0x0017 (session gone) means one new login
and the failed queries again. A wrong password (0x0100) stops this source for good, with one
clear line (SMA devices may lock after repeated wrong passwords). Fields the model lacks (error
21) are simply absent, and asked for again at every poll, so that values that appear only by day
are written when they appear.

At night an inverter either stops answering (one line, then the poll loop's back-off) or answers
with "not a number" and status Off: then it is reported once as asleep and polled every
NIGHT_INTERVAL seconds until it is awake again. Counters are never written as 0 or as a sentinel.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from collector.errors import DeviceUnreachable, ProtocolError, SourceError
from collector.logging import get_logger
from collector.reading import FieldValue, Reading
from collector.settings import format_address
from collector.sources.sma import codec
from collector.sources.sma.client import SessionLost, SpeedwireClient
from collector.sources.sma.settings import SmaSettings
from collector.sources.sma_common import InverterSilent, SerialTag, reading_summary
from collector.sources.sma_common.fields import MAX_STRINGS, add_derived
from collector.sources.sma_common.frame import Address, SpeedwireError
from collector.sources.sma_common.records import Record
from collector.sources.sma_common.registers import (
    QUERIES,
    REGISTERS,
    STATUS_OK,
    RegisterRole,
    field_value,
    status_name,
)

NIGHT_INTERVAL = 60.0
STATUS_OFF = 303


def fields_from(
    records: list[Record], problems: dict[str, str] | None = None
) -> dict[str, FieldValue]:
    """Records of any queries → fields, by register and channel (never by position). A record
    that cannot be read (a size its type does not have) costs its field only: the field is
    left out and the reason put in `problems` by field name."""
    fields: dict[str, FieldValue] = {}
    for record in records:
        register = REGISTERS.get(record.lri)
        if register is None:
            continue
        name = register.field
        if register.channelled:
            if not 1 <= record.channel <= MAX_STRINGS:
                continue
            name = name.format(n=record.channel)
        try:
            if register.role is RegisterRole.STATUS:
                code = record.status()
                if code is not None:
                    fields[name] = status_name(code)
                    fields[f"{name}_code"] = code
                    fields[f"{name}_ok"] = code in STATUS_OK[name]
                continue
            value = field_value(register.role, record.number(), register.divisor)
        except SpeedwireError as exc:
            if problems is not None:
                problems[name] = str(exc)
            continue
        if value is not None:
            fields[name] = value
    add_derived(fields)
    return fields


class SmaSource:
    """A Poller (see collector.sources): one inverter; and its 5-minute yield log, a DeviceLog
    (collector.backfill): `energy_total` at each step, written into the live series. Where the
    5-minute log has nothing (older than it reaches), the daily log's records."""

    log_step = 300.0
    log_span = 86400.0  # a day of records (288, in several fragments) per request
    log_covers = 0.0  # the counter at that moment
    log_settle = 0.0

    def __init__(
        self,
        target: tuple[str, int],
        password: str,
        group: int,
        *,
        interval: float = 5.0,
        timeout: float = 1.0,
        measurement: str = "SMA",
        name: str = "sma",
    ) -> None:
        self.target = target
        self.day_interval = interval
        self.timeout = timeout  # per attempt; each request is tried three times
        self._password = password
        self._group = group
        self._measurement = measurement
        self._serial = SerialTag(name)
        self._client: SpeedwireClient | None = None
        self._device: Address | None = None
        self._asleep = False
        self._unreadable: set[str] = set()  # fields whose record could not be read, said once
        self._pipelined = True  # a cycle's queries all at once, until the device shows it cannot
        context = {"source": name, "device": format_address(*target)}
        self._log = get_logger(**context)

    @property
    def interval(self) -> float:
        """The configured interval; at least NIGHT_INTERVAL while the inverter sleeps."""
        return max(self.day_interval, NIGHT_INTERVAL) if self._asleep else self.day_interval

    def describe(self) -> str:
        return f"SMA inverter at {format_address(*self.target)} (Speedwire)"

    async def _session(self) -> tuple[SpeedwireClient, Address]:
        if self._client is None:
            retries = SmaSettings.attempts - 1
            self._client = SpeedwireClient(timeout=self.timeout, retries=retries)
            await self._client.open()
        if self._device is None:
            self._device = await self._client.login(self.target, self._password, self._group)
        return self._client, self._device

    async def poll(self) -> Reading:
        started = time.monotonic()
        now = datetime.fromtimestamp(int(time.time()), UTC)
        try:
            client, device = await self._session()
        except DeviceUnreachable as exc:
            raise self._silent(exc) from None
        results = await client.query_all(
            self.target, device, list(QUERIES), pipelined=self._pipelined
        )
        unanswered = [q for q in QUERIES if isinstance(results[q.name], DeviceUnreachable)]
        if self._pipelined and 0 < len(unanswered) < len(QUERIES):
            # Some answers came, some not: this device takes one query at a time.
            self._pipelined = False
            self._log.info(
                "inverter takes one query at a time",
                unanswered=len(unanswered),
                of=len(QUERIES),
                note="queries are sent one after another from now on",
            )
            results.update(await client.query_all(self.target, device, unanswered, pipelined=False))
        if any(isinstance(result, SessionLost) for result in results.values()):
            self._device = None
            client, device = await self._session()
            again = [q for q in QUERIES if isinstance(results[q.name], SessionLost)]
            results.update(await client.query_all(self.target, device, again))
        records: list[Record] = []
        problems: list[SourceError] = []
        for result in results.values():
            if isinstance(result, list):
                records.extend(result)
            elif isinstance(result, SourceError):
                problems.append(result)
            else:
                raise result
        if len(problems) == len(QUERIES):
            self._device = None  # log in afresh when it answers again
            if all(isinstance(problem, DeviceUnreachable) for problem in problems):
                raise self._silent(problems[0])
            raise problems[0]
        unreadable: dict[str, str] = {}
        fields = fields_from(records, unreadable)
        self._report(unreadable)
        if "ac_power" not in fields:
            raise ProtocolError(
                f"{self.target[0]} sent no AC power (the one value every SMA inverter has)"
            )
        fields["response_duration"] = round((time.monotonic() - started) * 1000)
        self._night(records, fields)
        return Reading(now, self._measurement, fields, self._serial.tags(device.serial))

    def _report(self, problems: dict[str, str]) -> None:
        """A field whose record could not be read: said once per field, left out."""
        for name, problem in problems.items():
            if name not in self._unreadable:
                self._unreadable.add(name)
                self._log.warning(
                    "record unreadable",
                    field=name,
                    error=problem,
                    note="the field is left out while its record cannot be read (said once)",
                )

    def _silent(self, cause: SourceError) -> InverterSilent:
        return InverterSilent(f"{cause} (asleep for the night, or unreachable)")

    def _night(self, records: list[Record], fields: dict[str, FieldValue]) -> None:
        ac = next((r for r in records if r.lri == 0x00263F00), None)
        try:
            ac_nan = ac is not None and ac.number() is None
        except SpeedwireError:
            ac_nan = False
        asleep = fields.get("device_status_code") == STATUS_OFF or ac_nan
        if asleep and not self._asleep:
            self._log.info(
                "inverter asleep",
                status=fields.get("device_status"),
                note=f"polled every {NIGHT_INTERVAL:g} s until it produces again",
            )
        elif not asleep and self._asleep:
            self._log.info("inverter awake", ac_w=fields.get("ac_power"))
        self._asleep = asleep

    def summary(self, reading: Reading) -> dict[str, Any]:
        return reading_summary(reading)

    def describe_log(self) -> str:
        return "5-minute yield (Speedwire archive 0x70000200)"

    async def _yield_log(self, command: int, first: int, last: int) -> list[codec.YieldRecord]:
        """One yield log's records, logging in again once when the session is gone."""
        client, device = await self._session()
        try:
            return await client.yield_log(self.target, device, command, first, last)
        except SessionLost:
            self._device = None
            client, device = await self._session()
            return await client.yield_log(self.target, device, command, first, last)

    async def read_log(
        self, series: Mapping[str, str], start: datetime, end: datetime
    ) -> list[Reading]:
        first, last = int(start.timestamp()), int(end.timestamp()) - 1
        records = await self._yield_log(codec.CMD_YIELD_5MIN, first, last)
        if not records:  # older than the 5-minute log reaches: the daily log, if it has them
            records = await self._yield_log(codec.CMD_YIELD_DAILY, first, last)
        return [
            Reading(
                datetime.fromtimestamp(record.time, UTC),
                self._measurement,
                {"energy_total": record.wh},
                dict(series),
            )
            for record in records
            if record.wh is not None
        ]

    async def aclose(self) -> None:
        if self._client is not None:
            if self._device is not None:
                self._client.logoff(self.target)
            self._client.close()
            self._client = None
        self._device = None
