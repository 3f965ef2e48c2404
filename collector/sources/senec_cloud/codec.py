"""SENEC's app API without I/O: the Keycloak login's pages and tokens, and the answers' fields.

The login is the one SENEC's app makes (OAuth2 authorization code with PKCE at SENEC's
Keycloak, public client `endcustomer-app-frontend`): the pages are HTML forms, found by their
inputs (`username`, `password`, `otp`), not by ids or texts that SENEC's theme may change.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collector.errors import ProtocolError
from collector.values import round1, round_int

CLIENT_ID = "endcustomer-app-frontend"
REDIRECT_URI = "senec-app-auth://keycloak.prod"
SCOPE = "roles meinsenec"


# --- PKCE ------------------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A code verifier (64 URL-safe characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_query(challenge: str) -> dict[str, str]:
    return {
        "client_id": CLIENT_ID,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": SCOPE,
    }


def code_from_redirect(location: str) -> str | None:
    """The authorization code from the redirect to the app's URI, or None if it is not one."""
    if not location.startswith(REDIRECT_URI):
        return None
    codes = parse_qs(urlsplit(location).query).get("code")
    return codes[0] if codes else None


# --- the login pages -------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    id: str = ""
    inputs: dict[str, str] = field(default_factory=dict)  # name -> value as given in the page

    def has(self, *names: str) -> bool:
        return all(name in self.inputs for name in names)


@dataclass
class Page:
    """What the collector needs of a Keycloak page: its title, forms and error message."""

    title: str = ""
    forms: list[Form] = field(default_factory=list)
    message: str = ""  # the error shown to the user, e.g. "Invalid username or password."

    def form_with(self, *names: str) -> Form | None:
        return next((form for form in self.forms if form.has(*names)), None)


_MESSAGE_MARKS = ("input-error", "kc-feedback", "alert-error", "kc-error-message")


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None
        self._in_title = False
        self._message_depth = 0  # > 0 inside an element that holds an error message
        self._title: list[str] = []
        self._message: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = Form(values.get("action", ""), values.get("id", ""))
            self.page.forms.append(self._form)
        elif tag == "input" and self._form is not None and values.get("name"):
            self._form.inputs[values["name"]] = values.get("value", "")
        elif tag == "title":
            self._in_title = True
        if self._message_depth:
            self._message_depth += 1
        elif any(
            mark in f"{values.get('id', '')} {values.get('class', '')}" for mark in _MESSAGE_MARKS
        ) and tag in ("span", "div", "p"):
            self._message_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "title":
            self._in_title = False
        if self._message_depth:
            self._message_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title.append(data)
        if self._message_depth:
            self._message.append(data)

    def result(self) -> Page:
        self.page.title = " ".join("".join(self._title).split())
        self.page.message = " ".join("".join(self._message).split())
        return self.page


def parse_page(text: str) -> Page:
    """The forms and messages of a page of SENEC's login server; ProtocolError for a page the
    HTML parser cannot read (Python's parser raises AssertionError on some declarations, such
    as `<![OCTYPE`: found by fuzzing)."""
    parser = _PageParser()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError) as exc:
        raise ProtocolError(f"SENEC's login page is no HTML we can read ({exc})") from None
    page = parser.result()
    for form in page.forms:
        form.action = html.unescape(form.action)
    return page


