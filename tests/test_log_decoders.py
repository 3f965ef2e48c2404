"""The decoders of the devices' logs that give interval energies: SENEC's cloud (`measurements`)
and ennexOS (`measurements/search`), on the shapes other projects recorded, and on anything.

Neither answer is among our recordings. SENEC's rests on the sample ha-senec-v3 keeps in its
code (a MONTH answer, senec-python-anchors.md §4.5); ennexOS's on a browser capture of an SMA
EV Charger's web UI (J0B10/MAD-MyEnergy `http/measurments_history_resp.txt`, sma.md §7b.3), of
which the 15-minute part is kept below as it was recorded, shortened. The Speedwire and
WebConnect logs' decoders are tested beside their kinds' codecs.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.errors import ProtocolError
from collector.sources.senec_cloud.codec import ENERGY_SERIES, energy_intervals
from collector.sources.sma_ennexos.codec import (
    LOG_STEP,
    AnswerError,
    interval_energies,
    search_body,
)

# --- SENEC's cloud ---------------------------------------------------------------------------

SENEC_NAMES = [
    "POWER_GENERATION",
    "POWER_CONSUMPTION",
    "GRID_IMPORT",
    "GRID_EXPORT",
    "BATTERY_IMPORT",
    "BATTERY_EXPORT",
    "BATTERY_LEVEL_IN_PERCENT",
    "AUTARKY_IN_PERCENT",
    "WALLBOX_CONSUMPTION",
]
# ha-senec-v3's sample (a MONTH answer), its first interval as documented there
SENEC_MONTH = {
    "timeSeries": [
        {
            "date": "2025-04-30T22:00:00Z",
            "measurements": {
                "durationInSeconds": 2678400,
                "values": [
                    453.727294921875,
                    275.7222595214844,
                    41.69596862792969,
                    218.02720642089844,
                    54.24029541015625,
                    49.47010803222656,
                    87.21552276611328,
                    84.88,
                    0,
                ],
            },
        }
    ],
    "measurements": SENEC_NAMES,
    "electricVehicleConnected": False,
}


def test_senecs_measurements_give_each_intervals_energies_in_wh() -> None:
    [interval], problems = energy_intervals(SENEC_MONTH)
    assert problems == []
    assert interval.start == 1746050400  # 2025-04-30T22:00:00Z
    assert interval.seconds == 2678400
    assert interval.energies == {
        "inverter_energy": 453727.295,
        "house_energy": 275722.26,
        "grid_import_energy": 41695.969,
        "grid_export_energy": 218027.206,
        "bat_charge_energy": 54240.295,  # BATTERY_IMPORT: into the battery
        "bat_discharge_energy": 49470.108,
        "wallbox_energy": 0.0,
    }


def test_senecs_series_are_found_by_name_not_by_position() -> None:
    answer = {
        "measurements": list(reversed(SENEC_NAMES)),
        "timeSeries": [
            {
                "date": "2025-07-22T06:00:00Z",
                "measurements": {"durationInSeconds": 300, "values": [0.5, *[0] * 7, 0.25]},
            }
        ],
    }
    [interval], _ = energy_intervals(answer)
    assert interval.energies["wallbox_energy"] == 500.0
    assert interval.energies["inverter_energy"] == 250.0


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            {"date": "yesterday", "measurements": {"durationInSeconds": 300, "values": []}},
            "no time",
        ),
        ({"date": "2025-07-22T06:00:00", "measurements": {}}, "no time zone"),
        ({"date": "2025-07-22T06:00:00Z", "measurements": {"values": [1] * 9}}, "no duration"),
        (
            {"date": "2025-07-22T06:00:00Z", "measurements": {"durationInSeconds": 300}},
            "not one value per measurement",
        ),
    ],
)
def test_a_broken_senec_interval_is_left_out_and_said(entry: Any, problem: str) -> None:
    good = SENEC_MONTH["timeSeries"][0]  # type: ignore[index]
    intervals, problems = energy_intervals(
        {"measurements": SENEC_NAMES, "timeSeries": [entry, good]}
    )
    assert len(intervals) == 1
    assert len(problems) == 1
    assert problem in problems[0]


def test_a_negative_or_missing_senec_value_costs_its_field_only() -> None:
    values: list[Any] = [1.0, -0.1, None, "x", True, float("nan"), 50.0, 90.0, 0.002]
    answer = {
        "measurements": SENEC_NAMES,
        "timeSeries": [
            {
                "date": "2025-07-22T06:00:00Z",
                "measurements": {"durationInSeconds": 300, "values": values},
            }
        ],
    }
    [interval], _ = energy_intervals(answer)
    assert interval.energies == {"inverter_energy": 1000.0, "wallbox_energy": 2.0}


@pytest.mark.parametrize("answer", [[], {"timeSeries": []}, {"measurements": []}, "x", None])
def test_a_senec_answer_without_its_lists_is_a_protocol_error(answer: Any) -> None:
    with pytest.raises(ProtocolError, match="no list of measurements"):
        energy_intervals(answer)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=25),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                ["measurements", "timeSeries", "date", "durationInSeconds", "values", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(JSON)
def test_any_json_is_senec_intervals_or_a_protocol_error(answer: Any) -> None:
    try:
        intervals, _ = energy_intervals(answer)
    except ProtocolError:
        return
    for interval in intervals:
        assert interval.seconds > 0
        assert set(interval.energies) <= set(ENERGY_SERIES.values())
        assert all(value >= 0 for value in interval.energies.values())


# --- ennexOS ----------------------------------------------------------------------------------

# J's recorded answer (an EV Charger's grid counter, FifteenMinutes, Dif), the first and the
# busiest of its values, as recorded; and a PV inverter's counter in the same shape
ENNEXOS_ANSWER = [
    {
        "channelId": "Measurement.Metering.GridMs.TotWhIn",
        "componentId": "IGULD:SELF",
        "max": 7644.420000000001,
        "min": 0,
        "values": [
            {"time": "2022-12-07T23:15:00Z", "value": 0},
            {"time": "2022-12-08T06:15:00Z", "value": 992.917222222222},
            {"time": "2022-12-08T06:30:00Z", "value": 7644.420000000001},
        ],
    },
    {
        "channelId": "Measurement.Metering.TotWhOut",
        "componentId": "IGULD:SELF",
        "max": 812.5,
        "min": 0,
        "values": [{"time": "2022-12-08T06:30:00Z", "value": 812.5}],
    },
]


def test_ennexos_search_gives_each_interval_at_its_start() -> None:
    assert interval_energies(ENNEXOS_ANSWER) == {
        1670454000: {"grid_import_energy": 0.0},  # 23:00 to 23:15
        1670479200: {"grid_import_energy": 992.917222222222},
        1670480100: {"grid_import_energy": 7644.420000000001, "inverter_energy": 812.5},
    }


def test_ennexos_search_leaves_out_missing_values_other_components_and_channels() -> None:
    answer = [
        {
            "channelId": "Measurement.Metering.TotWhOut",
            "componentId": "IGULD:SELF",
            "values": [
                {"time": "2022-12-08T06:30:00Z", "value": "NaN"},
                {"time": "2022-12-08T06:45:00Z"},
                {"time": "2022-12-08T07:00:00Z", "value": -5},
                {"time": "2022-12-08T07:15:00Z", "value": 10},
            ],
        },
        {"channelId": "Measurement.Metering.TotWhOut", "componentId": "Plant:1", "values": []},
        {"channelId": "Measurement.GridMs.TotW", "componentId": "IGULD:SELF", "values": []},
    ]
    assert interval_energies(answer) == {1670482800: {"inverter_energy": 10.0}}


@pytest.mark.parametrize(
    "answer",
    [
        {"values": []},
        [{"componentId": "IGULD:SELF"}],
        [{"channelId": "Measurement.Metering.TotWhOut", "values": {"time": 1}}],
        [{"channelId": "Measurement.Metering.TotWhOut", "values": [{"value": 1}]}],
        [{"channelId": "Measurement.Metering.TotWhOut", "values": [{"time": "soon"}]}],
    ],
)
def test_an_ennexos_search_answer_that_is_no_log_is_an_answer_error(answer: Any) -> None:
    with pytest.raises(AnswerError):
        interval_energies(answer)


def test_the_ennexos_search_asks_as_the_web_ui_does() -> None:
    body = search_body(
        ["Measurement.Metering.TotWhOut"], "2022-12-07T23:00:00.000Z", "2022-12-08T23:00:00.000Z"
    )
    assert body == {
        "queryItems": [
            {
                "componentId": "IGULD:SELF",
                "channelId": "Measurement.Metering.TotWhOut",
                "resolution": "FifteenMinutes",
                "timezone": "UTC",
                "aggregate": "Dif",
                "multiAggregate": "Sum",
            }
        ],
        "dateTimeBegin": "2022-12-07T23:00:00.000Z",
        "dateTimeEnd": "2022-12-08T23:00:00.000Z",
    }
    assert LOG_STEP == 900


ENNEXOS_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=25),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["channelId", "componentId", "values", "time", "value", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(ENNEXOS_JSON)
def test_any_json_is_ennexos_intervals_or_an_answer_error(answer: Any) -> None:
    try:
        intervals = interval_energies(answer)
    except AnswerError:
        return
    for energies in intervals.values():
        assert all(value >= 0 for value in energies.values())
