from __future__ import annotations

import pytest

from collector.sources.senec.states import (
    BUILT_IN,
    OK_STATES,
    StateNames,
    StateTableNotFound,
    parse_language_file,
)
from tests.conftest import RECORDINGS


def test_the_recorded_device_file_matches_the_built_in_german_table() -> None:
    names = parse_language_file((RECORDINGS / "senec-DE-de.js").read_text(encoding="utf-8"))
    assert len(names) == 99
    assert names[15] == "AKKU LEER"
    assert names[98] == "BMS FEHLER - MODULUNGLEICHGEWICHT"
    assert all(BUILT_IN["de"][code] == name for code, name in names.items())


def test_built_in_tables_cover_every_documented_code() -> None:
    for language in ("de", "en"):
        assert set(BUILT_IN[language]) == set(range(101)), language
    assert set(BUILT_IN["en"]) >= OK_STATES


@pytest.mark.parametrize(
    "source",
    [
        'var a={1:"x"},system_state_name={0:"NULL",1:"EINS}",2:\'ZW"EI\'},b={0:"T"};',
        'var system_state_name = {\n    0: "NULL",\n    1: "EINS}",\n    2: \'ZW"EI\'\n};',
    ],
)
def test_minified_and_pretty_files(source: str) -> None:
    assert parse_language_file(source) == {0: "NULL", 1: "EINS}", 2: 'ZW"EI'}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("var lng = {};", "no system_state_name"),
        ("var system_state_name = {};", "empty"),
        ('var system_state_name = {0: "A"', "not closed"),
    ],
)
def test_unreadable_files(source: str, message: str) -> None:
    with pytest.raises(StateTableNotFound, match=message):
        parse_language_file(source)


def test_device_names_replace_built_in_ones_and_keep_the_rest() -> None:
    names = StateNames("de")
    assert names.origin == "built-in"
    assert names.name(101) == "101"
    names.replace({14: "LADEN (GERÄT)", 101: "NEU"})
    assert names.origin == "device"
    assert names.name(14) == "LADEN (GERÄT)"
    assert names.name(101) == "NEU"
    assert names.name(13) == "AKKU VOLL"
