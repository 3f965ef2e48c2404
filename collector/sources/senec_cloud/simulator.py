"""`collector simulate senec-cloud`: SENEC's login (Keycloak) and app API on one plain-HTTP port.

Serves what the collector's `senec-cloud` kind asks, at the paths SENEC uses, built on the kind's
own codec (PKCE, TOTP) and the household every simulator shares (the one `collector simulate
senec` serves), so that local and cloud tell one story; the cloud's timestamp moves only every
`stamp_every` seconds, as SENEC's does for V2.1/V3 systems.

- `/realms/senec/.well-known/openid-configuration`, `/realms/senec/protocol/openid-connect/auth`
  (a login page: one form with username and password, or with `two_step` the username first),
  `/realms/senec/login-actions/authenticate` (the forms' action; the OTP page when MFA is on),
  `/realms/senec/protocol/openid-connect/token` (authorization code with PKCE S256, refresh);
- `/systems/api/v1`, `/systems/api/v1/<id>/details`, `/measurements/api/v1/systems/<id>/dashboard`,
  `/wallbox/api/v1/systems/<id>/wallboxes/<wallbox id>` (Bearer token; 403 for another system).

Switches, on the command line or at run time with POST /simulator/faults (JSON): `wrong_password`,
`mfa`, `two_step`, `refresh_expired` (refresh tokens refused), `moved` (the API paths answer 400,
as SENEC's old ones did after it moved them), `rate_limited` (429 with Retry-After), `failing`
(500), `login_page_changed` (a page without the login form), `revoke` (every access token given
so far answers 401), `access_lifetime`, `stamp_every`. GET /simulator/stats counts logins,
refreshes and requests.
"""

from __future__ import annotations

import argparse
import html
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from collector.simulators.household import LOG_STEP, EnergyLog, Household, Snapshot
from collector.simulators.serve import HttpSimulator, JsonHandler, until_signalled
from collector.sources.senec_cloud.codec import CLIENT_ID, REDIRECT_URI, pkce_challenge

# A `measurements` answer's series in SENEC's order (ha-senec-v3's sample), each with what the
# household's energy log calls it: energies in kWh, the two percentages as the interval's mean
SERIES = (
    ("POWER_GENERATION", "pv"),
    ("POWER_CONSUMPTION", "house"),
    ("GRID_IMPORT", "grid_import"),
    ("GRID_EXPORT", "grid_export"),
    ("BATTERY_IMPORT", "battery_charge"),
    ("BATTERY_EXPORT", "battery_discharge"),
    ("BATTERY_LEVEL_IN_PERCENT", "soc"),
    ("AUTARKY_IN_PERCENT", "autarky"),
    ("WALLBOX_CONSUMPTION", "wallbox"),
)
LOG_SILENCE = 30.0  # seconds a measurements request waits under faults.log == "silent"
REALM = "/realms/senec"
AUTHENTICATE = f"{REALM}/login-actions/authenticate"
SYSTEM_ID = "999999"
WALLBOX_ID = "1"
SWITCHES = (
    "wrong_password",
    "mfa",
    "two_step",
    "refresh_expired",
    "moved",
    "rate_limited",
    "failing",
    "login_page_changed",
)


@dataclass
class Faults:
    wrong_password: bool = False
    mfa: bool = False
    two_step: bool = False
    refresh_expired: bool = False
    moved: bool = False
    rate_limited: bool = False
    failing: bool = False
    login_page_changed: bool = False
    access_lifetime: float = 300.0
    stamp_every: float = 1.0
    log: str | None = None  # measurements: "error" answered with HTTP 500, "silent" not at all

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name in SWITCHES:
                setattr(self, name, bool(value))
            elif name in ("access_lifetime", "stamp_every"):
                setattr(self, name, float(value))
            elif name != "revoke":
                raise ValueError(f"unknown switch {name!r} (known: {', '.join(SWITCHES)})")


@dataclass
class Account:
    username: str = "user@example.com"
    password: str = "secret"
    totp_secret: str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@dataclass
class Counts:
    logins: int = 0  # authorization codes given
    refreshes: int = 0
    failed_logins: int = 0
    requests: dict[str, int] = field(default_factory=dict)  # "GET /path" -> count


