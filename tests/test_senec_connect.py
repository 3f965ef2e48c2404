"""The `senec-connect` kind against its simulator over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from collector.errors import AuthError, DeviceUnreachable, SourceError
from collector.reading import Reading
from collector.sources.senec_connect import codec
from collector.sources.senec_connect.fields import FIELDS
from collector.sources.senec_connect.settings import SenecConnectSettings
from collector.sources.senec_connect.simulator import KEY, SenecConnect, SenecConnectSimulator
from collector.sources.senec_connect.source import SenecConnectSource


@pytest.fixture
def simulator() -> Iterator[SenecConnectSimulator]:
    server = SenecConnectSimulator(SenecConnect(systems=2)).start()
    yield server
    server.stop()


def poll(simulator: SenecConnectSimulator, **changes: Any) -> list[Reading] | SourceError:
    settings = SenecConnectSettings(**{"key": KEY, "url": simulator.url, **changes})
    source = SenecConnectSource(settings, "connect")

    async def main() -> list[Reading] | SourceError:
        try:
            return await source.poll()
        except SourceError as exc:
            return exc
        finally:
            await source.aclose()

    return asyncio.run(main())


def test_two_systems_give_two_points_told_apart_by_a_tag(
    simulator: SenecConnectSimulator,
) -> None:
    readings = poll(simulator)
    assert isinstance(readings, list)
    assert [reading.tags for reading in readings] == [
        {"system": "S4H1-SIM-0001"},
        {"system": "S4H1-SIM-0002"},
    ]
    first = readings[0].fields
    assert set(first) == set(FIELDS)
    assert first["grid_power_plus"] == 0 or first["grid_power_minus"] == 0
    assert first["bat_power_plus"] == 0 or first["bat_power_minus"] == 0
    assert first["measure_time"] == int(readings[0].time.timestamp())


def test_one_system_has_no_tag_and_system_id_picks_one(simulator: SenecConnectSimulator) -> None:
    readings = poll(simulator, system_id="S4H1-SIM-0002")
    assert isinstance(readings, list)
    assert len(readings) == 1
    assert readings[0].tags == {}
    error = poll(simulator, system_id="nope")
    assert isinstance(error, AuthError)
    assert error.permanent
    assert str(error) == (
        "SENEC_SYSTEM_ID nope is not one of this key's systems (S4H1-SIM-0001, S4H1-SIM-0002)"
    )


def test_a_v3_without_data_is_named_and_left_out(simulator: SenecConnectSimulator) -> None:
    simulator.api.faults.v3 = True
    readings = poll(simulator)
    assert isinstance(readings, list)
    assert [reading.tags["system"] for reading in readings] == ["S4H1-SIM-0001", "S4H1-SIM-0002"]
    [v3] = [
        system for system in codec.systems_of(simulator.api.answer(KEY)[1]) if not system.has_data
    ]
    assert v3.id == "v3-sim-0001"  # no system_id: the serial number names it


def test_the_quota_used_up_is_explained_in_one_line(simulator: SenecConnectSimulator) -> None:
    simulator.api.faults.quota = True
    error = poll(simulator)
    assert isinstance(error, DeviceUnreachable)
    assert str(error) == (
        "SENEC.Connect's request quota is used up (Out of call volume quota. Quota will be "
        "replenished in 10.00:00:00.): it refuses requests until it is replenished; a longer "
        "SENEC_CONNECT_INTERVAL keeps within it"
    )
    assert error.retry_after == 3600.0


def test_a_wrong_key_stops_with_what_to_check(simulator: SenecConnectSimulator) -> None:
    error = poll(simulator, key="wrong")
    assert isinstance(error, AuthError)
    assert error.permanent
    assert "SENEC.Connect refused the subscription key (HTTP 401) (Access denied" in str(error)
    assert "check SENEC_CONNECT_KEY" in str(error)
    assert "wrong" not in str(error)


def test_a_problem_answer_says_its_title_and_detail(simulator: SenecConnectSimulator) -> None:
    simulator.api.faults.failing = True
    error = poll(simulator)
    assert isinstance(error, DeviceUnreachable)
    assert str(error) == (
        "SENEC.Connect failed (HTTP 500) (Internal Server Error: device data service unavailable)"
    )


def test_a_moved_path_says_which_setting(simulator: SenecConnectSimulator) -> None:
    error = poll(simulator, url=simulator.url.replace("/v1", "/v0"))
    assert isinstance(error, SourceError)
    assert "SENEC changed its API" in str(error)
    assert "set SENEC_CONNECT_URL" in str(error)


def test_the_mapping_of_one_answer() -> None:
    [system] = codec.systems_of(
        [
            {
                "battery": {
                    "state": 0,
                    "state_of_charge": 75.25,
                    "power": -1500.5,
                    "voltage": 52.34,
                    "current": -28.7,
                },
                "meter": {"grid_power": 200.4, "consumption": 1200.0, "production": None},
                "evse": [
                    {"id": "a", "ev_connected": False, "charging_power": 0.0},
                    {"id": "b", "ev_connected": True, "charging_power": 3700.2},
                ],
                "bessNameplate": {"system_id": "S1", "model": "SENEC.Home P4"},
            }
        ]
    )
    assert system.id == "S1"
    assert system.fields == {
        "bat_power_plus": 0,
        "bat_power_minus": 1501,
        "bat_fuel_charge": 75.3,
        "bat_voltage": 52.3,
        "bat_charge_current": -28.7,
        "grid_power_plus": 200,
        "grid_power_minus": 0,
        "house_power": 1200,
        "wallbox_charge_power": 3700,
        "ev_connected": True,
    }
    assert system.problems == []  # a null production is no data, not a problem


def test_an_interval_beyond_the_free_tier_is_noted() -> None:
    settings = SenecConnectSettings(key="k", interval=30)
    [note] = settings.notes()
    assert note.key == "interval"
    assert "89,280 requests a month, more than the 45,000" in note.text
    assert SenecConnectSettings(key="k").notes() == []
    with pytest.raises(ValidationError, match="must not be empty"):
        SenecConnectSettings(key=" ")