# --- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """An access token and the refresh token that makes new ones; times are Unix seconds."""

    access: str
    refresh: str
    expires_at: float
    refresh_expires_at: float | None  # None: SENEC did not say

    @classmethod
    def from_answer(cls, answer: Any, now: float) -> Tokens:
        """From the token endpoint's JSON; ProtocolError if it is none."""
        if not isinstance(answer, dict):
            raise ProtocolError("the token endpoint answered no JSON object")
        access, refresh = answer.get("access_token"), answer.get("refresh_token")
        if not isinstance(access, str) or not access:
            raise ProtocolError("the token endpoint's answer has no access_token")
        expires = _seconds(answer.get("expires_in"), 300.0)
        refresh_expires = answer.get("refresh_expires_in")
        return cls(
            access,
            refresh if isinstance(refresh, str) else "",
            now + expires,
            now + _seconds(refresh_expires, 0.0) if refresh_expires else None,
        )

    def fresh(self, now: float, margin: float) -> bool:
        """Good for at least `margin` more seconds."""
        return now + margin < self.expires_at

    def expired(self) -> Tokens:
        """The same, with the access token taken as expired (the server refused it)."""
        return Tokens("", self.refresh, 0.0, self.refresh_expires_at)

    def can_refresh(self, now: float) -> bool:
        return bool(self.refresh) and (
            self.refresh_expires_at is None or now < self.refresh_expires_at
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access,
            "refresh_token": self.refresh,
            "expires_at": self.expires_at,
            "refresh_expires_at": self.refresh_expires_at,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Tokens | None:
        """From what as_dict wrote; None if it is not that."""
        try:
            refresh_expires = data["refresh_expires_at"]
            return cls(
                str(data["access_token"]),
                str(data["refresh_token"]),
                float(data["expires_at"]),
                None if refresh_expires is None else float(refresh_expires),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


# --- TOTP ------------------------------------------------------------------------------------


def totp_problem(uri: str) -> str | None:
    """What is wrong with an otpauth:// URI, in words for a configuration error; None if good."""
    import pyotp

    parts = urlsplit(uri)
    if parts.scheme != "otpauth":
        return "must be an otpauth://totp/... URI (from the QR code of SENEC's MFA setup)"
    if parts.netloc != "totp":
        return f"must be a TOTP URI (otpauth://totp/...), got otpauth://{parts.netloc}/..."
    secret = parse_qs(parts.query).get("secret", [""])[0]
    if not secret:
        return "has no secret= parameter"
    try:
        base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    except ValueError:
        return "its secret is not base32 (letters A-Z and digits 2-7)"
    try:
        otp = pyotp.parse_uri(uri)
    except ValueError as exc:
        return f"cannot be read: {exc}"
    if not isinstance(otp, pyotp.TOTP):
        return "must be a TOTP URI (otpauth://totp/...)"
    return None


def totp_code(uri: str, at: float) -> str:
    import pyotp

    otp = pyotp.parse_uri(uri)
    assert isinstance(otp, pyotp.TOTP)
    return otp.at(int(at))


# --- answers to fields -----------------------------------------------------------------------


# SENEC's names of its series in a `measurements` answer (the order is the answer's own list)
# and the fields of `<measurement>_ENERGY` they become; values in kWh. BATTERY_IMPORT is energy
# into the battery, BATTERY_EXPORT out of it (senec-python-anchors.md §4.5). The percentages
# (battery level, autarky) are averages, not energies, and are left out.
ENERGY_SERIES = {
    "POWER_GENERATION": "inverter_energy",
    "POWER_CONSUMPTION": "house_energy",
    "GRID_IMPORT": "grid_import_energy",
    "GRID_EXPORT": "grid_export_energy",
    "BATTERY_IMPORT": "bat_charge_energy",
    "BATTERY_EXPORT": "bat_discharge_energy",
    "WALLBOX_CONSUMPTION": "wallbox_energy",
}


@dataclass(frozen=True)
class Interval:
    start: int  # Unix seconds
    seconds: int  # its duration
    energies: dict[str, float]  # field -> Wh


def energy_intervals(answer: Any) -> tuple[list[Interval], list[str]]:
    """The intervals of a `measurements` answer, `{"measurements": [names], "timeSeries":
    [{"date": <start>, "measurements": {"durationInSeconds": 300, "values": [kWh, …]}}]}` (as
    ha-senec-v3 documents one for MONTH), with their energies in Wh; and what was wrong with
    the entries left out. ProtocolError when the answer is not this shape at all."""
    names = answer.get("measurements") if isinstance(answer, dict) else None
    series = answer.get("timeSeries") if isinstance(answer, dict) else None
    if not isinstance(names, list) or not isinstance(series, list):
        raise ProtocolError(
            "SENEC's measurements answer has no list of measurements and timeSeries"
        )
    intervals: list[Interval] = []
    problems: list[str] = []
    for entry in series:
        date = entry.get("date") if isinstance(entry, dict) else None
        inner = entry.get("measurements") if isinstance(entry, dict) else None
        values = inner.get("values") if isinstance(inner, dict) else None
        seconds = inner.get("durationInSeconds") if isinstance(inner, dict) else None
        try:
            start = _moment(date)
        except ProtocolError as exc:
            problems.append(str(exc))
            continue
        if type(seconds) is not int or seconds <= 0:
            problems.append(f"the interval at {date} has no duration")
            continue
        if not isinstance(values, list) or len(values) != len(names):
            problems.append(f"the interval at {date} has not one value per measurement")
            continue
        energies: dict[str, float] = {}
        for name, value in zip(names, values, strict=True):
            field = ENERGY_SERIES.get(name) if isinstance(name, str) else None
            if field is None or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value) and value >= 0:
                energies[field] = round(value * 1000.0, 3)
        intervals.append(Interval(start, seconds, energies))
    return intervals, problems


def _moment(text: Any, what: str = "the time") -> int:
    """An ISO 8601 time with its zone as Unix seconds; ProtocolError naming `what` if not."""
    if not isinstance(text, str):
        raise ProtocolError(f"{what} is no text: {text!r}")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"{what} {text!r} is no time") from None
    if moment.tzinfo is None:
        raise ProtocolError(f"{what} {text!r} has no time zone")
    return int(moment.timestamp())


