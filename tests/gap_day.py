"""Yesterday with a gap, written to InfluxDB 1.x: what the dashboard's and the report's tests of
backfilled energy read. Two hours of readings, three hours of nothing, two hours of readings,
and the log's 5-minute energies of the windows wholly in the gap (`GAP_ENERGY`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tests.servers import InfluxDB1

MEASUREMENT = "GAP"
PV_W, HOUSE_W = 1200, 300  # the readings' power
PV_WH, HOUSE_WH = 90.5, 20.0  # the log's energy of each window


@dataclass(frozen=True)
class GapDay:
    day: int  # its midnight, UTC
    live: list[int]  # the readings' times
    logged: list[int]  # the log's windows' starts


def write_gap_day(influxdb1: InfluxDB1, database: str) -> GapDay:
    influxdb1.create_database(database)
    day = int(time.time()) // 86400 * 86400 - 86400
    live = [
        *range(day + 2 * 3600, day + 4 * 3600, 60),
        *range(day + 7 * 3600, day + 9 * 3600, 60),
    ]
    logged = list(range(day + 4 * 3600 + 300, day + 7 * 3600 - 300, 300))
    lines = [f"{MEASUREMENT} inverter_power={PV_W}i,house_power={HOUSE_W}i {t}" for t in live]
    lines += [
        f"{MEASUREMENT}_ENERGY inverter_energy={PV_WH},house_energy={HOUSE_WH} {t}" for t in logged
    ]
    response = httpx.post(
        influxdb1.url + "/write",
        params={"db": database, "precision": "s"},
        content="\n".join(lines),
    )
    assert response.status_code == 204, response.text
    return GapDay(day, live, logged)
