"""`collector simulate sma-webconnect`: an SMA inverter's WebConnect interface on 127.0.0.1.

HTTPS with a certificate made at start (or plain HTTP with --http), the JSON API of sma.md §7:
login with the user or installer password, a table of a few session slots (`--slots`), sessions
that expire when idle (`--session-expiry`), logout, `getValues`, `getAllOnlValues`,
`getAllParamValues` and the login-free `getDashValues`. The answers are the ones a device
gives: `{"result": {"sid": null}}` for a wrong password, `{"err": 503}` when every slot is
taken, `{"err": 401}` for a session that has ended, `{"err": 404}` for a login over plain HTTP
(with --https-only), and HTTP 404 for a path it does not have.

The values come from the Speedwire simulator's inverter (the same household model and the same
register records, keyed the way WebConnect keys them), or, with --replay, from a recorded
`getAllOnlValues` answer (and the `getAllParamValues` recorded beside it). It counts logins,
logouts and the slots freed; `GET /simulator/state` shows them.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.simulators.household import Household
from collector.simulators.serve import HttpSimulator, JsonHandler, tls_missing, until_signalled
from collector.sources.sma_common.inverter import SimulatedInverter
from collector.sources.sma_common.records import TYPE_STATUS, Record, version_number
from collector.sources.sma_common.registers import QUERIES

DEVICE_UID = "0199-B3376BC5"
LOG_YIELD_5MIN, LOG_YIELD_DAILY = 28672, 28704  # getLogger.json's keys of the yield log
LOG_GRID_DAILY = {28752: 1, 28768: 0}  # the meter's feed-in (export) and draw (import), daily
LOG_ERROR = 500  # what a log request is answered with under faults.log == "error"
LOG_SILENCE = 10.0  # seconds a log request waits for its answer under faults.log == "silent"


@dataclass
class Session:
    right: str
    last_used: float
    foreign: bool = False  # held by someone else (a browser with the web UI open)


@dataclass
class Counts:
    logins: int = 0
    refused: int = 0  # wrong password: sid null
    full: int = 0  # err 503
    logouts: int = 0  # sessions ended by a logout
    expired: int = 0  # sessions ended because they were idle too long
    ended: int = 0  # sessions ended by the device (end_sessions)
    unknown_sid: int = 0  # reads answered err 401
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def freed(self) -> int:
        """Slots freed by a logout or by expiry."""
        return self.logouts + self.expired


class WebConnectDevice:
    """The interface's state and answers; no sockets here. Thread-safe."""

    def __init__(
        self,
        inverter: SimulatedInverter | None = None,
        *,
        user_password: str = "0000",
        installer_password: str = "1111",
        slots: int = 4,
        session_expiry: float = 300.0,
        https_only: bool = False,
        replay: dict[str, Any] | None = None,
        replay_params: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inverter = inverter or SimulatedInverter(3010538116, meter=True, battery=True)
        self.passwords = {"usr": user_password, "istl": installer_password}
        self.slots = slots
        self.session_expiry = session_expiry
        self.https_only = https_only
        self.replay = replay
        self.replay_params = replay_params
        self.clock = clock
        self.sessions: dict[str, Session] = {}
        self.counts = Counts()
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds before each answer (a slow device)
        self.on_request: Callable[[str], None] | None = None  # told of each POST's path

    # --- controls for tests and the command line ---------------------------------------------

    def hold(self, count: int) -> None:
        """`count` slots taken by others (browsers with the web UI open)."""
        with self.lock:
            for _ in range(count):
                self.sessions[secrets.token_urlsafe(12)] = Session("usr", self.clock(), True)

    def end_sessions(self) -> None:
        """The device ends every session (as after a restart): reads answer err 401."""
        with self.lock:
            self.counts.ended += sum(not s.foreign for s in self.sessions.values())
            self.sessions.clear()

    @property
    def open_sessions(self) -> int:
        """Sessions of clients (not the held ones) that hold a slot now."""
        with self.lock:
            self._expire()
            return sum(not session.foreign for session in self.sessions.values())

    def state(self) -> dict[str, Any]:
        with self.lock:
            self._expire()
            counts = self.counts
            return {
                "slots": self.slots,
                "open": sum(not s.foreign for s in self.sessions.values()),
                "held": sum(s.foreign for s in self.sessions.values()),
                "logins": counts.logins,
                "refused": counts.refused,
                "full": counts.full,
                "logouts": counts.logouts,
                "expired": counts.expired,
                "freed": counts.freed,
                "requests": dict(counts.requests),
            }

    # --- the API ---------------------------------------------------------------------------

    def answer(self, path: str, sid: str | None, body: Any, tls: bool) -> tuple[int, Any]:
        """(HTTP status, JSON) for a POST to `path`."""
        with self.lock:
            self.counts.requests[path] = self.counts.requests.get(path, 0) + 1
            self._expire()
            if path == "/dyn/login.json":
                return 200, self._login(body, tls)
            if path == "/dyn/logout.json":
                if sid is not None and self.sessions.pop(sid, None) is not None:
                    self.counts.logouts += 1
                return 200, {"result": {"isLogin": False}}
            if path == "/dyn/getDashValues.json":
                return 200, self._values(["6100_40263F00", "6400_00260100"])
            if path not in (
                "/dyn/getValues.json",
                "/dyn/getAllOnlValues.json",
                "/dyn/getAllParamValues.json",
                "/dyn/getLogger.json",
            ):
                return 404, None
            session = self.sessions.get(sid or "")
            if session is None:
                self.counts.unknown_sid += 1
                return 200, {"err": 401}
            session.last_used = self.clock()
        if path == "/dyn/getLogger.json":
            return 200, self._log(body)
        if path == "/dyn/getAllParamValues.json":
            return 200, self._params()
        if path == "/dyn/getAllOnlValues.json":
            return 200, self._values(None)
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            return 200, {"err": 400}
        return 200, self._values(keys)

    def _expire(self) -> None:
        now = self.clock()
        for sid, session in list(self.sessions.items()):
            if not session.foreign and now - session.last_used > self.session_expiry:
                del self.sessions[sid]
                self.counts.expired += 1

    def _login(self, body: Any, tls: bool) -> Any:
        if self.https_only and not tls:
            return {"err": 404}
        if not isinstance(body, dict) or body.get("right") not in self.passwords:
            return {"err": 400}
        if body.get("pass") != self.passwords[body["right"]]:
            self.counts.refused += 1
            return {"result": {"sid": None}}
        if len(self.sessions) >= self.slots:
            self.counts.full += 1
            return {"err": 503}
        sid = secrets.token_urlsafe(12)
        self.sessions[sid] = Session(body["right"], self.clock())
        self.counts.logins += 1
        return {"result": {"sid": sid}}

    # --- values ------------------------------------------------------------------------------

    def _log(self, body: Any) -> dict[str, Any]:
        """getLogger.json: the inverter's yield log from tStart to tEnd (both included), every
        5 minutes (key 28672) or at each UTC midnight (28704); other keys: none kept."""
        inverter = self.inverter
        if inverter.faults.log == "silent":
            time.sleep(LOG_SILENCE)  # longer than any client waits
        if inverter.faults.log == "error":
            return {"err": LOG_ERROR}
        if not isinstance(body, dict):
            return {"err": 400}
        key, start, end = body.get("key"), body.get("tStart"), body.get("tEnd")
        if not (type(key) is int and type(start) is int and type(end) is int):
            return {"err": 400}
        records = inverter.yield_log.records(start, end)
        if key == LOG_YIELD_DAILY:
            records = [(t, wh) for t, wh in records if t % 86400 == 0]
        elif key in LOG_GRID_DAILY and inverter.meter:
            side = LOG_GRID_DAILY[key]
            records = [(t, inverter.meter_counters(t)[side]) for t, _ in records if t % 86400 == 0]
        elif key != LOG_YIELD_5MIN:
            records = []
        uid = _device_of(self.replay)[0] if self.replay else DEVICE_UID
        return {"result": {uid: [{"t": t, "v": wh} for t, wh in records]}}

    def _values(self, keys: list[str] | None) -> dict[str, Any]:
        if self.replay is not None:
            uid, entries = _device_of(self.replay)
        else:
            uid, entries = DEVICE_UID, self._household_entries()
        if keys is not None:
            params = (
                _device_of(self.replay_params)[1] if self.replay_params else self._made_params()
            )
            everything = {**params, **entries}
            entries = {key: everything[key] for key in keys if key in everything}
        return {"result": {uid: entries}}

    def _params(self) -> dict[str, Any]:
        if self.replay_params is not None:
            return self.replay_params
        uid = _device_of(self.replay)[0] if self.replay else DEVICE_UID
        return {"result": {uid: self._made_params()}}

    def _made_params(self) -> dict[str, Any]:
        inverter = self.inverter
        return {
            "6800_00A21E00": {"1": [{"low": 0, "high": None, "val": inverter.address.serial}]},
            "6800_08821F00": {
                "1": [{"val": [{"tag": 8009 if inverter.battery else 8001}]}],
            },
            "6800_08822000": {"1": [{"val": [{"tag": inverter.model}]}]},
            "6800_00823400": {"1": [{"val": version_number(inverter.version)}]},
        }

    def _household_entries(self) -> dict[str, Any]:
        """The Speedwire simulator's records of this moment, keyed as WebConnect keys them:
        `<command class + 0x1000>_<type byte and register>`, one list item per channel."""
        inverter = self.inverter
        snap = inverter.snapshot()
        by_key: dict[str, list[tuple[int, Any]]] = {}
        for query in QUERIES:
            group = (query.command >> 16) + 0x1000
            for record in inverter.records_for(query, snap):
                key = f"{group:04X}_{record.code & 0xFFFFFF00:08X}"
                by_key.setdefault(key, []).append((record.channel, _value(record)))
        if inverter.meter:
            by_key["6400_00462500"] = [(1, snap.grid_import)]
            by_key["6400_00462400"] = [(1, snap.grid_export)]
            by_key["6100_00543100"] = [(1, snap.house)]
        channel = "9" if inverter.battery else "1"
        return {
            key: {channel: [{"val": value} for _, value in sorted(items, key=lambda i: i[0])]}
            for key, items in by_key.items()
        }


def _value(record: Record) -> Any:
    if record.data_type == TYPE_STATUS:
        code = record.status()
        return None if code is None else [{"tag": code}]
    return record.number()


def _device_of(reply: Any) -> tuple[str, dict[str, Any]]:
    [(uid, entries)] = reply["result"].items()
    return str(uid), dict(entries)


class _Handler(JsonHandler):
    server_version = ""
    sys_version = ""
    timeout = 30
    device: WebConnectDevice  # set on the subclass made per server
    tls: bool

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        sid = parse_qs(parts.query).get("sid", [None])[0]
        raw = self.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if self.device.on_request is not None:
            self.device.on_request(parts.path)
        if self.device.delay:
            time.sleep(self.device.delay)
        status, answer = self.device.answer(parts.path, sid, body, self.tls)
        if status == 404:
            self.send(404, b"<html><body>404 Not Found</body></html>", "text/html")
        else:
            self.send_json(status, answer)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/simulator/state":
            self.send_json(200, self.device.state())
        elif path == "/data/l10n/en-US.json":  # tag numbers to texts, as the web UI reads them
            self.send_json(200, {"51": "Closed", "303": "Off", "307": "Ok", "311": "Open"})
        elif path == "/":
            self.send(200, b"<html><title>SMA Sunny Boy (simulated)</title></html>", "text/html")
        else:
            self.send(404, b"<html><body>404 Not Found</body></html>", "text/html")


class WebConnectSimulator(HttpSimulator):
    """The interface on a socket. `start()` returns at once; a thread serves."""

    def __init__(
        self,
        device: WebConnectDevice | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        quiet: bool = True,
    ) -> None:
        self.device = device or WebConnectDevice()
        state = {"device": self.device, "tls": tls}
        super().__init__(_Handler, state, host=host, port=port, quiet=quiet, name="webconnect")
        if tls:
            self.use_tls("SMA Solar Technology AG (simulated)", "sma-inverter")


def load_replay(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A recorded getAllOnlValues answer, and the getAllParamValues recorded beside it (if
    there is one). ValueError says what is wrong with the file."""
    online = json.loads(path.read_text(encoding="utf-8"))
    result = online.get("result") if isinstance(online, dict) else None
    if not isinstance(result, dict) or len(result) != 1:
        raise ValueError("not a getAllOnlValues answer of one device ({'result': {uid: ...}})")
    params_path = path.with_name(path.name.replace("getAllOnlValues", "getAllParamValues"))
    params = None
    if params_path != path and params_path.is_file():
        params = json.loads(params_path.read_text(encoding="utf-8"))
    return online, params


# --- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="port (8443, or 8080 with --http; 0: a free one)"
    )
    parser.add_argument("--http", action="store_true", help="plain HTTP, as older firmware")
    parser.add_argument(
        "--https-only",
        action="store_true",
        help="with --http: answer logins with err 404, as newer firmware does over plain HTTP",
    )
    parser.add_argument("--ca-out", type=Path, help="write the CA certificate (PEM) here")
    parser.add_argument("--password", default="0000", help="user password (0000)")
    parser.add_argument("--installer-password", default="1111", help="installer password")
    parser.add_argument("--slots", type=int, default=4, help="session slots (4)")
    parser.add_argument(
        "--held", type=int, default=0, help="slots taken by others from the start (0)"
    )
    parser.add_argument(
        "--session-expiry", type=float, default=300.0, help="seconds an idle session lives (300)"
    )
    parser.add_argument(
        "--replay",
        type=Path,
        help="answer from a recorded getAllOnlValues answer (JSON) instead of the household",
    )
    parser.add_argument("--serial", type=int, default=3010538116, help="serial number")
    parser.add_argument("--strings", type=int, default=2, help="PV strings (2)")
    parser.add_argument("--battery", action="store_true", help="a hybrid inverter with a battery")
    parser.add_argument(
        "--meter", action="store_true", help="an energy meter on the inverter (grid, house)"
    )
    parser.add_argument("--seed", type=int, default=1, help="household model seed")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def run_from_arguments(args: argparse.Namespace) -> int:
    replay = params = None
    if args.replay is not None:
        try:
            replay, params = load_replay(args.replay)
        except (OSError, ValueError) as exc:
            print(f"simulator: cannot read {args.replay}: {exc}", file=sys.stderr)
            return 2
    if not math.isfinite(args.session_expiry) or args.slots < 1:
        print("simulator: --slots must be at least 1", file=sys.stderr)
        return 2
    if not args.http and tls_missing(""):
        return 2
    household = Household(seed=args.seed, speed=args.speed, peak_pv=6000.0)
    inverter = SimulatedInverter(
        args.serial,
        strings=args.strings,
        battery=args.battery,
        meter=args.meter,
        household=household,
        seed=args.seed,
    )
    device = WebConnectDevice(
        inverter,
        user_password=args.password,
        installer_password=args.installer_password,
        slots=args.slots,
        session_expiry=args.session_expiry,
        https_only=args.https_only,
        replay=replay,
        replay_params=params,
    )
    device.hold(args.held)
    port = args.port if args.port is not None else (8080 if args.http else 8443)
    try:
        simulator = WebConnectSimulator(
            device, host=args.host, port=port, tls=not args.http, quiet=not args.verbose
        )
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    ca_note = simulator.write_ca(args.ca_out, "sma-webconnect-simulator-ca.pem")
    simulator.start()
    what = f"replaying {args.replay.name}" if args.replay else f"serial {args.serial}"
    print(
        f"SMA WebConnect simulator on {simulator.url}, {what}, {args.slots} session slots, "
        f"user password {args.password!r}{ca_note}",
        flush=True,
    )
    until_signalled()
    simulator.stop()
    state = device.state()
    print(
        f"simulator: {state['logins']} logins, {state['logouts']} logouts, "
        f"{state['expired']} expired, {state['open']} sessions still open",
        file=sys.stderr,
    )
    return 0
