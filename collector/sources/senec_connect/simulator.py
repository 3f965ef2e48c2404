"""`collector simulate senec-connect`: SENEC.Connect's API on one plain-HTTP port.

`GET /senec-connect/v1/systems/device-data/general` with the header `Ocp-Apim-Subscription-Key`
answers every system of the account, from the household every simulator shares: a Home 4 (E4)
with battery, meter and wallbox, `systems` of them, and with `v3` one more V3 that has only its
nameplate (as SENEC.Connect answers for V3 systems today). Switches, on the command line or at
run time with POST /simulator/faults (JSON): `quota` (429 as Azure API Management answers when
the quota is used up), `failing` (500, an RFC 7807 problem), `v3`. GET /simulator/stats counts
the requests.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from collector.simulators.household import Household
from collector.simulators.serve import HttpSimulator, JsonHandler, until_signalled

BASE = "/senec-connect/v1"
PATH = f"{BASE}/systems/device-data/general"
KEY = "simulated-subscription-key"
SWITCHES = ("quota", "failing", "v3")


@dataclass
class Faults:
    quota: bool = False
    failing: bool = False
    v3: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name not in SWITCHES:
                raise ValueError(f"unknown switch {name!r} (known: {', '.join(SWITCHES)})")
            setattr(self, name, bool(value))


class SenecConnect:
    """The API's behaviour without the network."""

    def __init__(
        self,
        household: Household | None = None,
        *,
        key: str = KEY,
        systems: int = 1,
        faults: Faults | None = None,
    ) -> None:
        self.household = household or Household()
        self.key = key
        self.systems = systems
        self.faults = faults or Faults()
        self.requests = 0
        self.lock = threading.Lock()

    def answer(self, key: str) -> tuple[int, Any, str]:
        """(status, JSON, content type) for one request with this subscription key."""
        with self.lock:
            self.requests += 1
            if key != self.key:
                return (
                    401,
                    {
                        "statusCode": 401,
                        "message": "Access denied due to invalid subscription key. Make sure to "
                        "provide a valid key for an active subscription.",
                    },
                    "application/json",
                )
            if self.faults.quota:
                return (
                    429,
                    {
                        "statusCode": 429,
                        "message": "Out of call volume quota. "
                        "Quota will be replenished in 10.00:00:00.",
                    },
                    "application/json",
                )
            if self.faults.failing:
                return (
                    500,
                    {
                        "type": "about:blank",
                        "title": "Internal Server Error",
                        "status": 500,
                        "detail": "device data service unavailable",
                    },
                    "application/problem+json",
                )
            snapshot = self.household.snapshot()
        systems: list[dict[str, Any]] = []
        for number in range(1, self.systems + 1):
            share = 1.0 if number == 1 else 0.5  # a second system: half the household
            systems.append(
                {
                    "battery": {
                        "state": 0,
                        "state_of_charge": snapshot.soc,
                        "power": snapshot.battery * share,
                        "voltage": snapshot.bat_voltage,
                        "current": snapshot.bat_current * share,
                    },
                    "meter": {
                        "grid_power": snapshot.grid * share,
                        "consumption": (snapshot.house - sum(snapshot.wallbox)) * share,
                        "production": snapshot.pv * share,
                    },
                    "evse": [
                        {
                            "id": "WB-01",
                            "ev_connected": bool(snapshot.ev_connected[0]),
                            "ev_charging": snapshot.wallbox[0] > 0,
                            "charging_power": snapshot.wallbox[0] * share,
                        }
                    ],
                    "bessNameplate": {
                        "manufacturer": "SENEC GmbH",
                        "model": "SENEC.Home E4 - 1ph 6 AC",
                        "serial_number": f"v4-sim-{number:04d}",
                        "system_id": f"S4H1-SIM-{number:04d}",
                        "design_capacity": 10000,
                        "active_charge_power": 2500,
                        "active_discharge_power": 2500,
                    },
                }
            )
        if self.faults.v3:
            systems.append(
                {
                    "battery": None,
                    "meter": None,
                    "evse": None,
                    "bessNameplate": {
                        "manufacturer": "SENEC GmbH",
                        "model": "SENEC.Home V3 hybrid duo",
                        "serial_number": "v3-sim-0001",
                        "system_id": None,
                    },
                }
            )
        return 200, systems, "application/json"


class _Handler(JsonHandler):
    api: SenecConnect

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/simulator/stats":
            self.send_json(200, {"requests": self.api.requests})
        elif path == PATH:
            self.send_json(*self.api.answer(self.headers.get("Ocp-Apim-Subscription-Key", "")))
        else:
            self.send_json(404, {"statusCode": 404, "message": "Resource not found"})

    def do_POST(self) -> None:
        body = self.body()
        if urlsplit(self.path).path != "/simulator/faults":
            self.send_json(404, {"statusCode": 404, "message": "Resource not found"})
            return
        try:
            self.api.faults.update(json.loads(body or b"{}"))
        except (ValueError, TypeError, AttributeError) as exc:
            self.send_json(400, {"error": str(exc)})
            return
        self.send_json(200, vars(self.api.faults))


class SenecConnectSimulator(HttpSimulator):
    """The API on a socket. `start()` returns at once; the server runs in a thread."""

    def __init__(
        self,
        api: SenecConnect | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
    ) -> None:
        self.api = api or SenecConnect()
        state = {"api": self.api}
        super().__init__(_Handler, state, host=host, port=port, quiet=quiet, name="senec-connect")

    @property
    def url(self) -> str:
        return f"{self.origin}{BASE}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8082, help="port (8082; 0 picks a free one)")
    parser.add_argument("--key", default=KEY, help="the subscription key it accepts")
    parser.add_argument("--systems", type=int, default=1, help="how many Home 4 systems")
    parser.add_argument("--seed", type=int, default=1, help="household model seed")
    for switch in SWITCHES:
        parser.add_argument(f"--{switch}", action="store_true", help=f"start with {switch}")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def run_from_arguments(args: argparse.Namespace) -> int:
    faults = Faults(**{switch: getattr(args, switch) for switch in SWITCHES})
    api = SenecConnect(Household(seed=args.seed), key=args.key, systems=args.systems, faults=faults)
    try:
        simulator = SenecConnectSimulator(
            api, host=args.host, port=args.port, quiet=not args.verbose
        )
    except OSError as exc:
        print(
            f"simulator: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    simulator.start()
    print(f"SENEC.Connect simulator listening on {simulator.url}", flush=True)
    print(f"  SENEC_CONNECT_URL={simulator.url}", flush=True)
    print(f"  SENEC_CONNECT_KEY={api.key}", flush=True)
    until_signalled()
    simulator.stop()
    return 0