class SenecCloud:
    """The servers' behaviour without the network."""

    def __init__(
        self,
        household: Household | None = None,
        *,
        account: Account | None = None,
        faults: Faults | None = None,
        systems: int = 1,
    ) -> None:
        self.household = household or Household()
        self.energy_log = EnergyLog(self.household)
        self.account = account or Account()
        self.faults = faults or Faults()
        self.systems = [str(int(SYSTEM_ID) + index) for index in range(systems)]
        self.stats = Counts()
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, str]] = {}  # session code -> challenge, user, cookie
        self.codes: dict[str, str] = {}  # authorization code -> PKCE challenge
        self.access: dict[str, float] = {}  # access token -> expiry
        self.refresh: set[str] = set()

    # --- login ---------------------------------------------------------------------------

    def start(self, query: dict[str, str]) -> tuple[str, str]:
        """The authorization request: (the session cookie, the login page)."""
        cookie, session = secrets.token_hex(8), secrets.token_hex(8)
        with self.lock:
            self.sessions[session] = {
                "challenge": query.get("code_challenge", ""),
                "cookie": cookie,
                "user": "",
            }
        return cookie, self.login_page(session, "")

    def action(self, session: str) -> str:
        query = {"session_code": session, "execution": "e1", "client_id": CLIENT_ID, "tab_id": "t"}
        return f"{AUTHENTICATE}?{urlencode(query)}"

    def login_page(self, session: str, message: str, password_only: bool = False) -> str:
        if self.faults.login_page_changed:
            return _page("Wartungsarbeiten", "<p>SENEC is being serviced.</p>")
        if password_only:
            inputs = '<input type="password" id="password" name="password">'
        elif self.faults.two_step:
            inputs = '<input type="text" id="username" name="username" value="">'
        else:
            inputs = (
                '<input type="text" id="username" name="username" value="">'
                '<input type="password" id="password" name="password">'
            )
        error = f'<span id="input-error">{html.escape(message)}</span>' if message else ""
        return _page(
            "Login - SENEC",
            f'<form id="kc-form-login" action="{html.escape(self.action(session))}" method="post">'
            f'{inputs}{error}<input type="hidden" name="credentialId" value="">'
            '<button type="submit" name="login">Login</button></form>',
        )

    def otp_page(self, session: str, message: str) -> str:
        error = f'<span id="input-error">{html.escape(message)}</span>' if message else ""
        return _page(
            "Anmelden",
            f'<form id="kc-otp-login-form" action="{html.escape(self.action(session))}" '
            f'method="post"><input type="text" id="otp" name="otp">{error}'
            '<button type="submit" name="login">Anmelden</button></form>',
        )

    def authenticate(self, session: str, cookie: str, form: dict[str, str]) -> tuple[int, str, str]:
        """A form posted: (status, Location or "", page)."""
        with self.lock:
            state = self.sessions.get(session)
        if state is None or state["cookie"] != cookie:
            return 400, "", _page("Fehler", '<p id="kc-error-message">Cookie not found.</p>')
        account = self.account
        if "otp" in form:
            if not state["user"]:
                return 400, "", _page("Fehler", '<p id="kc-error-message">No login.</p>')
            import pyotp

            if not pyotp.TOTP(account.totp_secret).verify(form["otp"], valid_window=1):
                return 200, "", self.otp_page(session, "Ungültiger Authentifizierungscode.")
            return self._code(session, state)
        if "username" in form and "password" not in form and self.faults.two_step:
            state["user"] = form["username"]
            return 200, "", self.login_page(session, "", password_only=True)
        user = form.get("username", state["user"])
        good = (
            user == account.username
            and form.get("password") == account.password
            and not self.faults.wrong_password
        )
        if not good:
            with self.lock:
                self.stats.failed_logins += 1
            state["user"] = ""
            return 200, "", self.login_page(session, "Invalid username or password.")
        state["user"] = user
        if self.faults.mfa:
            return 200, "", self.otp_page(session, "")
        return self._code(session, state)

    def _code(self, session: str, state: dict[str, str]) -> tuple[int, str, str]:
        code = secrets.token_hex(12)
        with self.lock:
            self.codes[code] = state["challenge"]
            self.sessions.pop(session, None)
        query = urlencode({"session_state": "s", "iss": f"http://sso{REALM}", "code": code})
        return 302, f"{REDIRECT_URI}?{query}", ""

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type")
        with self.lock:
            if grant == "authorization_code":
                challenge = self.codes.pop(form.get("code", ""), None)
                if challenge is None or pkce_challenge(form.get("code_verifier", "")) != challenge:
                    return 400, {"error": "invalid_grant", "error_description": "Code not valid"}
                self.stats.logins += 1
            elif grant == "refresh_token":
                token = form.get("refresh_token", "")
                if token not in self.refresh or self.faults.refresh_expired:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "Token is not active",
                    }
                self.refresh.discard(token)
                self.stats.refreshes += 1
            else:
                return 400, {"error": "unsupported_grant_type"}
            access, refresh = secrets.token_hex(16), secrets.token_hex(16)
            self.access[access] = time.time() + self.faults.access_lifetime
            self.refresh.add(refresh)
        return 200, {
            "access_token": access,
            "expires_in": self.faults.access_lifetime,
            "refresh_expires_in": 2592000,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "scope": "meinsenec roles",
        }

    def revoke(self) -> None:
        with self.lock:
            self.access.clear()

    def authorised(self, header: str) -> bool:
        token = header.removeprefix("Bearer ").strip()
        with self.lock:
            expiry = self.access.get(token)
        return expiry is not None and time.time() < expiry

    # --- the API -------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        every = max(self.faults.stamp_every, 1.0)
        with self.lock:
            now = self.household.sim_time()
            stamp = now - now % every
            return self.household.snapshot(wall=self._wall(stamp))

    def _wall(self, sim: float) -> float:
        household = self.household
        return household._wall_start + (sim - household._sim_start - household.offset) / (
            household.speed
        )

    def api(self, path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        parts = tuple(part for part in path.split("/") if part)
        match parts:
            case ("measurements", "api", "v1", "systems", system, "measurements"):
                return self._for(system, lambda _: self._measurements(query or {}))
            case ("systems", "api", "v1"):
                return 200, [self._system(system) for system in self.systems]
            case ("systems", "api", "v1", system, "details"):
                return self._for(system, self._details)
            case ("measurements", "api", "v1", "systems", system, "dashboard"):
                return self._for(system, self._dashboard)
            case ("wallbox", "api", "v1", "systems", system, "wallboxes", "1"):
                return self._for(system, self._wallbox)
        return 404, {"status": 404, "error": "Not Found", "path": path}

    def _for(self, system: str, answer: Any) -> tuple[int, Any]:
        if system not in self.systems:
            return 403, {"status": 403, "error": "Forbidden", "errorCode": "403", "message": None}
        return 200, answer(system)

    def _system(self, system: str) -> dict[str, Any]:
        return {
            "id": int(system),
            "controlUnitNumber": f"S{system}",
            "caseNumber": f"C{system}",
            "city": "Musterstadt",
            "countryCode": "DE",
            "timezoneText": "Europe/Berlin",
            "wallboxIds": [WALLBOX_ID],
            "product": {"name": "SENEC.Home V3 hybrid duo", "generation": "V3"},
        }

    def _dashboard(self, system: str) -> dict[str, Any]:
        s = self.snapshot()
        return {
            "currently": {
                "powerGenerationInW": s.pv,
                "powerConsumptionInW": s.house,
                "gridFeedInInW": max(-s.grid, 0.0),
                "gridDrawInW": max(s.grid, 0.0),
                "batteryChargeInW": max(s.battery, 0.0),
                "batteryDischargeInW": max(-s.battery, 0.0),
                "batteryLevelInPercent": s.soc,
                "selfSufficiencyInPercent": 90.0,
                "wallboxInW": sum(s.wallbox),
            },
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s.time)),
            "electricVehicleConnected": any(s.ev_connected),
            "numberOfWallboxes": 1,
            "systemId": int(system),
            "systemType": "V123",
            "storageDeviceState": "CHARGING" if s.battery > 0 else "DISCHARGING",
        }

    def _measurements(self, query: dict[str, str]) -> Any:
        """The household's energy log from `from` to `to`: the intervals that begin in it and
        are over, in kWh, in SENEC's order of series."""
        if query.get("resolution") != "FIVE_MINUTES":
            return {"status": 400, "error": "Bad Request", "message": "resolution"}
        try:
            start, end = (
                int(datetime.fromisoformat(query[key].replace("Z", "+00:00")).timestamp())
                for key in ("from", "to")
            )
        except (KeyError, ValueError):
            return {"status": 400, "error": "Bad Request", "message": "from, to"}
        with self.lock:
            intervals = self.energy_log.intervals(start, end)
        return {
            "timeSeries": [
                {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(begin)),
                    "measurements": {
                        "durationInSeconds": LOG_STEP,
                        "values": [_series_value(name, values) for _, name in SERIES],
                    },
                }
                for begin, values in intervals
            ],
            "measurements": [senec for senec, _ in SERIES],
            "electricVehicleConnected": False,
        }

    def _details(self, system: str) -> dict[str, Any]:
        s = self.snapshot()
        return {
            "systemOverview": {"systemId": int(system), "productName": "SENEC.Home V3 hybrid duo"},
            "casing": {"serial": f"C{system}", "temperatureInCelsius": s.case_temp},
            "mcu": {
                "mainControllerUnitState": {
                    "name": "LADEN" if s.battery > 0 else "ENTLADEN",
                    "severity": "INFO",
                    "operatingMode": "FULL_OPERATION",
                },
                "firmwareVersion": s.version.lstrip("0"),
            },
        }

    def _wallbox(self, system: str) -> dict[str, Any]:
        s = self.snapshot()
        return {
            "id": WALLBOX_ID,
            "name": "Wallbox 1",
            "state": {
                "electricVehicleConnected": bool(s.ev_connected[0]),
                "isCharging": s.wallbox[0] > 0,
            },
            "chargingCurrents": {"currentApparentChargingPowerInKw": s.wallbox[0] / 1000.0},
        }


