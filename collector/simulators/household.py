"""A plausible, changing household: sun curve, house load, a wallbox session and a battery.

Deterministic for a given seed and clock, and the energy balance always holds:
PV − house − battery + grid = 0, where the house load includes the wallbox and battery power is
positive while charging, grid power positive while importing (the SENEC conventions).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

MAX_BATTERY_POWER = 2500.0
RESERVE_SOC = 5.0


@dataclass(frozen=True)
class Snapshot:
    time: int  # UTC Unix seconds
    utc_offset_min: int
    pv: float
    mpp: tuple[float, float, float]
    house: float  # includes the wallbox
    battery: float  # + charging, − discharging
    soc: float
    bat_voltage: float
    bat_current: float
    grid: float  # + import, − export
    wallbox: tuple[float, float, float, float]
    ev_connected: tuple[int, int, int, int]
    state: int
    case_temp: float
    power_ratio: float
    version: str
    hours: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def battery_power(pv: float, house: float, soc: float) -> float:
    """The battery's power (W, + charging): the surplus or the shortfall, within its limits."""
    surplus = pv - house
    if surplus > 0 and soc < 100.0:
        return min(surplus, MAX_BATTERY_POWER)
    if surplus < 0 and soc > RESERVE_SOC:
        return -min(-surplus, MAX_BATTERY_POWER)
    return 0.0


