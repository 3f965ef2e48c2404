"""A simulated SMA inverter without a protocol: its household, its values, its registers.

What the simulators of the SMA kinds share: the Speedwire simulator answers queries with these
records, WebConnect's names its keys after them, ennexOS's reads the same moment. So the three
simulators tell one story of one inverter. No sockets and no protocol here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from collector.simulators.household import EnergyLog, Household
from collector.sources.sma_common import records
from collector.sources.sma_common.frame import Address
from collector.sources.sma_common.records import Record, record_code
from collector.sources.sma_common.registers import (
    LRI_DEVICE_CLASS,
    LRI_DEVICE_NAME,
    LRI_DEVICE_TYPE,
    LRI_LINE_VOLTAGE,
    LRI_OF,
    LRI_SOFTWARE_VERSION,
    Query,
)

# SMA's status tags and device classes the simulated inverter reports (registers.STATUS_NAMES)
OK, WARNING, FAULT, OFF, CLOSED, OPEN = 307, 455, 35, 303, 51, 311
PV_INVERTER, HYBRID_INVERTER = 8001, 8009


@dataclass
class SmaFaults:
    drop_next: int = 0  # replies to drop (then answer again)
    drop_rate: float = 0.0
    duplicate: bool = False  # every reply twice
    stale: bool = False  # the previous reply sent again before each answer
    delay: float = 0.0  # seconds before a reply goes out
    session_lost_after: int | None = None  # error 0x0017 once this many queries were answered
    unavailable: set[str] = field(default_factory=set)  # query names answered with error 21
    night: str | None = None  # "nan": NaN values, status Off; "silent": no answer at all
    fragments: int = 1  # split record replies into this many packets
    foreign: bool = False  # an Energy Meter datagram and another device's reply first
    busy: float = 0.0  # seconds to answer one request; requests arriving meanwhile are dropped
    odd_records: int = 0  # record replies whose records are all 40 bytes (a status's size)
    log: str | None = None  # log requests: "error" answered with an error, "silent" not at all


@dataclass
class InverterMoment:
    """One moment of the inverter, in SMA's raw units."""

    time: int
    strings: list[tuple[int, int, int]]  # (W, V x 100, A x 1000)
    ac_power: int
    energy_total: int
    energy_today: int
    frequency: int  # Hz x 100
    temperature: int  # °C x 100
    soc: int
    battery: int  # + charging
    bat_voltage: int  # V x 100
    bat_current: int  # A x 1000
    bat_temperature: int  # °C x 10
    grid: int  # + import
    house: int  # W, the house's consumption
    grid_import: int  # Wh, an energy meter's counters
    grid_export: int


LOG_STEP = 300  # seconds between the records of the inverter's yield log
LOG_DAYS = 14  # how far back the simulated log goes from the simulator's start
DAILY_DAYS = 400  # how much further back its daily log goes
_MINUTE = 60


