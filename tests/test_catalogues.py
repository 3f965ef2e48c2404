"""Field catalogues: a name two kinds share means the same in both; each page shows its kind's."""

from __future__ import annotations

import itertools
import re

import pytest

from collector.cli import field_table
from collector.reading import NO_CLASS, Aggregation, FieldSpec, Negative, catalogue
from collector.sources import SourceKind, load_kinds
from tests.harness import kind_folder
from tests.kinds import COUNTER, LISTENER

KINDS = load_kinds()


def test_the_built_in_kinds_are_registered_by_entry_points() -> None:
    assert set(KINDS) >= {"senec", "sma"}
    for kind in KINDS.values():
        assert kind.fields, kind.name
        assert kind.default_measurement


def same_meaning(a: FieldSpec, b: FieldSpec) -> bool:
    """Type, unit, aggregation, description, negatives and Home Assistant's classes."""
    return (a.type, a.unit, a.aggregate, a.description, a.negative, a.home_assistant) == (
        b.type,
        b.unit,
        b.aggregate,
        b.description,
        b.negative,
        b.home_assistant,
    )


@pytest.mark.parametrize(
    ("first", "second"),
    list(itertools.combinations([*KINDS.values(), COUNTER, LISTENER], 2)),
    ids=lambda kind: kind.name,
)
def test_a_name_two_kinds_use_has_one_type_unit_and_meaning(
    first: SourceKind, second: SourceKind
) -> None:
    for name in set(first.fields) & set(second.fields):
        assert same_meaning(first.fields[name], second.fields[name]), (
            f"{name}: {first.name} {first.fields[name]} != {second.name} {second.fields[name]}"
        )


def test_the_check_finds_a_difference() -> None:
    a = FieldSpec("grid_power_plus", int, "W", "power imported from the grid")
    assert same_meaning(a, FieldSpec("grid_power_plus", int, "W", "power imported from the grid"))
    assert not same_meaning(a, FieldSpec("grid_power_plus", float, "W", a.description))
    assert not same_meaning(a, FieldSpec("grid_power_plus", int, "kW", a.description))
    assert not same_meaning(a, FieldSpec("grid_power_plus", int, "W", "export"))
    assert not same_meaning(a, FieldSpec(a.name, int, "W", a.description, Aggregation.LAST))
    assert not same_meaning(a, FieldSpec(a.name, int, "W", a.description, negative=Negative.ZERO))
    assert not same_meaning(a, FieldSpec(a.name, int, "W", a.description, device_class=NO_CLASS))


def test_home_assistant_classes_follow_the_unit_unless_the_catalogue_says_otherwise() -> None:
    sma = KINDS["sma"].fields
    assert sma["ac_power"].home_assistant == ("power", "measurement")
    assert sma["energy_total"].home_assistant == ("energy", "total_increasing")
    assert sma["bat_fuel_charge"].home_assistant == ("battery", "measurement")
    assert sma["device_status_code"].home_assistant == (None, None)  # a code: no statistics
    assert sma["device_status_ok"].home_assistant == (None, None)  # a boolean
    assert sma["device_status"].home_assistant == (None, None)  # a text
    assert KINDS["senec"].fields["measure_time"].home_assistant == (None, None)  # a moment
    assert KINDS["sma-em"].fields["grid_power_factor"].home_assistant == (
        "power_factor",
        "measurement",
    )


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda kind: kind.name)
def test_every_counter_is_total_increasing_and_no_field_is_called_time(kind: SourceKind) -> None:
    """The Energy dashboard takes total_increasing energy; `time` is the state message's own.
    An interval's energy (backfill's `<measurement>_ENERGY`) is energy but no counter."""
    from collector.house_fields import INTERVAL_ENERGY

    intervals = {spec.name: spec for spec in INTERVAL_ENERGY}
    assert "time" not in kind.fields
    for spec in kind.fields.values():
        if spec.name in intervals:
            assert spec is intervals[spec.name]
            assert spec.home_assistant == ("energy", None), spec.name
        elif spec.unit == "Wh":
            assert spec.home_assistant == ("energy", "total_increasing"), spec.name


def test_a_catalogue_refuses_a_name_twice() -> None:
    spec = FieldSpec("x", int, "", "")
    with pytest.raises(ValueError, match="declared twice"):
        catalogue([spec, spec])


def test_counters_and_states_are_not_averaged() -> None:
    sma = KINDS["sma"].fields
    assert sma["ac_power"].aggregate is Aggregation.MEAN
    assert sma["energy_total"].aggregate is Aggregation.LAST
    assert sma["device_status_code"].aggregate is Aggregation.LAST
    assert sma["device_status_ok"].aggregate is Aggregation.LAST


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda kind: kind.name)
def test_the_kinds_page_shows_its_catalogue(kind: SourceKind) -> None:
    page = (kind_folder(kind) / "README.md").read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- fields {re.escape(kind.name)} -->\n(.*?)\n<!-- /fields -->", page, re.S
    )
    assert match is not None, f"{kind.name}'s README.md has no field table"
    assert match.group(1) == field_table(kind), (
        f"regenerate it: collector sources --markdown {kind.name}"
    )
