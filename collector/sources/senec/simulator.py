"""`collector simulate senec`: a fake SENEC device serving lala.cgi and its language files.

HTTPS with a certificate made at start (its CA can be written out for clients that verify), or
plain HTTP. Answers any requested variable it knows from a simulated household, everything else
with VARIABLE_NOT_FOUND, unknown sections with OBJECT_NOT_FOUND, using the collector's own codec.

Faults on demand, from the command line or at run time with POST /simulator/faults:
slow answers, HTTP 500, malformed JSON, truncated bodies, sentinels for chosen variables, a
negative UTC offset, an unknown state code, unreadable language files. GET /simulator/served
lists what was served (for tests that count and compare).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.errors import ProtocolError
from collector.simulators.household import Household, Snapshot
from collector.simulators.serve import HttpSimulator, JsonHandler, tls_missing, until_signalled
from collector.sources.senec.codec import (
    Sections,
    ValueType,
    decode_request,
    encode,
    encode_response,
)
from collector.sources.senec.states import BUILT_IN, LANGUAGE_FILES

FL, U8, U3, I3, ST = ValueType.FL, ValueType.U8, ValueType.U3, ValueType.I3, ValueType.ST

# Every variable the simulator knows, with the device's type for it.
VARIABLE_TYPES: dict[str, ValueType] = {
    "ENERGY.STAT_STATE": U8,
    "ENERGY.GUI_BAT_DATA_CURRENT": FL,
    "ENERGY.GUI_BAT_DATA_FUEL_CHARGE": FL,
    "ENERGY.GUI_BAT_DATA_POWER": FL,
    "ENERGY.GUI_BAT_DATA_VOLTAGE": FL,
    "ENERGY.GUI_GRID_POW": FL,
    "ENERGY.GUI_HOUSE_POW": FL,
    "ENERGY.GUI_INVERTER_POWER": FL,
    "ENERGY.STAT_HOURS_OF_OPERATION": U3,
    "WIZARD.APPLICATION_VERSION": ST,
    "RTC.UTC_OFFSET": I3,
    "RTC.WEB_TIME": U3,
    "PV1.MPP_POWER": FL,
    "PV1.POWER_RATIO": FL,
    "TEMPMEASURE.CASE_TEMP": FL,
    "WALLBOX.APPARENT_CHARGING_POWER": FL,
    "WALLBOX.EV_CONNECTED": U8,
}
SECTIONS = {key.partition(".")[0] for key in VARIABLE_TYPES}
FAULT_KINDS = ("ok", "500", "malformed", "truncated", "reset", "slow")


def variables_of(snapshot: Snapshot) -> dict[str, Any]:
    """The device variables for a household snapshot (WEB_TIME is local time as Unix seconds)."""
    return {
        "ENERGY.STAT_STATE": snapshot.state,
        "ENERGY.GUI_BAT_DATA_CURRENT": snapshot.bat_current,
        "ENERGY.GUI_BAT_DATA_FUEL_CHARGE": snapshot.soc,
        "ENERGY.GUI_BAT_DATA_POWER": snapshot.battery,
        "ENERGY.GUI_BAT_DATA_VOLTAGE": snapshot.bat_voltage,
        "ENERGY.GUI_GRID_POW": snapshot.grid,
        "ENERGY.GUI_HOUSE_POW": snapshot.house,
        "ENERGY.GUI_INVERTER_POWER": snapshot.pv,
        "ENERGY.STAT_HOURS_OF_OPERATION": snapshot.hours,
        "WIZARD.APPLICATION_VERSION": snapshot.version,
        "RTC.UTC_OFFSET": snapshot.utc_offset_min,
        "RTC.WEB_TIME": snapshot.time + snapshot.utc_offset_min * 60,
        "PV1.MPP_POWER": list(snapshot.mpp),
        "PV1.POWER_RATIO": snapshot.power_ratio,
        "TEMPMEASURE.CASE_TEMP": snapshot.case_temp,
        "WALLBOX.APPARENT_CHARGING_POWER": list(snapshot.wallbox),
        "WALLBOX.EV_CONNECTED": list(snapshot.ev_connected),
    }


@dataclass
class Faults:
    delay: float = 0.0  # seconds before every answer
    error_rate: float = 0.0  # share of answers that are HTTP 500
    malformed_rate: float = 0.0  # share of answers that are not JSON
    truncate_rate: float = 0.0  # share of answers cut off mid-body
    reset_rate: float = 0.0  # share of answers cut off mid-body by a TCP reset
    sentinels: dict[str, str] = field(default_factory=dict)  # variable -> raw value sent instead
    language_files: bool = True  # False: /js/*.js answer 503
    script: deque[str] = field(default_factory=deque)  # the next answers' kinds, one each

    def update(self, changes: dict[str, Any]) -> None:
        for name in ("delay", "error_rate", "malformed_rate", "truncate_rate", "reset_rate"):
            if name in changes:
                setattr(self, name, float(changes[name]))
        if "sentinels" in changes:
            self.sentinels = {str(k): str(v) for k, v in dict(changes["sentinels"]).items()}
        if "language_files" in changes:
            self.language_files = bool(changes["language_files"])
        for kind in changes.get("script", []):
            if str(kind).split(":")[0] not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r} (known: {', '.join(FAULT_KINDS)})")
            self.script.append(str(kind))

    def as_dict(self) -> dict[str, Any]:
        return {
            "delay": self.delay,
            "error_rate": self.error_rate,
            "malformed_rate": self.malformed_rate,
            "truncate_rate": self.truncate_rate,
            "reset_rate": self.reset_rate,
            "sentinels": self.sentinels,
            "language_files": self.language_files,
            "script": list(self.script),
        }


@dataclass(frozen=True)
class Served:
    kind: str
    time: int | None  # UTC second of the snapshot (None for a replayed recording)
    snapshot: dict[str, Any] | None


class SenecDevice:
    """The device's behaviour without the network: request in, answer out."""

    def __init__(
        self,
        household: Household | None = None,
        *,
        faults: Faults | None = None,
        replay: Sections | None = None,
        seed: int = 1,
        extra_states: dict[int, str] | None = None,
    ) -> None:
        self.household = household or Household(seed=seed)
        self.faults = faults or Faults()
        self.replay = replay
        self.extra_states = extra_states or {}
        self.served: deque[Served] = deque(maxlen=200_000)
        self.lock = threading.Lock()
        self._rng = random.Random(seed)

    def next_kind(self) -> tuple[str, float]:
        """Which kind of answer comes next, and how long to wait before it."""
        with self.lock:
            delay = self.faults.delay
            if self.faults.script:
                kind, _, seconds = self.faults.script.popleft().partition(":")
                if kind == "slow":
                    return "ok", float(seconds or 5.0)
                return kind, delay
            roll = self._rng.random()
            for kind, rate in (
                ("500", self.faults.error_rate),
                ("malformed", self.faults.malformed_rate),
                ("truncated", self.faults.truncate_rate),
                ("reset", self.faults.reset_rate),
            ):
                if roll < rate:
                    return kind, delay
                roll -= rate
            return "ok", delay

    def answer(self, request: Sections, kind: str = "ok") -> bytes:
        with self.lock:
            snapshot = None if self.replay is not None else self.household.snapshot()
            variables = variables_of(snapshot) if snapshot is not None else {}
            response: dict[str, dict[str, object]] = {}
            for section, keys in request.items():
                known = (
                    self.replay.get(section)
                    if self.replay is not None
                    else ({} if section in SECTIONS else None)
                )
                if known is None:
                    response[section] = {"OBJECT_NOT_FOUND": ""}
                    continue
                answered: dict[str, object] = {}
                for name in keys or self._all_keys(section):
                    key = f"{section}.{name}"
                    if key in self.faults.sentinels:
                        answered[name] = self.faults.sentinels[key]
                    elif self.replay is not None:
                        answered[name] = known.get(name, "VARIABLE_NOT_FOUND")
                    elif key in variables:
                        answered[name] = encode(variables[key], VARIABLE_TYPES[key])
                    else:
                        answered[name] = "VARIABLE_NOT_FOUND"
                response[section] = answered
            self.served.append(
                Served(
                    kind,
                    snapshot.time if snapshot else None,
                    snapshot.as_dict() if snapshot else None,
                )
            )
        return encode_response(response)

    def _all_keys(self, section: str) -> list[str]:
        return [key.partition(".")[2] for key in VARIABLE_TYPES if key.startswith(section + ".")]

    def language_file(self, language: str) -> str:
        names = dict(BUILT_IN.get(language, BUILT_IN["en"]))  # type: ignore[call-overload]
        names.update(self.extra_states)
        entries = ",\n".join(
            f"    {code}: {json.dumps(name, ensure_ascii=False)}"
            for code, name in sorted(names.items())
        )
        return (
            '/* simulated SENEC language file */\nvar lng = {"TODAY": "TODAY"};\n'
            f"var system_state_name = {{\n{entries}\n}};\n"
            'var system_type_name = {0: "SIMULATOR"};\n'
        )