def timestamp_of(dashboard: Any) -> int:
    """SENEC's time of the dashboard's values as Unix seconds; ProtocolError if it has none."""
    text = dashboard.get("timestamp") if isinstance(dashboard, dict) else None
    if not isinstance(text, str):
        raise ProtocolError("SENEC's dashboard has no timestamp")
    return _moment(text, "SENEC's dashboard timestamp")


def _number(data: Any, *path: str) -> float | None:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    if isinstance(data, bool) or not isinstance(data, int | float):
        return None
    return float(data) if math.isfinite(data) else None


def dashboard_fields(
    dashboard: Any, wallboxes: list[Any] | None, details: Any | None
) -> tuple[dict[str, Any], list[str]]:
    """The fields from a dashboard answer, the system's wallboxes (None: it has none) and, in
    full mode, its details; and what was missing or unusable (each costs its field only)."""
    fields: dict[str, Any] = {}
    problems: list[str] = []
    now = dashboard.get("currently") if isinstance(dashboard, dict) else None
    if not isinstance(now, dict):
        raise ProtocolError("SENEC's dashboard has no 'currently' values")

    def whole(name: str, key: str) -> None:
        value = _number(now, key)
        if value is None:
            problems.append(f"currently.{key} missing or not a number")
        else:
            fields[name] = max(round_int(value), 0)

    whole("inverter_power", "powerGenerationInW")
    whole("grid_power_plus", "gridDrawInW")
    whole("grid_power_minus", "gridFeedInInW")
    whole("bat_power_plus", "batteryChargeInW")
    whole("bat_power_minus", "batteryDischargeInW")
    level = _number(now, "batteryLevelInPercent")
    if level is None:
        problems.append("currently.batteryLevelInPercent missing or not a number")
    else:
        fields["bat_fuel_charge"] = round1(level)
    connected = dashboard.get("electricVehicleConnected")
    if isinstance(connected, bool):
        fields["ev_connected"] = connected
    wallbox_power: int | None = None
    if wallboxes is not None:
        wallbox_power = 0
        for wallbox in wallboxes:
            kw = _number(wallbox, "chargingCurrents", "currentApparentChargingPowerInKw")
            if kw is None:
                problems.append(
                    "a wallbox has no chargingCurrents.currentApparentChargingPowerInKw"
                )
                wallbox_power = None
                break
            wallbox_power += round_int(kw * 1000)
        if wallbox_power is not None:
            fields["wallbox_charge_power"] = wallbox_power
    consumption = _number(now, "powerConsumptionInW")
    if consumption is None:
        problems.append("currently.powerConsumptionInW missing or not a number")
    elif wallboxes is not None and wallbox_power is None:
        # SENEC's consumption includes the wallbox: without its power the house's is unknown
        problems.append("house_power left out: the wallbox's power is missing")
    else:
        fields["house_power"] = max(round_int(consumption) - (wallbox_power or 0), 0)
    if details is not None:
        fields.update(_details_fields(details, problems))
    return fields, problems


def _details_fields(details: Any, problems: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    temperature = _number(details, "casing", "temperatureInCelsius")
    if temperature is None:
        problems.append("details casing.temperatureInCelsius missing")
    else:
        fields["case_temp"] = round1(temperature)
    mcu = details.get("mcu") if isinstance(details, dict) else None
    mcu = mcu if isinstance(mcu, dict) else {}
    version = mcu.get("firmwareVersion")
    if isinstance(version, str | int) and not isinstance(version, bool) and str(version):
        fields["application_version"] = str(version)  # a text, always (an int once broke series)
    state = mcu.get("mainControllerUnitState")
    if isinstance(state, dict) and isinstance(state.get("name"), str):
        severity = state.get("severity")
        if isinstance(severity, str) and severity:  # Home.4 sends none: no state then
            fields["current_state"] = state["name"].replace("_", " ")
            fields["current_state_ok"] = severity == "INFO"
    return fields