def _series_value(name: str, values: dict[str, float]) -> float:
    if name == "soc":
        return values["soc"]
    if name == "autarky":
        used = values["house"]
        return 100.0 * (1 - values["grid_import"] / used) if used else 100.0
    return values[name] / 1000.0


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="de"><head><meta charset="UTF-8"><title>{title}</title>'
        f'</head><body><div class="login-form">{body}</div></body></html>'
    )


class _Handler(JsonHandler):
    cloud: SenecCloud

    def _count(self, method: str, path: str) -> None:
        with self.cloud.lock:
            key = f"{method} {path}"
            self.cloud.stats.requests[key] = self.cloud.stats.requests.get(key, 0) + 1

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self._count("GET", path)
        cloud = self.cloud
        faults = cloud.faults
        if path == "/simulator/stats":
            with cloud.lock:
                self.send_json(200, vars(cloud.stats))
            return
        if path == "/simulator/faults":
            self.send_json(200, vars(faults))
            return
        if faults.failing:
            self.send(500, b"<html><body>500 Internal Server Error</body></html>", "text/html")
            return
        if path == f"{REALM}/.well-known/openid-configuration":
            base = f"http://{self.headers.get('Host')}{REALM}/protocol/openid-connect"
            self.send_json(
                200,
                {
                    "issuer": f"http://{self.headers.get('Host')}{REALM}",
                    "authorization_endpoint": f"{base}/auth",
                    "token_endpoint": f"{base}/token",
                },
            )
        elif path == f"{REALM}/protocol/openid-connect/auth":
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            cookie, page = cloud.start(query)
            self.send(
                200,
                page.encode(),
                "text/html;charset=utf-8",
                {"Set-Cookie": f"AUTH_SESSION_ID={cookie}; Path={REALM}/; HttpOnly"},
            )
        else:
            self._api(path, {key: values[0] for key, values in parse_qs(parts.query).items()})

    def _api(self, path: str, query: dict[str, str] | None = None) -> None:
        cloud, faults = self.cloud, self.cloud.faults
        if faults.rate_limited:
            self.send_json(
                429, {"status": 429, "error": "Too Many Requests"}, headers={"Retry-After": "120"}
            )
            return
        if not cloud.authorised(self.headers.get("Authorization", "")):
            self.send(401, b"", headers={"WWW-Authenticate": "Bearer"})
            return
        if faults.moved:
            self.send_json(400, {"status": 400, "error": "Bad Request", "path": path})
            return
        if path.endswith("/measurements") and faults.log == "error":
            self.send_json(500, {"status": 500, "error": "Internal Server Error"})
            return
        if path.endswith("/measurements") and faults.log == "silent":
            time.sleep(LOG_SILENCE)  # longer than any client waits
        status, data = cloud.api(path, query)
        if isinstance(data, dict) and data.get("status") == 400:
            status = 400
        self.send_json(status, data)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self._count("POST", path)
        cloud = self.cloud
        body = self.body()
        if path == "/simulator/faults":
            try:
                changes = json.loads(body or b"{}")
                cloud.faults.update(changes)
            except (ValueError, TypeError, AttributeError) as exc:
                self.send_json(400, {"error": str(exc)})
                return
            if changes.get("revoke"):
                cloud.revoke()
            self.send_json(200, vars(cloud.faults))
            return
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if cloud.faults.failing:
            self.send(500, b"<html><body>500 Internal Server Error</body></html>", "text/html")
            return
        if path == AUTHENTICATE:
            session = parse_qs(parts.query).get("session_code", [""])[0]
            cookie = _cookie(self.headers.get("Cookie", ""), "AUTH_SESSION_ID")
            status, location, page = cloud.authenticate(session, cookie, form)
            if status == 302:
                self.send(302, b"", headers={"Location": location})
            else:
                self.send(status, page.encode(), "text/html;charset=utf-8")
        elif path == f"{REALM}/protocol/openid-connect/token":
            status, data = cloud.token(form)
            self.send_json(status, data)
        else:
            self.send_json(404, {"error": "not found"})


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class SenecCloudSimulator(HttpSimulator):
    """The servers on a socket. `start()` returns at once; the server runs in a thread."""

    def __init__(
        self,
        cloud: SenecCloud | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
    ) -> None:
        self.cloud = cloud or SenecCloud()
        state = {"cloud": self.cloud}
        super().__init__(_Handler, state, host=host, port=port, quiet=quiet, name="senec-cloud")

    def settings(self) -> dict[str, str]:
        """The kind's URL keys pointing here."""
        return {
            "cloud_sso_url": f"{self.url}{REALM}",
            "cloud_systems_url": f"{self.url}/systems/api/v1",
            "cloud_measurements_url": f"{self.url}/measurements/api/v1",
            "cloud_wallbox_url": f"{self.url}/wallbox/api/v1",
        }

    def totp_uri(self) -> str:
        account = self.cloud.account
        return f"otpauth://totp/SENEC:{account.username}?secret={account.totp_secret}&issuer=SENEC"


