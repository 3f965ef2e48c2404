"""The `senec-cloud` kind against its simulator over real HTTP, and on SENEC's recorded answers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from collector.errors import AuthError, DeviceUnreachable, LoginRefused, ProtocolError, SourceError
from collector.reading import Reading
from collector.sources.senec_cloud import codec, fields
from collector.sources.senec_cloud.client import ApiMoved
from collector.sources.senec_cloud.settings import SenecCloudSettings
from collector.sources.senec_cloud.simulator import Account, SenecCloud, SenecCloudSimulator
from collector.sources.senec_cloud.source import SenecCloudSource
from tests.conftest import RECORDINGS, recording

AUTHENTICATE = "POST /realms/senec/login-actions/authenticate"


@pytest.fixture
def simulator() -> Iterator[SenecCloudSimulator]:
    server = SenecCloudSimulator(SenecCloud(systems=2)).start()
    yield server
    server.stop()


def settings_for(simulator: SenecCloudSimulator, **changes: Any) -> SenecCloudSettings:
    account = simulator.cloud.account
    values: dict[str, Any] = {
        "username": account.username,
        "password": account.password,
        **simulator.settings(),
    }
    values.update(changes)
    return SenecCloudSettings(**values)


class Clock:
    """The source's clock, moved on by the test (tokens expire without waiting)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def polls(source: SenecCloudSource, count: int = 1) -> list[Reading | SourceError | None]:
    """Poll `count` times; each poll's reading, None, or the SourceError it raised."""

    async def main() -> list[Reading | SourceError | None]:
        results: list[Reading | SourceError | None] = []
        for _ in range(count):
            try:
                results.append(await source.poll())
            except SourceError as exc:
                results.append(exc)
        await source.aclose()
        return results

    return asyncio.run(main())


def source_for(
    simulator: SenecCloudSimulator, state: Path | None, clock: Clock | None = None, **changes: Any
) -> SenecCloudSource:
    return SenecCloudSource(
        settings_for(simulator, **changes), "cloud", state, clock=clock or Clock()
    )


def requests(simulator: SenecCloudSimulator, key: str) -> int:
    return simulator.cloud.stats.requests.get(key, 0)


# --- the login ---------------------------------------------------------------------------


@pytest.mark.parametrize("two_step", [False, True], ids=["one form", "two steps"])
@pytest.mark.parametrize("mfa", [False, True], ids=["no MFA", "MFA"])
def test_the_whole_login_then_a_reading(
    simulator: SenecCloudSimulator, tmp_path: Path, two_step: bool, mfa: bool
) -> None:
    simulator.cloud.faults.update({"two_step": two_step, "mfa": mfa})
    totp: dict[str, Any] = {"totp_uri": simulator.totp_uri()} if mfa else {}
    (reading,) = polls(source_for(simulator, tmp_path, None, request_mode="full", **totp))
    assert isinstance(reading, Reading)
    assert simulator.cloud.stats.logins == 1
    steps = 1 + int(two_step) + int(mfa)
    assert requests(simulator, AUTHENTICATE) == steps
    assert set(reading.fields) == {*fields.MINIMAL, *fields.FULL}
    assert reading.fields["measure_time"] == int(reading.time.timestamp())
    token_file = tmp_path / "tokens.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert simulator.cloud.account.password not in token_file.read_text()


