"""SMA Energy Meters heard on UDP: one socket per port, one reading per interval and meter.

A pushed kind (see collector.sources): the meters send, the instance listens. Instances on the
same port share one socket (`MeterSocket`), which decodes each datagram once, drops what is no meter
reading (each reason counted, the first of each logged) and the same datagram heard twice, and
hands the rest to every instance; an instance keeps the meters it wants and averages them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from collector.logging import get_logger
from collector.reading import Aggregation, FieldValue, Reading
from collector.sources import Emit, InstanceStatus
from collector.sources.sma_common.meter_socket import meter_socket
from collector.sources.sma_em.codec import (
    CURRENT,
    EXPORT,
    FREQUENCY,
    IMPORT,
    POWER_FACTOR,
    VOLTAGE,
    Drop,
    Dropped,
    MeterDatagram,
    decode_datagram,
    model_of,
    phase,
)
from collector.sources.sma_em.fields import FIELDS, PHASES
from collector.sources.sma_em.settings import SmaEmSettings
from collector.values import round1, round_int

SILENCE_HINT = (
    "the meter sends to the multicast group 239.12.255.254:9522 (or, with direct meter "
    "communication, to this machine's address): the collector must be in the meter's subnet, "
    "managed switches must not swallow multicast (IGMP snooping), and in Docker use "
    "network_mode: host or the meter's unicast to the host with 9522/udp published"
)
UNKNOWN_MODEL = "a SUSyID not known yet: read as a meter all the same"
RECENT = 256  # datagrams remembered to recognise one heard twice

# field -> the OBIS measurand it is read from, and the rounding of its value
MEASURANDS: dict[str, tuple[int, Callable[[float], FieldValue]]] = {
    "grid_power_plus": (IMPORT, round_int),
    "grid_power_minus": (EXPORT, round_int),
    **{f"grid_power_plus_l{n}": (phase(IMPORT, n), round_int) for n in PHASES},
    **{f"grid_power_minus_l{n}": (phase(EXPORT, n), round_int) for n in PHASES},
    **{f"grid_voltage_l{n}": (phase(VOLTAGE, n), round1) for n in PHASES},
    **{f"grid_current_l{n}": (phase(CURRENT, n), lambda v: round(v, 3)) for n in PHASES},
    "grid_power_factor": (POWER_FACTOR, lambda v: round(v, 3)),
    "grid_frequency": (FREQUENCY, lambda v: round(v, 3)),
    "grid_energy_plus": (IMPORT, round_int),
    "grid_energy_minus": (EXPORT, round_int),
}
# How an interval's datagrams become one value is the catalogue's word (FieldSpec.aggregate):
# a gauge is averaged over the interval (its actual value), a counter is its last value.
MEANS = {
    name: how for name, how in MEASURANDS.items() if FIELDS[name].aggregate is Aggregation.MEAN
}
COUNTERS = {
    name: how for name, how in MEASURANDS.items() if FIELDS[name].aggregate is Aggregation.LAST
}


class Window:
    """One meter's datagrams of the running interval."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.latest: dict[str, float] = {}
        self.samples = 0

    def add(self, datagram: MeterDatagram) -> None:
        self.samples += 1
        for name, (index, _) in MEANS.items():
            value = datagram.value(index)
            if value is not None:
                self.sums[name] = self.sums.get(name, 0.0) + value
                self.counts[name] = self.counts.get(name, 0) + 1
        for name, (index, _) in COUNTERS.items():
            energy = datagram.energy(index)
            if energy is not None:
                self.latest[name] = energy

    def fields(self) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {}
        for name, (_, rounding) in MEANS.items():
            if name in self.counts:
                fields[name] = rounding(self.sums[name] / self.counts[name])
        for name, energy in self.latest.items():
            fields[name] = COUNTERS[name][1](energy)
        fields["samples"] = self.samples
        return fields