# --- command line ------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (8081; 0 picks a free one)")
    parser.add_argument("--username", default=Account.username, help="the account's e-mail")
    parser.add_argument("--password", default=Account.password, help="the account's password")
    parser.add_argument("--systems", type=int, default=1, help="how many systems the account has")
    parser.add_argument("--seed", type=int, default=1, help="household model seed")
    parser.add_argument(
        "--stamp-every",
        type=float,
        default=60.0,
        help="seconds between SENEC's timestamps (V3: about 300; Home 4: 60)",
    )
    parser.add_argument(
        "--access-lifetime", type=float, default=300.0, help="seconds an access token lasts"
    )
    for switch in SWITCHES:
        parser.add_argument(
            f"--{switch.replace('_', '-')}", action="store_true", help=f"start with {switch}"
        )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def run_from_arguments(args: argparse.Namespace) -> int:
    faults = Faults(access_lifetime=args.access_lifetime, stamp_every=args.stamp_every)
    faults.update({switch: getattr(args, switch) for switch in SWITCHES})
    cloud = SenecCloud(
        Household(seed=args.seed),
        account=Account(args.username, args.password),
        faults=faults,
        systems=args.systems,
    )
    try:
        simulator = SenecCloudSimulator(
            cloud, host=args.host, port=args.port, quiet=not args.verbose
        )
    except OSError as exc:
        print(
            f"simulator: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    simulator.start()
    print(f"SENEC cloud simulator listening on {simulator.url}", flush=True)
    for key, value in simulator.settings().items():
        print(f"  SENEC_{key.upper()}={value}", flush=True)
    print(f"  SENEC_USERNAME={cloud.account.username} (password {cloud.account.password})")
    if faults.mfa:
        print(f"  SENEC_TOTP_URI={simulator.totp_uri()}", flush=True)
    until_signalled()
    simulator.stop()
    return 0