class YieldLog:
    """The inverter's total yield as its log keeps it: the counter (Wh) at every 5-minute step
    from LOG_DAYS before the simulator started. The counter grows by the AC energy of each whole
    minute, from the household's PV power alone, so it is the same whoever asks, in whatever
    order, and the live counter is always the log's value carried on by the minutes since."""

    def __init__(
        self, household: Household, start_wh: int, *, efficiency: float = 0.97, days: int = LOG_DAYS
    ) -> None:
        self.household = household
        self.efficiency = efficiency
        begin = int(household.sim_time()) - days * 86400
        self.origin = begin - begin % LOG_STEP
        self._steps: list[float] = [float(start_wh)]  # Wh at origin + k * LOG_STEP

    def _minute_wh(self, minute_start: int) -> float:
        return self.household.pv_at(minute_start) * self.efficiency * _MINUTE / 3600.0

    def _grow(self, index: int) -> None:
        while len(self._steps) <= index:
            begin = self.origin + (len(self._steps) - 1) * LOG_STEP
            step = sum(self._minute_wh(begin + m * _MINUTE) for m in range(LOG_STEP // _MINUTE))
            self._steps.append(self._steps[-1] + step)

    def at(self, second: int) -> int:
        """The counter at a simulated second (it moves once a minute); the log's first value
        before the log begins."""
        if second <= self.origin:
            return round(self._steps[0])
        index, rest = divmod(second - self.origin, LOG_STEP)
        self._grow(index)
        value = self._steps[index]
        begin = self.origin + index * LOG_STEP
        for m in range(rest // _MINUTE):
            value += self._minute_wh(begin + m * _MINUTE)
        return round(value)

    def records(self, start: int, end: int) -> list[tuple[int, int]]:
        """(time, Wh) of the log's steps with start <= time <= end, up to now."""
        now = int(self.household.sim_time())
        first = max(start, self.origin)
        first += -(first - self.origin) % LOG_STEP
        last = min(end, now)
        return [(t, self.at(t)) for t in range(first, last + 1, LOG_STEP)]

    def daily(self, start: int, end: int) -> list[tuple[int, int]]:
        """(local midnight, Wh) of the days with start <= midnight <= end, up to now: the daily
        log, which reaches DAILY_DAYS back. Within the 5-minute log it is that log's value;
        before, the counter less each day's yield since (summed every quarter of an hour)."""
        offset = self.household.utc_offset_min * 60
        now = int(self.household.sim_time())
        first = start + -(start + offset) % 86400
        oldest = self.origin - DAILY_DAYS * 86400
        return [
            (midnight, self._daily_at(midnight))
            for midnight in range(
                max(first, oldest + -(oldest + offset) % 86400), min(end, now) + 1, 86400
            )
        ]

    def _daily_at(self, midnight: int) -> int:
        if midnight >= self.origin:
            return self.at(midnight)
        quarter = 900
        before = 0.0  # the yield from this midnight to the 5-minute log's start
        for at in range(midnight, self.origin, quarter):
            before += self.household.pv_at(at) * self.efficiency * quarter / 3600.0
        return max(0, round(self._steps[0] - before))


class SimulatedInverter:
    """An SMA inverter's physics and registers (`snapshot`, `records_for`); a protocol's
    simulator answers with them."""

    def __init__(
        self,
        serial: int,
        *,
        susy: int = 378,
        strings: int = 2,
        battery: bool = False,
        meter: bool = False,
        household: Household | None = None,
        peak_w: float = 8000.0,
        model: int = 9345,  # STP5.0-3AV-40
        version: str = "03.10.10.R",
        seed: int = 1,
    ) -> None:
        self.address = Address(susy, serial)
        self.strings = strings
        self.battery = battery
        self.meter = meter
        self.household = household or Household(seed=seed, peak_pv=peak_w)
        self.model = model
        self.version = version
        self.faults = SmaFaults()
        self.yield_log = YieldLog(self.household, 10_000_000 + seed * 123_457)
        # an energy meter's counters: the household's energy log, grown every five minutes
        self.meter_log = EnergyLog(self.household) if meter else None
        self._meter_start = (5_000_000.0 + seed * 1234.0, 3_000_000.0 + seed * 4321.0)

    # --- the household, in SMA units ---------------------------------------------------------

    def snapshot(self, wall: float | None = None) -> InverterMoment:
        home = self.household.snapshot(wall)
        ac = home.pv * 0.97
        local = home.time + home.utc_offset_min * 60
        midnight = home.time - local % 86400
        energy_total = self.yield_log.at(home.time)
        shares = [0.55, 0.45, 0.3, 0.3, 0.2, 0.2][: self.strings]
        total_share = sum(shares)
        strings = []
        for index, share in enumerate(shares):
            power = home.pv * share / total_share
            volts = 0.0 if power < 1 else 420.0 + 60.0 * math.sin(home.time / 900.0 + index)
            amps = power / volts if volts else 0.0
            strings.append((round(power), round(volts * 100), round(amps * 1000)))
        return InverterMoment(
            time=home.time,
            strings=strings,
            ac_power=round(ac),
            energy_total=energy_total,
            energy_today=energy_total - self.yield_log.at(midnight),
            frequency=round(5000 + 3 * math.sin(home.time / 37.0)),
            temperature=round((35.0 + ac / 400.0) * 100),
            soc=round(home.soc),
            battery=round(home.battery),
            bat_voltage=round(home.bat_voltage * 100),
            bat_current=round(home.bat_current * 1000),
            bat_temperature=round((22.0 + abs(home.battery) / 500.0) * 10),
            grid=round(home.grid),
            house=round(home.house),
            grid_import=self.meter_counters(home.time)[0],
            grid_export=self.meter_counters(home.time)[1],
        )

    def meter_counters(self, second: int) -> tuple[int, int]:
        """The energy meter's import and export counters (Wh) at a simulated second (0 without
        a meter)."""
        if self.meter_log is None:
            return 0, 0
        start_import, start_export = self._meter_start
        return (
            round(start_import + self.meter_log.total("grid_import", second)),
            round(start_export + self.meter_log.total("grid_export", second)),
        )

    def records_for(self, query: Query, snap: InverterMoment) -> list[Record]:
        """The records this device has in the query's register range, as it would send them."""
        night = self.faults.night == "nan"
        t = snap.time

        def number(field: str, value: int | None, channel: int = 1, signed: bool = True) -> Record:
            return measure(LRI_OF[field], value, channel, signed)

        def measure(lri: int, value: int | None, channel: int, signed: bool) -> Record:
            code = record_code(records.TYPE_S32 if signed else records.TYPE_U32, lri, channel)
            return records.number_record(code, t, None if night else value, 28)

        def counter(field: str, value: int) -> Record:
            return records.number_record(record_code(records.TYPE_U32, LRI_OF[field]), t, value, 16)

        def status(lri: int, selected: int, options: list[int]) -> Record:
            return records.status_record(
                record_code(records.TYPE_STATUS, lri), t, selected, options
            )

        phase = snap.ac_power // 3
        volts = 23000
        amps = round(phase / 230.0 * 1000)
        charge = max(0, snap.battery)
        discharge = max(0, -snap.battery)
        phases = ("l1", "l2", "l3")
        by_query: dict[str, list[Record]] = {
            "ac_power": [number("ac_power", snap.ac_power)],
            "ac_phase_power": [number(f"ac_power_{p}", phase) for p in phases],
            "ac_voltage_current": [
                *[number(f"ac_voltage_{p}", volts, signed=False) for p in phases],
                # line-to-line voltages, which the source must skip
                *[measure(LRI_LINE_VOLTAGE + i * 0x100, 40000, 1, False) for i in range(3)],
                *[number(f"ac_current_{p}", amps) for p in phases],
            ],
            "grid_frequency": [number("grid_frequency", snap.frequency, signed=False)],
            "dc_power": [number("mpp{n}_power", s[0], n + 1) for n, s in enumerate(snap.strings)],
            "dc_voltage_current": [
                *[number("mpp{n}_voltage", s[1], n + 1) for n, s in enumerate(snap.strings)],
                *[number("mpp{n}_current", s[2], n + 1) for n, s in enumerate(snap.strings)],
            ],
            "energy": [
                counter("energy_total", snap.energy_total),
                counter("energy_today", snap.energy_today),
            ],
            "device_status": [
                status(LRI_OF["device_status"], OFF if night else OK, [OK, FAULT, WARNING, OFF])
            ],
            "grid_relay": [status(LRI_OF["grid_relay"], OPEN if night else CLOSED, [CLOSED, OPEN])],
            "temperature": [number("device_temperature", snap.temperature)],
        }
        if self.battery:
            by_query["battery_charge"] = [number("bat_fuel_charge", snap.soc, signed=False)]
            by_query["battery_info"] = [
                number("bat_temperature", snap.bat_temperature),
                number("bat_voltage", snap.bat_voltage, signed=False),
                number("bat_charge_current", snap.bat_current),
            ]
            by_query["battery_power"] = [
                number("bat_power_plus", charge, signed=False),
                number("bat_power_minus", discharge, signed=False),
            ]
        if self.meter:
            by_query["meter_power"] = [
                number("grid_power_minus", max(0, -snap.grid)),
                number("grid_power_plus", max(0, snap.grid)),
            ]
        if query.name == "type_label":
            device_class = HYBRID_INVERTER if self.battery else PV_INVERTER
            name = record_code(records.TYPE_STRING, LRI_DEVICE_NAME)
            return [
                records.text_record(name, t, f"SN: {self.address.serial}"),
                status(LRI_DEVICE_CLASS, device_class, [PV_INVERTER, HYBRID_INVERTER]),
                status(LRI_DEVICE_TYPE, self.model, [self.model]),
            ]
        if query.name == "software_version":
            code = record_code(records.TYPE_U32, LRI_SOFTWARE_VERSION)
            return [records.version_record(code, t, self.version)]
        return by_query.get(query.name, [])

    # --- the protocol ---------------------------------------------------------------------