class MeterSocket:
    """One UDP socket (per port) shared by the instances listening on it."""

    def __init__(self, settings: SmaEmSettings) -> None:
        self.port = settings.port
        self.group = settings.group
        self.interface = settings.interface
        self.listeners: list[MeterSource] = []
        self.drops: dict[Drop, int] = {}
        self._recent: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._transport: asyncio.DatagramTransport | None = None
        self.ready = asyncio.Event()  # set once the socket listens
        self._opening = asyncio.Lock()
        self._log = get_logger(source="sma-em")

    async def open(self, listener: MeterSource) -> None:
        """Listen for `listener`; the first to come opens the socket, and instances that come
        while it is being opened wait for it (one socket per port, whatever the timing)."""
        async with self._opening:
            if self._transport is None:
                loop = asyncio.get_running_loop()
                sock = meter_socket(self.port, self.group, self.interface, self._log)
                try:
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _Protocol(self), sock=sock
                    )
                except BaseException:
                    sock.close()
                    raise
                self._transport = transport
                self.ready.set()
            if listener not in self.listeners:
                self.listeners.append(listener)

    def close(self, listener: MeterSource) -> None:
        """`listener` no longer listens; the last one closes the socket."""
        if listener in self.listeners:
            self.listeners.remove(listener)
        if not self.listeners and self._transport is not None:
            self._transport.close()
            self._transport = None
            self.ready.clear()

    def received(self, data: bytes) -> None:
        try:
            datagram = decode_datagram(data)
            key = (datagram.serial, datagram.ticker_ms)
            if key in self._recent:
                raise Dropped(Drop.DUPLICATE, f"meter {datagram.serial}")
        except Dropped as exc:
            self._drop(exc)
            return
        except Exception as exc:  # never raise on a datagram: count it as malformed
            self._drop(Dropped(Drop.MALFORMED, f"{type(exc).__name__}: {exc}"))
            return
        self._recent[key] = None
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        for listener in self.listeners:
            listener.offer(datagram)

    def _drop(self, exc: Dropped) -> None:
        count = self.drops.get(exc.reason, 0) + 1
        self.drops[exc.reason] = count
        if count == 1:
            self._log.info(
                "datagram dropped",
                reason=str(exc),
                note="counted; further ones of this kind are not logged",
            )


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, hub: MeterSocket) -> None:
        self.hub = hub

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.hub.received(data)


