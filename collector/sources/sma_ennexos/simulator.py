"""`collector simulate sma-ennexos`: an SMA ennexOS device's web API on 127.0.0.1.

HTTPS with a certificate made at start (or plain HTTP with --http), the calls of sma.md §7b:
`POST /api/v1/token` (password and refresh-token grants, a form), `DELETE
/api/v1/refreshtoken`, `POST /api/v1/measurements/live`, the device description
`GET /api/v1/plants/Plant:1/devices/IGULD:SELF` and the login-free `GET /api/v1/system/info`.
Access tokens live `--token-lifetime` seconds (short, to exercise refresh); a refresh hands out a
new pair and ends the old one. Its error answers are the ones reported from devices: HTTP 400
for a wrong username or password or a refused refresh, HTTP 401 with a body that is no JSON for
an expired or unknown token, HTTP 404 for a path it does not have.

The values come from the Speedwire simulator's inverter (the same household model, here in
natural units and channel ids), or, with --replay, from a recorded live answer (and the device
description recorded beside it). `GET /simulator/state` shows what it counted.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.simulators.household import Household
from collector.simulators.serve import HttpSimulator, JsonHandler, tls_missing, until_signalled
from collector.sources.sma_common.inverter import SimulatedInverter
from collector.sources.sma_ennexos.codec import LOG_STEP, SELF
from collector.sources.sma_ennexos.source import DEVICE, LIVE, SEARCH

LOG_SILENCE = 10.0  # seconds a search waits for its answer under faults.log == "silent"

PRODUCT_TAG = 9491  # Sunny Tripower X 15


@dataclass
class Counts:
    logins: int = 0
    refused: int = 0  # wrong username or password
    refreshes: int = 0
    refresh_refused: int = 0
    logouts: int = 0
    expired: int = 0  # calls with an expired access token (401)
    unknown: int = 0  # calls with a token it never gave or has ended (401)
    requests: dict[str, int] = field(default_factory=dict)


@dataclass
class Grant:
    username: str
    access: str
    refresh: str
    access_until: float


class EnnexosDevice:
    """The API's state and answers; no sockets here. Thread-safe."""

    def __init__(
        self,
        inverter: SimulatedInverter | None = None,
        *,
        users: dict[str, str] | None = None,
        token_lifetime: float = 3600.0,
        replay: list[Any] | None = None,
        replay_info: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inverter = inverter or SimulatedInverter(3016259999, strings=3, meter=True)
        self.users = users if users is not None else {"collector": "secret"}
        self.token_lifetime = token_lifetime
        self.replay = replay
        self.replay_info = replay_info
        self.clock = clock
        self.grants: list[Grant] = []
        self.counts = Counts()
        self.refuse_refresh = False  # every refresh answered 400 (then a login must follow)
        self.delay = 0.0  # seconds before each answer (a slow device)
        self.on_request: Callable[[str], None] | None = None  # told of each request's path
        self.lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        with self.lock:
            counts = self.counts
            return {
                "grants": len(self.grants),
                "logins": counts.logins,
                "refused": counts.refused,
                "refreshes": counts.refreshes,
                "refresh_refused": counts.refresh_refused,
                "logouts": counts.logouts,
                "expired": counts.expired,
                "unknown": counts.unknown,
                "requests": dict(counts.requests),
            }

    def revoke_all(self) -> None:
        """The device forgets every token (a restart): the next call is answered 401."""
        with self.lock:
            self.grants.clear()

    # --- the API ---------------------------------------------------------------------------

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], token: str | None, body: Any
    ) -> tuple[int, Any]:
        """(HTTP status, JSON or None for an empty body, or bytes for a body that is no JSON)."""
        with self.lock:
            key = f"{method} {path}"
            self.counts.requests[key] = self.counts.requests.get(key, 0) + 1
            if key == "POST /api/v1/token":
                return self._token(body if isinstance(body, dict) else {})
            if key == "GET /api/v1/system/info":
                return 200, {"productFriendlyNameTagId": PRODUCT_TAG, "ennexOS": True}
            if key == "DELETE /api/v1/refreshtoken":
                refresh = query.get("refreshToken", [""])[0]
                before = len(self.grants)
                self.grants = [g for g in self.grants if g.refresh != refresh]
                self.counts.logouts += before - len(self.grants)
                return 204, None
            if key not in (f"POST {LIVE}", f"GET {DEVICE}", f"POST {SEARCH}"):
                return 404, b"Not Found"
            grant = next((g for g in self.grants if g.access == token), None)
            if grant is None:
                self.counts.unknown += 1
                return 401, b"Unauthorized"
            if self.clock() >= grant.access_until:
                self.counts.expired += 1
                return 401, b"Unauthorized"
        if path.startswith("/api/v1/plants/"):
            return 200, self._info()
        if path == SEARCH:
            return self._search(body)
        return 200, self._live()

    def _search(self, body: Any) -> tuple[int, Any]:
        """The inverter's yield log as 15-minute differences of its counter (aggregate Dif),
        each stamped with its interval's end, for the intervals that are over. The grid's
        counters keep no log here: asked for, they answer no values."""
        faults = self.inverter.faults
        if faults.log == "silent":
            time.sleep(LOG_SILENCE)  # longer than any client waits
        if faults.log == "error":
            return 500, b"Internal Server Error"
        try:
            items = body["queryItems"]
            begin, end = (
                int(datetime.fromisoformat(body[key].replace("Z", "+00:00")).timestamp())
                for key in ("dateTimeBegin", "dateTimeEnd")
            )
        except (KeyError, TypeError, ValueError):
            return 400, b"Bad Request"
        log = self.inverter.yield_log
        now = int(self.inverter.household.sim_time())
        first = begin + -begin % LOG_STEP
        answer = []
        for item in items if isinstance(items, list) else []:
            channel = item.get("channelId") if isinstance(item, dict) else None
            ends: list[int] = []
            if channel == "Measurement.Metering.TotWhOut" and item.get("aggregate") == "Dif":
                ends = list(range(first + LOG_STEP, min(end, now) + 1, LOG_STEP))
            energies = [float(log.at(stamp) - log.at(stamp - LOG_STEP)) for stamp in ends]
            answer.append(
                {
                    "channelId": channel,
                    "componentId": SELF,
                    "max": max(energies, default=0.0),
                    "min": min(energies, default=0.0),
                    "values": [
                        {
                            "time": datetime.fromtimestamp(stamp, UTC).strftime(
                                "%Y-%m-%dT%H:%M:%SZ"
                            ),
                            "value": energy,
                        }
                        for stamp, energy in zip(ends, energies, strict=True)
                    ],
                }
            )
        return 200, answer

    def _token(self, form: dict[str, str]) -> tuple[int, Any]:
        grant_type = form.get("grant_type")
        if grant_type == "password":
            username = form.get("username", "")
            if username not in self.users or self.users[username] != form.get("password"):
                self.counts.refused += 1
                return 400, None
            self.counts.logins += 1
            return 200, self._grant(username)
        if grant_type == "refresh_token":
            old = next((g for g in self.grants if g.refresh == form.get("refresh_token")), None)
            if old is None or self.refuse_refresh:
                self.counts.refresh_refused += 1
                return 400, {"error": "invalid_grant"}
            self.grants.remove(old)
            self.counts.refreshes += 1
            return 200, self._grant(old.username)
        return 400, {"error": "unsupported_grant_type"}

    def _grant(self, username: str) -> dict[str, Any]:
        grant = Grant(
            username,
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            self.clock() + self.token_lifetime,
        )
        self.grants.append(grant)
        return {
            "access_token": grant.access,
            "refresh_token": grant.refresh,
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "uiIdleTime": "900",
        }

    # --- values ------------------------------------------------------------------------------

    def _info(self) -> dict[str, Any]:
        if self.replay_info is not None:
            return self.replay_info
        inverter = self.inverter
        return {
            "deviceId": SELF,
            "serial": str(inverter.address.serial),
            "product": "Sunny Tripower X 15 (simulated)",
            "name": "simulated",
            "vendor": "SMA",
            "firmwareVersion": "03.06.15.R",
            "productTagId": PRODUCT_TAG,
            "productGroupTagId": 8009 if inverter.battery else 8001,
            "plantId": "Plant:1",
        }

    def _live(self) -> list[Any]:
        if self.replay is not None:
            return self.replay
        snap = self.inverter.snapshot()
        stamp = datetime.fromtimestamp(snap.time, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        ac = float(snap.ac_power)
        values: dict[str, Any] = {
            "Measurement.GridMs.TotW": ac,
            "Measurement.GridMs.TotW.Pv": ac,
            "Measurement.GridMs.Hz": snap.frequency / 100,
            "Measurement.Metering.TotWhOut": float(snap.energy_total),
            "Measurement.Operation.Health": 307,
            "Measurement.Operation.GriSwStt": 51,
            "Measurement.DcMs.Watt[]": [float(s[0]) for s in snap.strings],
            "Measurement.DcMs.Vol[]": [s[1] / 100 for s in snap.strings],
            "Measurement.DcMs.Amp[]": [s[2] / 1000 for s in snap.strings],
            "Measurement.Coolsys.Inverter.TmpVal[]": [snap.temperature / 100] * 3,
        }
        for phase in "ABC":  # as the inverter's Speedwire records say them
            values[f"Measurement.GridMs.W.phs{phase}"] = ac / 3
            values[f"Measurement.GridMs.PhV.phs{phase}"] = 230.0
            values[f"Measurement.GridMs.A.phs{phase}"] = ac / 3 / 230.0
        if self.inverter.battery:
            values["Measurement.Bat.ChaStt"] = float(snap.soc)
            values["Measurement.BatChrg.CurBatCha"] = float(max(0, snap.battery))
            values["Measurement.BatDsch.CurBatDsch"] = float(max(0, -snap.battery))
            values["Measurement.Bat.Amp[]"] = [snap.bat_current / 1000]
            values["Measurement.Bat.Vol[]"] = [snap.bat_voltage / 100]
            values["Measurement.Bat.TmpVal[]"] = [snap.bat_temperature / 10]
        if self.inverter.meter:
            values["Measurement.Metering.GridMs.TotWOut"] = float(max(0, -snap.grid))
            values["Measurement.Metering.GridMs.TotWIn"] = float(max(0, snap.grid))
            values["Measurement.Metering.GridMs.TotWhOut"] = float(snap.grid_export)
            values["Measurement.Metering.GridMs.TotWhIn"] = float(snap.grid_import)
        return [
            {
                "channelId": channel,
                "componentId": SELF,
                "values": [
                    {"time": stamp, "values": value}
                    if isinstance(value, list)
                    else {"time": stamp, "value": value}
                ],
            }
            for channel, value in sorted(values.items())
        ]


class _Handler(JsonHandler):
    server_version = ""
    sys_version = ""
    timeout = 30
    device: EnnexosDevice  # set on the subclass made per server

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"  # the browser posts to ".../live/"
        if path == "/simulator/state":
            self.send_json(200, self.device.state())
            return
        raw = self.body()
        body: Any = None
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            body = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self.send(400, b"Bad Request", "text/plain")
                return
        if self.device.on_request is not None:
            self.device.on_request(path)
        if self.device.delay:
            time.sleep(self.device.delay)
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        status, answer = self.device.answer(method, path, parse_qs(parts.query), token, body)
        if isinstance(answer, bytes):
            self.send(status, answer, "text/plain")
        elif answer is None:
            self.send(status, b"")
        else:
            headers = {"Set-Cookie": "JSESSIONID=simulated; Path=/; Secure; HttpOnly"}
            self.send_json(status, answer, headers=headers if path == "/api/v1/token" else None)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


class EnnexosSimulator(HttpSimulator):
    """The API on a socket. `start()` returns at once; a thread serves."""

    def __init__(
        self,
        device: EnnexosDevice | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        quiet: bool = True,
    ) -> None:
        self.device = device or EnnexosDevice()
        super().__init__(
            _Handler, {"device": self.device}, host=host, port=port, quiet=quiet, name="ennexos"
        )
        if tls:
            self.use_tls("SMA ennexOS (simulated)", "sma-ennexos")


def load_replay(path: Path) -> tuple[list[Any], dict[str, Any] | None]:
    """A recorded live answer, and the device description recorded beside it (if any)."""
    live = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(live, list):
        raise ValueError("not a live measurements answer (a list of channels)")
    info_path = path.with_name(path.name.replace("measurements", "deviceinfo"))
    info = None
    if info_path != path and info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
    return live, info


# --- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=None, help="port (8444, or 8081 with --http; 0: a free one)"
    )
    parser.add_argument("--http", action="store_true", help="plain HTTP")
    parser.add_argument("--ca-out", type=Path, help="write the CA certificate (PEM) here")
    parser.add_argument("--username", default="collector", help="the account (collector)")
    parser.add_argument("--password", default="secret", help="its password (secret)")
    parser.add_argument(
        "--token-lifetime", type=float, default=3600.0, help="seconds an access token lives"
    )
    parser.add_argument(
        "--replay", type=Path, help="answer from a recorded live answer (JSON) instead"
    )
    parser.add_argument("--serial", type=int, default=3016259999, help="serial number")
    parser.add_argument("--strings", type=int, default=3, help="PV inputs (3)")
    parser.add_argument("--battery", action="store_true", help="a battery (Smart Energy)")
    parser.add_argument("--meter", action="store_true", help="an energy meter at the grid point")
    parser.add_argument("--seed", type=int, default=1, help="household model seed")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def run_from_arguments(args: argparse.Namespace) -> int:
    replay = info = None
    if args.replay is not None:
        try:
            replay, info = load_replay(args.replay)
        except (OSError, ValueError) as exc:
            print(f"simulator: cannot read {args.replay}: {exc}", file=sys.stderr)
            return 2
    if args.token_lifetime <= 0:
        print("simulator: --token-lifetime must be positive", file=sys.stderr)
        return 2
    if not args.http and tls_missing(""):
        return 2
    inverter = SimulatedInverter(
        args.serial,
        strings=args.strings,
        battery=args.battery,
        meter=args.meter,
        household=Household(seed=args.seed, speed=args.speed, peak_pv=15000.0),
        seed=args.seed,
    )
    device = EnnexosDevice(
        inverter,
        users={args.username: args.password},
        token_lifetime=args.token_lifetime,
        replay=replay,
        replay_info=info,
    )
    port = args.port if args.port is not None else (8081 if args.http else 8444)
    try:
        simulator = EnnexosSimulator(
            device, host=args.host, port=port, tls=not args.http, quiet=not args.verbose
        )
    except OSError as exc:
        print(f"simulator: cannot listen on {args.host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    ca_note = simulator.write_ca(args.ca_out, "sma-ennexos-simulator-ca.pem")
    simulator.start()
    what = f"replaying {args.replay.name}" if args.replay else f"serial {args.serial}"
    print(
        f"SMA ennexOS simulator on {simulator.url}, {what}, user {args.username!r} with "
        f"password {args.password!r}, tokens live {args.token_lifetime:g} s{ca_note}",
        flush=True,
    )
    until_signalled()
    simulator.stop()
    state = device.state()
    print(
        f"simulator: {state['logins']} logins, {state['refreshes']} refreshes, "
        f"{state['logouts']} logouts, {state['grants']} token pairs still valid",
        file=sys.stderr,
    )
    return 0