class _Handler(JsonHandler):
    server_version = "nginx/1.17.7"
    sys_version = ""
    timeout = 30
    device: SenecDevice  # set on the subclass made per server

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self.body()
        if path == "/lala.cgi":
            self._lala(body)
        elif path == "/simulator/faults":
            try:
                self.device.faults.update(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                self.send(400, json.dumps({"error": str(exc)}).encode())
                return
            self.send(200, json.dumps(self.device.faults.as_dict()).encode())
        else:
            self.send(404, b"<html><body>404 Not Found</body></html>", "text/html")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path.replace("//", "/")
        for language, file in LANGUAGE_FILES.items():
            if path == file:
                if not self.device.faults.language_files:
                    self.send(
                        503, b"<html><body>503 Service Unavailable</body></html>", "text/html"
                    )
                else:
                    self.send(
                        200, self.device.language_file(language).encode(), "application/javascript"
                    )
                return
        if path == "/simulator/served":
            since = float(parse_qs(parts.query).get("since", ["0"])[0])
            with self.device.lock:
                served = [
                    vars(item)
                    for item in self.device.served
                    if item.time is None or item.time >= since
                ]
            self.send(200, json.dumps(served).encode())
        elif path == "/simulator/faults":
            self.send(200, json.dumps(self.device.faults.as_dict()).encode())
        else:
            self.send(404, b"<html><body>404 Not Found</body></html>", "text/html")

    def _lala(self, body: bytes) -> None:
        try:
            request = decode_request(body)
        except ProtocolError as exc:
            self.send(400, json.dumps({"error": str(exc)}).encode())
            return
        kind, delay = self.device.next_kind()
        if delay:
            time.sleep(delay)
        if kind == "500":
            with self.device.lock:
                self.device.served.append(Served(kind, None, None))
            self.send(500, b"<html><body>500 Internal Server Error</body></html>", "text/html")
            return
        answer = self.device.answer(request, kind)
        if kind == "malformed":
            self.send(200, answer[: len(answer) // 2] + b"<html>oops</html>")
        elif kind in ("truncated", "reset"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer[: len(answer) // 2])
            self.wfile.flush()
            self.close_connection = True
            if kind == "reset":  # closed with RST, not FIN: as a device that crashes mid-answer
                self.abort()
        else:
            self.send(200, answer)


class SenecSimulator(HttpSimulator):
    """The device on a socket. `start()` returns at once; the server runs in a thread."""

    def __init__(
        self,
        device: SenecDevice | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        quiet: bool = True,
    ) -> None:
        self.device = device or SenecDevice()
        state = {"device": self.device}
        super().__init__(_Handler, state, host=host, port=port, quiet=quiet, name="senec-simulator")
        if tls:
            self.use_tls("SenecGui-Root (simulated)", "senecGuiSelf")

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"


# --- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port (8443 with HTTPS, 8080 with --http; 0 picks a free one)",
    )
    parser.add_argument("--http", action="store_true", help="plain HTTP, like firmware before 0825")
    parser.add_argument("--ca-out", type=Path, help="write the CA certificate (PEM) here")
    parser.add_argument(
        "--replay",
        type=Path,
        help="answer from a recorded lala.cgi response (JSON) instead of the model",
    )
    parser.add_argument("--seed", type=int, default=1, help="household model seed")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (60: an hour per minute)",
    )
    parser.add_argument(
        "--utc-offset",
        type=int,
        default=60,
        help="the device's UTC_OFFSET in minutes (may be negative)",
    )
    parser.add_argument("--state", type=int, help="always report this STAT_STATE code")
    parser.add_argument(
        "--extra-state",
        action="append",
        default=[],
        metavar="CODE=NAME",
        help="add a state name to the served language files",
    )
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of HTTP 500 answers")
    parser.add_argument(
        "--malformed-rate", type=float, default=0.0, help="share of answers that are not JSON"
    )
    parser.add_argument(
        "--truncate-rate", type=float, default=0.0, help="share of answers cut off mid-body"
    )
    parser.add_argument(
        "--reset-rate",
        type=float,
        default=0.0,
        help="share of answers cut off mid-body by a TCP reset",
    )
    parser.add_argument(
        "--sentinel",
        action="append",
        default=[],
        metavar="SECTION.KEY[=VALUE]",
        help="answer this variable with VALUE (default VARIABLE_NOT_FOUND)",
    )
    parser.add_argument(
        "--no-language-files",
        action="store_true",
        help="answer the language files with 503 (until changed at run time)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def _pairs(items: list[str], default: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        pairs[key.strip()] = value.strip() if sep else default
    return pairs


def run_from_arguments(args: argparse.Namespace) -> int:
    replay = None
    if args.replay is not None:
        try:
            replay = json.loads(args.replay.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"simulator: cannot read {args.replay}: {exc}", file=sys.stderr)
            return 2
    household = Household(seed=args.seed, utc_offset_min=args.utc_offset, speed=args.speed)
    household.forced_state = args.state
    faults = Faults(
        delay=args.delay,
        error_rate=args.error_rate,
        malformed_rate=args.malformed_rate,
        truncate_rate=args.truncate_rate,
        reset_rate=args.reset_rate,
        sentinels=_pairs(args.sentinel, "VARIABLE_NOT_FOUND"),
        language_files=not args.no_language_files,
    )
    extra = {int(code): name for code, name in _pairs(args.extra_state, "").items()}
    device = SenecDevice(
        household, faults=faults, replay=replay, seed=args.seed, extra_states=extra
    )
    port = args.port if args.port is not None else (8080 if args.http else 8443)
    if not args.http and tls_missing(" (as compose's demo does)"):
        return 2
    try:
        simulator = SenecSimulator(
            device, host=args.host, port=port, tls=not args.http, quiet=not args.verbose
        )
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    ca_note = simulator.write_ca(args.ca_out, "senec-simulator-ca.pem")
    simulator.start()
    print(f"SENEC simulator listening on {simulator.url}{ca_note}", flush=True)
    until_signalled()
    simulator.stop()
    return 0