class MeterSource:
    """An Instance: the meters it wants, averaged per interval, one reading per meter."""

    def __init__(self, name: str, settings: SmaEmSettings, hub: MeterSocket) -> None:
        self.name = name
        self.device = ""
        self.settings = settings
        self.hub = hub
        self.status = InstanceStatus()
        self.wanted = settings.serials
        self.windows: dict[int, Window] = {}
        self.heard: dict[int, MeterDatagram] = {}  # meter serial -> its first datagram
        self.silent_since: dict[int, float] = {}
        self.counters: dict[tuple[int, str], int] = {}  # (meter, field) -> last written value
        self._backwards: set[tuple[int, str]] = set()
        self._log = get_logger(source=name)
        self.wall: Callable[[], float] = time.time  # the wall clock, for the readings' time

    @property
    def interval(self) -> float:
        return self.settings.interval

    def banner(self) -> dict[str, Any]:
        where = "unicast only" if self.settings.group == "none" else self.settings.group
        meters = ", ".join(str(serial) for serial in sorted(self.wanted)) or "every meter heard"
        return {
            "device": f"SMA Energy Meter on udp port {self.settings.port} ({where}): {meters}",
            "interval_s": self.interval,
        }

    def offer(self, datagram: MeterDatagram) -> None:
        serial = datagram.serial
        if self.wanted and serial not in self.wanted:
            return
        if serial not in self.heard:
            self.heard[serial] = datagram
            model = model_of(datagram.susy)
            self._log.info(
                "meter heard",
                serial=serial,
                model=model or "unknown",
                susy=datagram.susy,
                version=datagram.version,
                **({} if model else {"note": UNKNOWN_MODEL}),
            )
        self.windows.setdefault(serial, Window()).add(datagram)

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        try:
            await self.hub.open(self)
        except OSError as exc:  # the port taken without SO_REUSEPORT, no permission
            self.status.stopped = (
                f"cannot listen on UDP port {self.settings.port}: {exc.strerror or exc}"
            )
            self._log.error("source stopped", error=self.status.stopped)
            self.status.changed()
            return
        try:
            # Windows are waited for on the monotonic clock (a step of the wall clock, an NTP
            # correction on a Pi without a real-time clock, neither stalls nor hurries them);
            # each is labelled with the wall clock's interval boundary it closes at. The first
            # window is a whole interval at least (see collector.sources).
            interval = self.interval
            wall = self.wall()
            deadline = time.monotonic() + (math.floor(wall / interval) + 2) * interval - wall
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, deadline - time.monotonic()))
                if stop.is_set():
                    return
                windows, self.windows = self.windows, {}
                self._close_window(windows, round(self.wall() / interval) * interval, emit)
                deadline += interval
                if deadline <= time.monotonic():  # the loop was held up: skip, not catch up
                    deadline = time.monotonic() + interval
        finally:
            self.hub.close(self)

    def _close_window(self, windows: dict[int, Window], end: float, emit: Emit) -> None:
        moment = datetime.fromtimestamp(int(end), UTC)
        expected = self.wanted or set(self.heard) or {0}  # {0}: no meter heard yet at all
        for serial in sorted(expected):
            window = windows.get(serial)
            if window is None or window.samples == 0:
                self._silent(serial, end)
                continue
            self._back(serial, end)
            fields = window.fields()
            self._check_counters(serial, fields)
            tags = {"serial": str(serial)}  # always: a series keeps its tags (sma_common)
            reading = Reading(moment, self.settings.measurement, fields, tags)
            emit(reading, functools.partial(self._collected, reading))

    def _check_counters(self, serial: int, fields: dict[str, FieldValue]) -> None:
        """A counter that is 0 or smaller than the last one written is left out (logged once)."""
        for name in COUNTERS:
            value = fields.get(name)
            if value is None:
                continue
            last = self.counters.get((serial, name))
            if not isinstance(value, int) or value <= 0 or (last is not None and value < last):
                del fields[name]
                if (serial, name) not in self._backwards:
                    self._backwards.add((serial, name))
                    self._log.warning(
                        "meter counter went backwards",
                        serial=serial,
                        field=name,
                        value=value,
                        last=last,
                        note="left out until it passes the last value written",
                    )
                continue
            self.counters[(serial, name)] = value
            self._backwards.discard((serial, name))

    def _silent(self, serial: int, end: float) -> None:
        self.status.failed_polls += 1
        who = "no SMA Energy Meter" if serial == 0 else f"meter {serial}"
        self.status.last_error = f"{who} heard in the last {self.interval:g} s"
        if serial not in self.silent_since:
            self.silent_since[serial] = end
            self._log.warning(
                "meter silent",
                serial=serial or None,
                interval_s=self.interval,
                hint=SILENCE_HINT,
            )
        self.status.changed()

    def _back(self, serial: int, end: float) -> None:
        since = self.silent_since.pop(serial, None)
        self.silent_since.pop(0, None)
        if since is not None and serial != 0:
            self._log.info("meter heard again", serial=serial, after_s=round(end - since))

    def _collected(self, reading: Reading, on_disk: bool) -> None:
        fields = reading.fields
        summary: dict[str, Any] = {"time": reading.time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        summary.update(reading.tags)
        plus, minus = fields.get("grid_power_plus"), fields.get("grid_power_minus")
        if isinstance(plus, int) and isinstance(minus, int):
            summary["grid_w"] = plus - minus
        summary["samples"] = fields.get("samples")
        self.status.collected(self._log, summary, on_disk)

    async def aclose(self) -> None:
        pass
