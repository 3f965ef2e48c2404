"""WebConnect's replies to fields, on the six recorded devices (sma.md §7).

Each device's expected fields are written out here from its recording (getAllOnlValues), with
the Speedwire kind's scaling: V / 100, A / 1000, Hz / 100, battery °C / 10, W and Wh raw.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.reading import apply_negative, check_fields
from collector.sources.senec.fields import FIELDS as SENEC_FIELDS
from collector.sources.sma.fields import FIELDS as SPEEDWIRE_FIELDS
from collector.sources.sma_em.fields import FIELDS as METER_FIELDS
from collector.sources.sma_webconnect.codec import (
    ErrorAnswer,
    ReplyError,
    entries_of,
    fields_from,
    lri_of,
    values_of,
)
from tests.conftest import recording

CATALOGUE = {**SPEEDWIRE_FIELDS, **METER_FIELDS, **SENEC_FIELDS}
STATUS_OK = {
    "device_status": "Ok",
    "device_status_code": 307,
    "device_status_ok": True,
    "grid_relay": "Closed",
    "grid_relay_code": 51,
    "grid_relay_ok": True,
}


def single_phase(power: int, voltage: float, current: float, hz: float) -> dict[str, Any]:
    return {
        "ac_power": power,
        "ac_power_l1": power,
        "ac_voltage_l1": voltage,
        "ac_current_l1": current,
        "grid_frequency": hz,
    }


EXPECTED: dict[str, dict[str, Any]] = {
    # Sunny Boy 1.5: the flat shape, one string numbered with "str"; a night-ish 46 W
    "sb1.5": {
        **single_phase(46, 229.35, 0.202, 49.99),
        "mpp1_power": 57,
        "mpp1_voltage": 113.56,
        "mpp1_current": 0.502,
        "dc_power": 57,
        "energy_total": 5736656,
        "energy_today": 37,
        **STATUS_OK,
    },
    # Sunny Boy 3.6: channel "1", two strings, the second one unused
    "sb3.6": {
        **single_phase(2460, 242.06, 10.204, 50.0),
        "mpp1_power": 2570,
        "mpp2_power": 0,
        "mpp1_voltage": 310.22,
        "mpp2_voltage": 0.0,
        "mpp1_current": 8.287,
        "mpp2_current": 0.0,
        "dc_power": 2570,
        "energy_total": 9796572,
        "energy_today": 8831,
        **STATUS_OK,
    },
    # Sunny Tripower 3.0 with 8 optimisers
    "stp3.0-8-optimizers": {
        "ac_power": 652,
        "ac_power_l1": 218,
        "ac_power_l2": 214,
        "ac_power_l3": 220,
        "ac_voltage_l1": 231.03,
        "ac_voltage_l2": 222.81,
        "ac_voltage_l3": 229.56,
        "ac_current_l1": 0.956,
        "ac_current_l2": 0.976,
        "ac_current_l3": 0.977,
        "grid_frequency": 50.03,
        "mpp1_power": 691,
        "mpp2_power": 0,
        "mpp1_voltage": 241.85,
        "mpp2_voltage": 0.0,
        "mpp1_current": 2.861,
        "mpp2_current": 0.0,
        "dc_power": 691,
        "energy_total": 2817372,
        "energy_today": 9860,
        **STATUS_OK,
    },
    # Sunny Tripower 10.0 Smart Energy (hybrid) without a battery: channel "9", battery zeros
    "stp10.0se": {
        "ac_power": 3490,
        "ac_power_l1": 1156,
        "ac_power_l2": 1166,
        "ac_power_l3": 1160,
        "ac_voltage_l1": 243.6,
        "ac_voltage_l2": 244.8,
        "ac_voltage_l3": 243.6,
        "ac_current_l1": 4.7,
        "ac_current_l2": 4.7,
        "ac_current_l3": 4.7,
        "grid_frequency": 49.97,
        "mpp1_power": 854,
        "mpp2_power": 2733,
        "mpp1_voltage": 353.5,
        "mpp2_voltage": 437.0,
        "mpp1_current": 2.415,
        "mpp2_current": 6.254,
        "dc_power": 3587,
        "energy_total": 158956,
        "energy_today": 51398,
        "bat_fuel_charge": 0.0,
        "bat_power_plus": 0,
        "bat_power_minus": 0,
        "bat_voltage": 0.0,
        "bat_charge_current": 0.0,
        "bat_temperature": 0.0,
        **STATUS_OK,
    },
    # the same model with an energy meter: drawing 2812 W from the grid at dusk, the inverter
    # itself drawing a standby 10 W (AC power -10, written as 0)
    "stp10.0se-energy-meter": {
        "ac_power": 0,
        "ac_power_l1": 0,
        "ac_power_l2": 0,
        "ac_power_l3": 0,
        "ac_voltage_l1": 234.3,
        "ac_voltage_l2": 232.5,
        "ac_voltage_l3": 234.3,
        "ac_current_l1": 0.4,
        "ac_current_l2": 0.4,
        "ac_current_l3": 0.4,
        "grid_frequency": 49.97,
        "mpp1_power": 5,
        "mpp2_power": 58,
        "mpp1_voltage": 311.8,
        "mpp2_voltage": 591.8,
        "mpp1_current": 0.016,
        "mpp2_current": 0.098,
        "dc_power": 63,
        "energy_total": 3662679,
        "energy_today": 24847,
        "bat_fuel_charge": 0.0,
        "bat_power_plus": 0,
        "bat_power_minus": 0,
        "bat_voltage": 0.0,
        "bat_charge_current": 0.0,
        "bat_temperature": 0.0,
        "grid_power_minus": 0,
        "grid_power_plus": 2812,
        "grid_energy_minus": 2134875,
        "grid_energy_plus": 550848,
        **STATUS_OK,
    },
    # Sunny Tripower 6.0 Smart Energy with a battery (charging 2048 W at 18 %) and a meter
    "stp6.0se-energy-meter": {
        "ac_power": 320,
        "ac_power_l1": 151,
        "ac_power_l2": 152,
        "ac_power_l3": 151,
        "ac_voltage_l1": 234.1,
        "ac_voltage_l2": 233.6,
        "ac_voltage_l3": 234.3,
        "ac_current_l1": 0.6,
        "ac_current_l2": 0.6,
        "ac_current_l3": 0.6,
        "grid_frequency": 50.0,
        "mpp1_power": 1681,
        "mpp2_power": 826,
        "mpp1_voltage": 341.1,
        "mpp2_voltage": 170.5,
        "mpp1_current": 4.928,
        "mpp2_current": 4.844,
        "dc_power": 2507,
        "energy_total": 119103,
        "energy_today": 1485,
        "bat_fuel_charge": 18.0,
        "bat_power_plus": 2048,
        "bat_power_minus": 0,
        "bat_voltage": 429.0,
        "bat_charge_current": 4.773,  # SMA's -4773 mA while charging; ours is + while charging
        "bat_temperature": 17.0,
        "grid_power_minus": 44,
        "grid_power_plus": 0,
        "grid_energy_minus": 87240,
        "grid_energy_plus": 63853,
        **STATUS_OK,
    },
}


@pytest.mark.parametrize("device", sorted(EXPECTED))
def test_every_recorded_device_maps_to_its_fields(device: str) -> None:
    reply = recording(f"sma-webconnect-{device}-getAllOnlValues.json")
    # as written: a negative AC power (a standby draw) is 0 by the catalogue's rule (the core's)
    fields, _ = apply_negative(fields_from(entries_of(reply)), CATALOGUE)
    wanted = EXPECTED[device]
    assert {name: fields.get(name) for name in wanted} == wanted
    # nothing else is made up: what is not expected is a value the recording has and we map
    # (device temperature and the like), each in a catalogue with its type
    check_fields(fields, CATALOGUE)
    assert set(fields) - set(wanted) <= {"device_temperature"}, set(fields) - set(wanted)


def test_null_is_a_missing_field_except_the_pv_side() -> None:
    # issue 19.7: only AC power and the strings' power are 0 at night; a battery, a meter, a
    # phase, a voltage that reads null is no reading (before, the strings were left out too)
    reply = recording("sma-webconnect-sb3.6-getAllOnlValues.json")
    entries = entries_of(reply)
    night = {key: {"1": [{"val": None} for _ in values_of(e)]} for key, e in entries.items()}
    fields = fields_from(night)
    assert fields == {"ac_power": 0, "mpp1_power": 0, "mpp2_power": 0, "dc_power": 0}


@pytest.mark.parametrize(
    ("raw_ma", "plus", "minus", "expected"),
    [(-4773, 2048, 0, 4.773), (4773, 2048, 0, 4.773), (-900, 0, 400, -0.9), (900, 0, 400, -0.9)],
)
def test_the_battery_current_takes_its_sign_from_the_direction_of_the_power(
    raw_ma: int, plus: int, minus: int, expected: float
) -> None:
    """SMA's sign of the battery current depends on the model; ours is + while charging."""
    fields = fields_from(
        {
            "6100_40495D00": {"9": [{"val": raw_ma}]},
            "6100_00496900": {"9": [{"val": plus}]},
            "6100_00496A00": {"9": [{"val": minus}]},
        }
    )
    assert fields["bat_charge_current"] == expected


