"""SENEC operating states (ENERGY.STAT_STATE): built-in names and the device's language files.

The device serves its own names in `/js/DE-de.js`, `/js/EN-en.js` and `/js/IT-it.js` as a
JavaScript object literal `system_state_name = {0: "...", ...}`. We start with a built-in table
and replace it with the device's table once that can be read, so that states added by a
firmware update get their names without a new collector release.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Literal

from collector.errors import CodecError

Language = Literal["de", "en", "it"]

LANGUAGE_FILES: dict[Language, str] = {
    "de": "/js/DE-de.js",
    "en": "/js/EN-en.js",
    "it": "/js/IT-it.js",
}

# States in which the system works as intended (the SOLECTRUS rule for `current_state_ok`).
OK_STATES = frozenset({13, 14, 15, 16, 17, 18, 21, 54, 56, 88, 89})

_DE = """
0 INITIALZUSTAND|1 KEINE KOMMUNIKATION LADEGERAET|2 FEHLER LEISTUNGSMESSGERAET
3 RUNDSTEUEREMPFAENGER|4 ERSTLADUNG|5 WARTUNGSLADUNG|6 WARTUNGSLADUNG FERTIG
7 WARTUNG NOTWENDIG|8 MAN. SICHERHEITSLADUNG|9 SICHERHEITSLADUNG FERTIG|10 VOLLLADUNG
11 AUSGLEICHSLADUNG: LADEN|12 SULFATLADUNG: LADEN|13 AKKU VOLL|14 LADEN|15 AKKU LEER
16 ENTLADEN|17 PV + ENTLADEN|18 NETZ + ENTLADEN|19 PASSIV|20 AUSGESCHALTET
21 EIGENVERBRAUCH|22 NEUSTART|23 MAN. AUSGLEICHSLADUNG: LADEN|24 MAN. SULFATLADUNG: LADEN
25 SICHERHEITSLADUNG|26 AKKU-SCHUTZBETRIEB|27 EG FEHLER|28 EG LADEN|29 EG ENTLADEN
30 EG PASSIV|31 EG LADEN VERBOTEN|32 EG ENTLADEN VERBOTEN|33 NOTLADUNG
34 SOFTWAREAKTUALISIERUNG|35 FEHLER: NA-SCHUTZ|36 FEHLER: NA-SCHUTZ NETZ
37 FEHLER: NA-SCHUTZ HARDWARE|38 KEINE SERVERVERBINDUNG|39 BMS FEHLER|40 WARTUNG: FILTER
41 ABSCHALTUNG LITHIUM|42 WARTE AUF ÜBERSCHUSS|43 KAPAZITÄTSTEST: LADEN
44 KAPAZITÄTSTEST: ENTLADEN|45 MAN. SULFATLADUNG: WARTEN|46 MAN. SULFATLADUNG: FERTIG
47 MAN. SULFATLADUNG: FEHLER|48 AUSGLEICHSLADUNG: WARTEN|49 NOTLADUNG: FEHLER
50 MAN: AUSGLEICHSLADUNG: WARTEN|51 MAN: AUSGLEICHSLADUNG: FEHLER
52 MAN: AUSGLEICHSLADUNG: FERTIG|53 AUTO: SULFATLADUNG: WARTEN|54 LADESCHLUSSPHASE
55 BATTERIETRENNSCHALTER AUS|56 PEAK-SHAVING: WARTEN|57 FEHLER LADEGERAET|58 NPU-FEHLER
59 BMS OFFLINE|60 WARTUNGSLADUNG FEHLER|61 MAN. SICHERHEITSLADUNG FEHLER
62 SICHERHEITSLADUNG FEHLER|63 KEINE MASTERVERBINDUNG|64 LITHIUM SICHERHEITSMODUS AKTIV
65 LITHIUM SICHERHEITSMODUS BEENDET|66 FEHLER BATTERIESPANNUNG|67 BMS DC AUSGESCHALTET
68 NETZINITIALISIERUNG|69 NETZSTABILISIERUNG|70 FERNABSCHALTUNG|71 OFFPEAK-LADEN
72 FEHLER HALBBRÜCKE|73 BMS: FEHLER BETRIEBSTEMPERATUR|74 FACTORY SETTINGS NICHT GEFUNDEN
75 NETZERSATZBETRIEB|76 NETZERSATZBETRIEB AKKU LEER|77 NETZERSATZBETRIEB FEHLER
78 INITIALISIERUNG|79 INSTALLATIONSMODUS|80 NETZAUSFALL|81 BMS UPDATE ERFORDERLICH
82 BMS KONFIGURATION ERFORDERLICH|83 ISOLATIONSTEST|84 SELBSTTEST|85 EXTERNE STEUERUNG
86 TEMPERATUR SENSOR FEHLER|87 NETZBETREIBER: LADEN GESPERRT
88 NETZBETREIBER: ENTLADEN GESPERRT|89 RESERVEKAPAZITÄT|90 SELBSTTEST FEHLER
91 ISOLATIONSFEHLER|92 PV-MODUS|93 FERNABSCHALTUNG NETZBETREIBER|94 FEHLER DRM0
95 BATTERIEDIAGNOSE|96 BALANCING|97 SICHERHEITSENTLADUNG|98 BMS FEHLER - MODULUNGLEICHGEWICHT
99 AUFWACHLADUNG|100 SOX-KALIBRIERUNG
"""

_EN = """
0 INITIAL STATE|1 NO COMMUNICATION WITH CHARGER|2 POWER METER ERROR
3 RIPPLE CONTROL RECEIVER|4 INITIAL CHARGE|5 MAINTENANCE CHARGE|6 MAINTENANCE CHARGE DONE
7 MAINTENANCE REQUIRED|8 MAN. SAFETY CHARGE|9 SAFETY CHARGE DONE|10 FULL CHARGE
11 EQUALISATION: CHARGE|12 DESULPHATING: CHARGE|13 BATTERY FULL|14 CHARGE|15 BATTERY EMPTY
16 DISCHARGE|17 PV + DISCHARGE|18 GRID + DISCHARGE|19 PASSIVE|20 SWITCHED OFF
21 OWN CONSUMPTION|22 RESTART|23 MAN. EQUALISATION: CHARGE|24 MAN. DESULPHATING: CHARGE
25 SAFETY CHARGE|26 BATTERY PROTECTION MODE|27 EG ERROR|28 EG CHARGE|29 EG DISCHARGE
30 EG PASSIVE|31 EG CHARGE PROHIBITED|32 EG DISCHARGE PROHIBITED|33 EMERGENCY CHARGE
34 SOFTWARE UPDATE|35 ERROR: GRID PROTECTION|36 ERROR: GRID PROTECTION GRID
37 ERROR: GRID PROTECTION HARDWARE|38 NO SERVER CONNECTION|39 BMS ERROR
40 MAINTENANCE: FILTER|41 LITHIUM SHUTDOWN|42 WAITING FOR SURPLUS
43 CAPACITY TEST: CHARGE|44 CAPACITY TEST: DISCHARGE|45 MAN. DESULPHATING: WAIT
46 MAN. DESULPHATING: DONE|47 MAN. DESULPHATING: ERROR|48 EQUALISATION: WAIT
49 EMERGENCY CHARGE: ERROR|50 MAN: EQUALISATION: WAIT|51 MAN: EQUALISATION: ERROR
52 MAN: EQUALISATION: DONE|53 AUTO: DESULPHATING: WAIT|54 ABSORPTION PHASE
55 BATTERY SWITCH OFF|56 PEAK SHAVING: WAIT|57 CHARGER ERROR|58 NPU ERROR|59 BMS OFFLINE
60 MAINTENANCE CHARGE ERROR|61 MAN. SAFETY CHARGE ERROR|62 SAFETY CHARGE ERROR
63 NO MASTER CONNECTION|64 LITHIUM SAFE MODE ACTIVE|65 LITHIUM SAFE MODE ENDED
66 BATTERY VOLTAGE ERROR|67 BMS DC SWITCHED OFF|68 GRID INITIALISATION
69 GRID STABILISATION|70 REMOTE SHUTDOWN|71 OFF-PEAK CHARGE|72 HALF-BRIDGE ERROR
73 BMS: OPERATING TEMPERATURE ERROR|74 FACTORY SETTINGS NOT FOUND|75 BACKUP POWER MODE
76 BACKUP POWER BATTERY EMPTY|77 BACKUP POWER ERROR|78 INITIALISATION|79 INSTALLATION MODE
80 GRID OUTAGE|81 BMS UPDATE REQUIRED|82 BMS CONFIGURATION REQUIRED|83 INSULATION TEST
84 SELF TEST|85 EXTERNAL CONTROL|86 TEMPERATURE SENSOR ERROR
87 GRID OPERATOR: CHARGING BLOCKED|88 GRID OPERATOR: DISCHARGING BLOCKED|89 SPARE CAPACITY
90 SELF TEST ERROR|91 INSULATION ERROR|92 PV MODE|93 REMOTE SHUTDOWN BY GRID OPERATOR
94 DRM0 ERROR|95 BATTERY DIAGNOSIS|96 BALANCING|97 SAFETY DISCHARGE
98 BMS ERROR - MODULE IMBALANCE|99 WAKE-UP CHARGE|100 SOX CALIBRATION
"""


def _table(text: str) -> dict[int, str]:
    table: dict[int, str] = {}
    for entry in re.split(r"[|\n]", text):
        entry = entry.strip()
        if entry:
            code, name = entry.split(" ", 1)
            table[int(code)] = name
    return table


BUILT_IN: dict[Language, dict[int, str]] = {
    "de": _table(_DE),
    "en": _table(_EN),
    # No Italian table is built in: Italian names come from the device's IT-it.js; until it
    # has been read, the English names are used.
    "it": _table(_EN),
}


class StateNames:
    """The names in use, and where they came from ("built-in" or "device")."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self.names: dict[int, str] = dict(BUILT_IN[language])
        self.origin = "built-in"

    def name(self, code: int) -> str:
        """The state's name, or the number as text when no table knows it."""
        return self.names.get(code, str(code))

    def knows(self, code: int) -> bool:
        return code in self.names

    def replace(self, names: Mapping[int, str]) -> None:
        # Keep built-in names for codes the device file lacks: a name beats a number.
        merged = dict(BUILT_IN[self.language])
        merged.update(names)
        self.names = merged
        self.origin = "device"


