"""Field catalogues: a name two kinds share means the same in both; each page shows its kind's."""

from __future__ import annotations

import itertools
import re

import pytest

from collector.cli import field_table
from collector.reading import Aggregation, FieldSpec, Negative, catalogue
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
    return (a.type, a.unit, a.aggregate, a.description, a.negative) == (
        b.type,
        b.unit,
        b.aggregate,
        b.description,
        b.negative,
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