class Household:
    def __init__(
        self,
        *,
        seed: int = 1,
        utc_offset_min: int = 60,
        peak_pv: float = 9000.0,
        capacity_wh: float = 10000.0,
        soc: float = 50.0,
        speed: float = 1.0,
        start: float | None = None,
    ) -> None:
        self.seed = seed
        self.utc_offset_min = utc_offset_min
        self.peak_pv = peak_pv
        self.capacity_wh = capacity_wh
        self.soc = soc
        self.speed = speed
        self._wall_start = time.time()
        self._sim_start = self._wall_start if start is None else start
        self.offset = 0.0  # seconds its clock is set off from the start (a test lets time pass)
        self._last: Snapshot | None = None
        self.forced_state: int | None = None

    def sim_time(self, wall: float | None = None) -> float:
        wall = time.time() if wall is None else wall
        return self._sim_start + (wall - self._wall_start) * self.speed + self.offset

    def pv_at(self, second: int) -> float:
        """The PV power (W) at a simulated second: the sun and the clouds only, so the same
        for every caller and every order of calls (what a device's log is made of)."""
        hour = ((second + self.utc_offset_min * 60) % 86400) / 3600.0
        sun = math.sin(math.pi * (hour - 6.0) / 14.0) if 6.0 < hour < 20.0 else 0.0
        clouds = 0.75 + 0.25 * math.sin(second / 700.0) * math.sin(second / 173.0)
        return float(self.peak_pv * max(0.0, sun) ** 1.5 * clouds)

    def load_at(self, second: int) -> tuple[float, float]:
        """(house load with the wallbox, the wallbox alone) in W at a simulated second: the same
        for every caller and every order of calls."""
        rng = random.Random(self.seed * 1_000_003 + second)
        hour = ((second + self.utc_offset_min * 60) % 86400) / 3600.0
        house = 280.0 + 120.0 * math.sin(2 * math.pi * (hour - 8.0) / 24.0) + rng.uniform(-30, 30)
        if (second // 60) % 53 == 0:  # a kettle now and then
            house += 2000.0
        charging = 17.5 <= hour < 19.5
        wallbox = 7400.0 + rng.uniform(-50, 50) if charging else 0.0
        return house + wallbox, wallbox

    def snapshot(self, wall: float | None = None) -> Snapshot:
        t = self.sim_time(wall)
        second = int(t)
        if self._last is not None:
            dt = max(0.0, second - self._last.time)
            self.soc += self._last.battery * dt / 3600.0 / self.capacity_wh * 100.0
            self.soc = min(100.0, max(0.0, self.soc))
        hour = ((second + self.utc_offset_min * 60) % 86400) / 3600.0
        pv = self.pv_at(second)
        mpp1 = pv * 0.52
        mpp = (mpp1, 0.0, pv - mpp1)
        house, charging_car = self.load_at(second)
        connected = 17.0 <= hour < 23.0
        wallbox = (charging_car, 0.0, 0.0, 0.0)
        battery = battery_power(pv, house, self.soc)
        grid = house + battery - pv

        if self.forced_state is not None:
            state = self.forced_state
        elif battery > 1:
            state = 14  # LADEN
        elif battery < -1:
            state = 16  # ENTLADEN
        elif self.soc >= 99.9:
            state = 13  # AKKU VOLL
        elif self.soc <= RESERVE_SOC + 0.1:
            state = 15  # AKKU LEER
        else:
            state = 21  # EIGENVERBRAUCH
        voltage = 46.0 + 0.1 * self.soc
        snapshot = Snapshot(
            time=second,
            utc_offset_min=self.utc_offset_min,
            pv=pv,
            mpp=mpp,
            house=house,
            battery=battery,
            soc=self.soc,
            bat_voltage=voltage,
            bat_current=battery / voltage,
            grid=grid,
            wallbox=wallbox,
            ev_connected=(1 if connected else 0, 0, 0, 0),
            state=state,
            case_temp=27.0 + 6.0 * pv / self.peak_pv + 2.0 * abs(battery) / MAX_BATTERY_POWER,
            power_ratio=100.0,
            version="0826",
            hours=40000 + (second // 3600) % 10000,
        )
        self._last = snapshot
        return snapshot


LOG_STEP = 300  # seconds: the intervals of the household's energy log
LOG_DAYS = 14  # how far back the log goes from the simulator's start
ENERGIES = (
    "pv",
    "house",
    "grid_import",
    "grid_export",
    "battery_charge",
    "battery_discharge",
    "wallbox",
)


class EnergyLog:
    """The household's energies as a cloud logs them: each 5-minute interval's PV, house, grid
    import and export, battery charge and discharge and wallbox energy (Wh), and the battery's
    mean charge (%). Kept from LOG_DAYS before the simulator started, minute by minute, with a
    battery of its own, so that it is the same whoever asks, in whatever order."""

    def __init__(self, household: Household, *, days: int = LOG_DAYS) -> None:
        self.household = household
        begin = int(household.sim_time()) - days * 86400
        self.origin = begin - begin % LOG_STEP
        self._soc = household.soc
        self._intervals: list[dict[str, float]] = []
        self._sums: dict[str, list[float]] = {}  # name -> sum of the first k intervals

    def _grow(self, index: int) -> None:
        household = self.household
        capacity = household.capacity_wh
        while len(self._intervals) <= index:
            begin = self.origin + len(self._intervals) * LOG_STEP
            wh = dict.fromkeys(ENERGIES, 0.0)
            charge = 0.0
            for minute in range(LOG_STEP // 60):
                second = begin + minute * 60
                pv = household.pv_at(second)
                house, wallbox = household.load_at(second)
                battery = battery_power(pv, house, self._soc)
                grid = house + battery - pv
                for name, watts in (
                    ("pv", pv),
                    ("house", house),
                    ("grid_import", max(grid, 0.0)),
                    ("grid_export", max(-grid, 0.0)),
                    ("battery_charge", max(battery, 0.0)),
                    ("battery_discharge", max(-battery, 0.0)),
                    ("wallbox", wallbox),
                ):
                    wh[name] += watts / 60.0
                self._soc = min(100.0, max(0.0, self._soc + battery / 60.0 / capacity * 100.0))
                charge += self._soc
            wh["soc"] = charge / (LOG_STEP // 60)
            self._intervals.append(wh)

    def total(self, name: str, second: int) -> float:
        """The sum of one energy (Wh) over the intervals that are over at `second`."""
        index = (second - self.origin) // LOG_STEP  # the intervals before this one are over
        if index <= 0:
            return 0.0
        self._grow(index - 1)
        sums = self._sums.setdefault(name, [0.0])
        while len(sums) <= index:
            sums.append(sums[-1] + self._intervals[len(sums) - 1][name])
        return sums[index]

    def intervals(self, start: int, end: int) -> list[tuple[int, dict[str, float]]]:
        """(interval start, values) of the intervals that begin in [start, end) and are over."""
        now = int(self.household.sim_time())
        first = max(start, self.origin)
        first += -(first - self.origin) % LOG_STEP
        result = []
        for begin in range(first, end, LOG_STEP):
            if begin + LOG_STEP > now:
                break
            index = (begin - self.origin) // LOG_STEP
            self._grow(index)
            result.append((begin, dict(self._intervals[index])))
        return result