class StateTableNotFound(CodecError):
    """The language file has no readable `system_state_name` table."""


_ENTRY = re.compile(r"""(\d+)\s*:\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""", re.S)


def _object_literal(source: str, start: int) -> str:
    """The text of the `{...}` beginning at `start`, honouring quoted strings."""
    depth = 0
    quote: str | None = None
    escaped = False
    for index in range(start, len(source)):
        char = source[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return source[start : index + 1]
    raise StateTableNotFound("system_state_name is not closed")


def _js_string(quoted: str) -> str:
    """The value of a quoted JavaScript string literal (either quote style)."""
    inner = quoted[1:-1]
    if quoted.startswith("'"):
        inner = re.sub(r'(?<!\\)"', '\\"', inner.replace("\\'", "'"))
    try:
        value: str = json.loads(f'"{inner}"')
    except json.JSONDecodeError as exc:
        raise StateTableNotFound(f"unreadable state name {quoted}: {exc}") from None
    return value


def parse_language_file(source: str) -> dict[int, str]:
    """Extract `system_state_name` from a device language file (pretty or minified JS)."""
    match = re.search(r"system_state_name\s*=\s*\{", source)
    if match is None:
        raise StateTableNotFound("no system_state_name in the language file")
    literal = _object_literal(source, match.end() - 1)
    names: dict[int, str] = {}
    for code, quoted in _ENTRY.findall(literal):
        names[int(code)] = _js_string(quoted)
    if not names:
        raise StateTableNotFound("system_state_name is empty")
    return names