def test_the_three_shapes_of_an_entry() -> None:
    assert values_of({"val": 46}) == [46]
    assert values_of([{"str": 2, "val": 5}, {"str": 1, "val": 7}]) == [7, 5]
    assert values_of({"9": [{"val": 1}, {"val": None}]}) == [1, None]
    assert values_of("nonsense") == []
    assert lri_of("6380_40251E00") == 0x00251E00


def test_error_answers_and_malformed_replies_say_what_they_are() -> None:
    with pytest.raises(ErrorAnswer) as raised:
        entries_of({"err": 401})
    assert raised.value.code == 401
    with pytest.raises(ReplyError, match="no result in the answer"):
        entries_of({"result": {}})
    with pytest.raises(ReplyError, match="values of 2 devices"):
        entries_of({"result": {"a": {}, "b": {}}})
    with pytest.raises(ReplyError, match="not an object"):
        entries_of({"result": {"a": [1]}})


VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.lists(st.fixed_dictionaries({"tag": st.integers() | st.none()}), max_size=2),
)
ENTRIES = st.one_of(
    st.fixed_dictionaries({"val": VALUES}),
    st.dictionaries(
        st.sampled_from(["1", "9"]),
        st.lists(st.fixed_dictionaries({"val": VALUES}), max_size=8),
        max_size=2,
    ),
    st.lists(st.fixed_dictionaries({"str": st.integers(0, 9), "val": VALUES}), max_size=8),
    VALUES,
)


@given(ENTRIES)
def test_any_entry_gives_fields_of_the_catalogue_or_none(entry: Any) -> None:
    """Whatever a device sends in an entry: fields of the right type, never NaN or infinity,
    never an exception."""
    for key in (
        "6100_40263F00",
        "6380_40251E00",
        "6180_08214800",
        "6400_00260100",
        "6100_40495D00",
        "6100_00295A00",
    ):
        fields = fields_from({key: entry})
        check_fields(fields, CATALOGUE)
        for value in fields.values():
            assert not isinstance(value, float) or math.isfinite(value)
            assert not isinstance(value, int) or -(2**63) <= value < 2**63  # InfluxDB's integers