def test_a_wrong_password_backs_off_without_a_second_attempt(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    source = source_for(simulator, tmp_path, password="wrong")
    first, second = polls(source, 2)
    assert isinstance(first, LoginRefused)
    assert "SENEC refused the login: Invalid username or password." in str(first)
    assert "SENEC_PASSWORD" in str(first)
    assert first.retry_after == 300.0
    assert not first.permanent
    assert isinstance(second, LoginRefused)  # said again, without asking SENEC
    assert "next login attempt in 5 min" in str(second)
    assert requests(simulator, AUTHENTICATE) == 1
    assert simulator.cloud.stats.failed_logins == 1


def test_the_login_back_off_grows(simulator: SenecCloudSimulator, tmp_path: Path) -> None:
    clock = Clock()
    source = source_for(simulator, tmp_path, clock, password="wrong")

    async def main() -> list[float | None]:
        waits = []
        for _ in range(3):
            try:
                await source.poll()
            except LoginRefused as exc:
                waits.append(exc.retry_after)
            clock.offset += 3700  # past any wait
        await source.aclose()
        return waits

    assert asyncio.run(main()) == [300.0, 600.0, 1200.0]
    assert requests(simulator, AUTHENTICATE) == 3


def test_mfa_without_a_totp_uri_stops_with_what_to_set(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    simulator.cloud.faults.mfa = True
    (error,) = polls(source_for(simulator, tmp_path))
    assert isinstance(error, AuthError)
    assert error.permanent
    assert "MFA is on" in str(error)
    assert "SENEC_TOTP_URI is not set" in str(error)


def test_a_rejected_totp_code_says_to_check_the_clock(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    simulator.cloud.faults.mfa = True
    other = "otpauth://totp/SENEC:x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=SENEC"
    first, second = polls(source_for(simulator, tmp_path, totp_uri=other), 2)
    assert isinstance(first, LoginRefused)
    assert "SENEC rejected the TOTP code: check this machine's clock" in str(first)
    assert first.retry_after == 300.0
    assert isinstance(second, LoginRefused)
    assert requests(simulator, AUTHENTICATE) == 2  # credentials, code; nothing more


def test_a_changed_login_page_names_its_title(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    simulator.cloud.faults.login_page_changed = True
    (error,) = polls(source_for(simulator, tmp_path))
    assert isinstance(error, ProtocolError)
    assert "SENEC has changed its login page" in str(error)
    assert "'Wartungsarbeiten'" in str(error)


def test_sso_down_says_so(tmp_path: Path) -> None:
    server = SenecCloudSimulator().start()
    settings = settings_for(server)
    server.stop()  # nothing listens there now
    (error,) = polls(SenecCloudSource(settings, "cloud", tmp_path))
    assert isinstance(error, DeviceUnreachable)
    assert "SENEC's login server 127.0.0.1" in str(error)
    assert "not reachable" in str(error)


# --- tokens ------------------------------------------------------------------------------


def test_tokens_are_reused_after_a_restart(simulator: SenecCloudSimulator, tmp_path: Path) -> None:
    polls(source_for(simulator, tmp_path))
    (reading,) = polls(source_for(simulator, tmp_path))  # a new process, the same DATA_DIR
    assert isinstance(reading, Reading)
    assert simulator.cloud.stats.logins == 1
    assert requests(simulator, "GET /realms/senec/protocol/openid-connect/auth") == 1


def test_an_expiring_token_is_refreshed_before_use(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    clock = Clock()
    source = source_for(simulator, tmp_path, clock)

    async def main() -> None:
        await source.poll()
        clock.offset = 290.0  # 10 s before the 300 s token expires: refreshed first
        simulator.cloud.faults.stamp_every = 1.0
        await source.poll()
        await source.aclose()

    asyncio.run(main())
    assert simulator.cloud.stats.refreshes == 1
    assert simulator.cloud.stats.logins == 1


def test_a_refused_token_is_refreshed_once(simulator: SenecCloudSimulator, tmp_path: Path) -> None:
    source = source_for(simulator, tmp_path)

    async def main() -> Reading | None:
        await source.poll()
        simulator.cloud.revoke()  # every access token answers 401 now
        source._last_stamp = None
        reading = await source.poll()
        await source.aclose()
        return reading

    assert isinstance(asyncio.run(main()), Reading)
    assert simulator.cloud.stats.refreshes == 1
    assert simulator.cloud.stats.logins == 1


def test_a_refused_refresh_token_leads_to_one_full_login(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    clock = Clock()
    source = source_for(simulator, tmp_path, clock)

    async def main() -> Reading | None:
        await source.poll()
        simulator.cloud.faults.refresh_expired = True
        clock.offset = 400.0
        source._last_stamp = None
        reading = await source.poll()
        await source.aclose()
        return reading

    assert isinstance(asyncio.run(main()), Reading)
    assert simulator.cloud.stats.logins == 2
    assert simulator.cloud.stats.refreshes == 0


# --- systems and the API -----------------------------------------------------------------


def test_the_chosen_system_is_asked(simulator: SenecCloudSimulator, tmp_path: Path) -> None:
    second = simulator.cloud.systems[1]
    (reading,) = polls(source_for(simulator, tmp_path, system_id=second))
    assert isinstance(reading, Reading)
    assert requests(simulator, f"GET /measurements/api/v1/systems/{second}/dashboard") == 1
    assert (
        requests(
            simulator, f"GET /measurements/api/v1/systems/{simulator.cloud.systems[0]}/dashboard"
        )
        == 0
    )


def test_a_system_id_not_of_this_account_lists_the_account_s(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    (error,) = polls(source_for(simulator, tmp_path, system_id="123"))
    assert isinstance(error, AuthError)
    assert error.permanent
    assert (
        str(error) == "SENEC_SYSTEM_ID 123 is not one of this account's systems (999999, 1000000)"
    )


def test_moved_paths_say_which_setting_to_change(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    simulator.cloud.faults.moved = True
    (error,) = polls(source_for(simulator, tmp_path))
    assert isinstance(error, ApiMoved)
    assert "SENEC changed its API: GET http://127.0.0.1:" in str(error)
    assert "answered HTTP 400; if SENEC has moved it, set SENEC_CLOUD_SYSTEMS_URL" in str(error)


def test_429_honours_retry_after_and_500_is_unreachable(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    polls(source_for(simulator, tmp_path))  # logged in
    simulator.cloud.faults.rate_limited = True
    (error,) = polls(source_for(simulator, tmp_path))
    assert isinstance(error, DeviceUnreachable)
    assert error.retry_after == 120.0
    assert "HTTP 429" in str(error)
    simulator.cloud.faults.update({"rate_limited": False, "failing": True})
    (error,) = polls(source_for(simulator, tmp_path))
    assert isinstance(error, DeviceUnreachable)
    assert "HTTP 500" in str(error)


def test_an_unchanged_timestamp_writes_nothing(
    simulator: SenecCloudSimulator, tmp_path: Path
) -> None:
    simulator.cloud.faults.stamp_every = 3600.0
    source = source_for(simulator, tmp_path)
    first, second, third = polls(source, 3)
    assert isinstance(first, Reading)
    assert second is None
    assert third is None  # counted as unchanged by the poll loop (test_loop), not here
    wallbox = f"GET /wallbox/api/v1/systems/{simulator.cloud.systems[0]}/wallboxes/1"
    assert requests(simulator, wallbox) == 1  # nothing but the dashboard when it has not moved


# --- SENEC's recorded answers ------------------------------------------------------------


def test_the_recorded_answers_map_to_the_local_names() -> None:
    fields, problems = codec.dashboard_fields(
        recording("senec-cloud-dashboard.json"),
        [recording("senec-cloud-wallbox.json")],
        recording("senec-cloud-system-details.json"),
    )
    assert problems == []
    assert fields == {
        "inverter_power": 1671,
        "house_power": 464,
        "grid_power_plus": 23,
        "grid_power_minus": 23,
        "bat_power_plus": 1178,
        "bat_power_minus": 0,
        "bat_fuel_charge": 57.6,
        "ev_connected": False,
        "wallbox_charge_power": 0,
        "case_temp": 34.8,
        "application_version": "826",
        "current_state": "LADEN",
        "current_state_ok": True,
    }
    assert codec.timestamp_of(recording("senec-cloud-dashboard.json")) == 1757662269


def test_house_power_leaves_out_the_wallbox_and_is_never_negative() -> None:
    dashboard = recording("senec-cloud-dashboard.json")
    wallbox = recording("senec-cloud-wallbox.json")
    wallbox["chargingCurrents"]["currentApparentChargingPowerInKw"] = 0.3
    fields, _ = codec.dashboard_fields(dashboard, [wallbox, wallbox], None)
    assert fields["wallbox_charge_power"] == 600
    assert fields["house_power"] == 0  # 464 - 600, not negative
    fields, _ = codec.dashboard_fields(dashboard, None, None)
    assert "wallbox_charge_power" not in fields  # a system without wallboxes
    assert fields["house_power"] == 464


def test_a_home4_state_without_severity_is_left_out() -> None:
    details = recording("senec-cloud-system-details.json")
    details["mcu"]["mainControllerUnitState"] = {"name": "RUN_GRID", "severity": ""}
    details["mcu"]["firmwareVersion"] = 826  # an integer once: still written as text
    fields, _ = codec.dashboard_fields(recording("senec-cloud-dashboard.json"), None, details)
    assert "current_state" not in fields
    assert fields["application_version"] == "826"


def test_a_dashboard_value_missing_costs_its_field_only() -> None:
    dashboard = recording("senec-cloud-dashboard.json")
    del dashboard["currently"]["gridDrawInW"]
    dashboard["currently"]["batteryLevelInPercent"] = "57"
    fields, problems = codec.dashboard_fields(dashboard, None, None)
    assert "grid_power_plus" not in fields
    assert "bat_fuel_charge" not in fields
    assert fields["inverter_power"] == 1671
    assert problems == [
        "currently.gridDrawInW missing or not a number",
        "currently.batteryLevelInPercent missing or not a number",
    ]


def test_the_recorded_login_pages_are_understood() -> None:
    login = codec.parse_page((RECORDINGS / "senec-cloud-keycloak-login-form.html").read_text())
    form = login.form_with("username", "password")
    assert form is not None
    assert form.action.startswith("https://sso.senec.com/realms/senec/login-actions/authenticate?")
    assert "&amp;" not in form.action
    assert "credentialId" in form.inputs
    assert login.title == "Login - SENEC"
    otp = codec.parse_page((RECORDINGS / "senec-cloud-keycloak-otp-form.html").read_text())
    assert otp.form_with("otp") is not None
    assert otp.form_with("username") is None
    refused = codec.parse_page(
        (RECORDINGS / "senec-cloud-keycloak-invalid-credentials.html").read_text()
    )
    assert refused.message == "Invalid username or password."
    assert refused.form_with("username", "password") is not None


def test_the_recorded_token_answer() -> None:
    tokens = codec.Tokens.from_answer(recording("senec-cloud-token.json"), 1000.0)
    assert tokens.expires_at == 1300.0
    assert tokens.refresh_expires_at == 1000.0 + 2592000
    assert tokens.fresh(1200.0, 30.0)
    assert not tokens.fresh(1280.0, 30.0)
    assert codec.Tokens.from_dict(json.loads(json.dumps(tokens.as_dict()))) == tokens


def test_pkce_and_the_redirect() -> None:
    verifier, challenge = codec.pkce_pair()
    assert len(verifier) >= 43
    assert challenge == codec.pkce_challenge(verifier)
    assert codec.pkce_challenge(verifier) != codec.pkce_challenge(verifier + "x")
    # computed apart: printf %s "$verifier" | openssl dgst -sha256 -binary | base64 (URL-safe)
    assert (
        codec.pkce_challenge("dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"
    )
    assert (
        codec.code_from_redirect("senec-app-auth://keycloak.prod?session_state=s&code=abc") == "abc"
    )
    assert codec.code_from_redirect("https://elsewhere/?code=abc") is None


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"username": "someone"}, "must be the e-mail address"),
        ({"interval": 30}, "greater than or equal to 60"),
        ({"totp_uri": "https://example.com"}, "must be an otpauth://totp/... URI"),
        ({"totp_uri": "otpauth://hotp/x?secret=JBSWY3DP"}, "must be a TOTP URI"),
        ({"totp_uri": "otpauth://totp/x?issuer=SENEC"}, "has no secret= parameter"),
        ({"totp_uri": "otpauth://totp/x?secret=not-base32!"}, "not base32"),
        ({"cloud_sso_url": "sso.senec.com"}, "must be an https:// address"),
        ({"request_mode": "everything"}, "'minimal' or 'full'"),
        ({"ignore": "house_power,mpp1_power"}, "unknown field mpp1_power"),
    ],
)
def test_settings_say_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    values = {"username": "a@example.com", "password": "x", **changes}
    with pytest.raises(ValidationError, match=message):
        SenecCloudSettings(**values)


def test_plain_http_urls_are_noted() -> None:
    settings = SenecCloudSettings(
        username="a@example.com", password="x", cloud_sso_url="http://127.0.0.1:1/realms/senec"
    )
    assert [note.key for note in settings.notes()] == ["cloud_sso_url"]


def test_the_simulator_s_account_is_the_default() -> None:
    assert Account().username == "user@example.com"
