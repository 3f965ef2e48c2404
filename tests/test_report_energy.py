"""The report's energies: the readings' trapezoids window by window, the log where the
collector was away, and a gap never drawn as a straight line; with the real InfluxDB 1.x."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.report import day_energy
from tests.gap_day import write_gap_day
from tests.harness import run_collector
from tests.servers import InfluxDB1

DAY = 1796601600  # 2026-12-07T00:00Z


def rows(stamps: range | list[int], **fields: float) -> list[dict[str, float]]:
    return [{"time": float(t), **fields} for t in stamps]


def test_steady_readings_make_their_trapezoids() -> None:
    readings = rows(range(DAY, DAY + 3600 + 1, 5), inverter_power=1200.0)
    assert day_energy(readings, []) == {"inverter_power": pytest.approx(1.2)}


def test_a_gap_counts_nothing_without_the_log_and_the_logs_windows_with_it() -> None:
    readings = [
        *rows(range(DAY, DAY + 3600 + 1, 60), inverter_power=1200.0),
        *rows(range(DAY + 4 * 3600, DAY + 5 * 3600 + 1, 60), inverter_power=1200.0),
    ]
    without = day_energy(readings, [])
    assert without["inverter_power"] == pytest.approx(2.4)  # not the 6 kWh of a straight line
    logged = [
        {"time": float(t), "inverter_energy": 50.0, "house_energy": None}
        for t in range(DAY + 3600 + 300, DAY + 4 * 3600 - 300, 300)
    ]
    assert day_energy(readings, logged)["inverter_power"] == pytest.approx(2.4 + 34 * 0.05)


def test_a_logged_window_replaces_what_a_short_bridge_put_into_it() -> None:
    """Two readings 8 minutes apart are bridged (no gap), but where the log has a window the
    log's energy counts, not the bridge's share of it."""
    readings = rows([DAY, DAY + 480], inverter_power=600.0)
    bridged = day_energy(readings, [])["inverter_power"]
    assert bridged == pytest.approx(0.08)
    logged = [{"time": float(DAY), "inverter_energy": 10.0}]
    # window 0 (0..300 s) from the log; window 1 (300..480 s) from the bridge
    assert day_energy(readings, logged)["inverter_power"] == pytest.approx(0.010 + 0.03)


@pytest.mark.servers
def test_the_report_of_a_day_with_a_gap_counts_the_log(
    influxdb1: InfluxDB1, tmp_path: Path
) -> None:
    database = "report_gap"
    gap = write_gap_day(influxdb1, database)
    assert len(gap.logged) == 34
    env = {"INFLUX_API": "v1", "INFLUX_URL": influxdb1.url, "INFLUX_BUCKET": database}
    date = datetime.fromtimestamp(gap.day, UTC).date().isoformat()
    out = tmp_path / "day.png"
    result = run_collector(
        tmp_path,
        env,
        "report",
        "--day",
        date,
        "--measurement",
        "GAP",
        "--timezone",
        "UTC",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    printed = dict(re.findall(r"(PV|house) ([0-9.]+) kWh", result.stdout))
    # two stretches of two hours (less the last minute of each) and the log's 34 windows
    readings_kwh = 2 * (7200 - 60) / 3600 * 1.2
    assert float(printed["PV"]) == pytest.approx(readings_kwh + 34 * 0.0905, abs=0.005)
    assert float(printed["house"]) == pytest.approx(readings_kwh / 4 + 34 * 0.020, abs=0.005)
