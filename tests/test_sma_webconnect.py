"""The `sma-webconnect` kind against its simulator over real HTTPS: login, values, the session
limit, expiry and a new login, a wrong password, plain HTTP, a shutdown in the middle of a poll.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from collector.errors import AuthError, LoginRefused, ProtocolError, SourceError
from collector.loop import PollLoop
from collector.reading import Reading, apply_negative
from collector.sources.sma.simulator import SmaInverter
from collector.sources.sma_webconnect.client import (
    SESSIONS_FULL_WAIT,
    NoWebConnect,
    SessionsFull,
)
from collector.sources.sma_webconnect.fields import FIELDS
from collector.sources.sma_webconnect.settings import SmaWebConnectSettings
from collector.sources.sma_webconnect.simulator import (
    WebConnectDevice,
    WebConnectSimulator,
    load_replay,
)
from collector.sources.sma_webconnect.source import SmaWebConnectSource
from tests.conftest import RECORDINGS
from tests.servers import free_port
from tests.webconnect_expected import EXPECTED


class Clock:
    """The device's clock, moved by the test (session expiry without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def device(clock: Clock) -> WebConnectDevice:
    inverter = SmaInverter(3010538116, strings=2, battery=True, meter=True)
    return WebConnectDevice(inverter, slots=3, session_expiry=300.0, clock=clock)


@pytest.fixture
def simulator(device: WebConnectDevice) -> Iterator[WebConnectSimulator]:
    simulator = WebConnectSimulator(device).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def ca_file(simulator: WebConnectSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_bytes(simulator.ca_pem or b"")
    return path


def settings(url: str, **extra: Any) -> SmaWebConnectSettings:
    return SmaWebConnectSettings.model_validate({"url": url, "password": "0000", **extra})


async def polls(source: SmaWebConnectSource, count: int) -> list[Reading]:
    try:
        return [await source.poll() for _ in range(count)]
    finally:
        await source.aclose()


def test_one_login_for_many_polls_with_the_certificate_checked(
    simulator: WebConnectSimulator, device: WebConnectDevice, ca_file: Path
) -> None:
    source = SmaWebConnectSource(settings(simulator.url, ca_file=ca_file))
    with capture_logs() as logs:
        readings = asyncio.run(polls(source, 5))
    state = device.state()
    assert state["logins"] == 1
    assert state["logouts"] == 1
    assert state["open"] == 0
    # one getAllOnlValues to learn the keys, one getValues for the device, then one per poll
    assert state["requests"]["/dyn/getAllOnlValues.json"] == 1
    assert state["requests"]["/dyn/getValues.json"] == 1 + 5
    fields = readings[-1].fields
    assert readings[-1].tags == {"serial": "3010538116"}
    assert set(fields) <= set(FIELDS)
    assert fields["device_status"] == "Ok"
    for name in ("bat_fuel_charge", "house_power", "grid_power_plus", "mpp2_voltage"):
        assert name in fields, name
    assert fields["dc_power"] == fields["mpp1_power"] + fields["mpp2_power"]  # type: ignore[operator]
    [inverter] = [line for line in logs if line["event"] == "inverter"]
    assert inverter["serial"] == "3010538116"
    assert inverter["device_class"] == "hybrid inverter"
    assert inverter["software"] == "03.10.10.R"


def test_a_certificate_from_another_ca_is_refused(
    simulator: WebConnectSimulator, tmp_path: Path
) -> None:
    other = WebConnectSimulator()
    path = tmp_path / "other.pem"
    path.write_bytes(other.ca_pem or b"")
    other.server.server_close()
    source = SmaWebConnectSource(settings(simulator.url, ca_file=path))
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(polls(source, 1))


@pytest.mark.parametrize("recorded", sorted(EXPECTED))
def test_every_recorded_device_replayed_over_https_gives_its_fields(recorded: str) -> None:
    online, params = load_replay(RECORDINGS / f"sma-webconnect-{recorded}-getAllOnlValues.json")
    device = WebConnectDevice(replay=online, replay_params=params)
    simulator = WebConnectSimulator(device).start()
    try:
        source = SmaWebConnectSource(settings(simulator.url))
        [reading] = asyncio.run(polls(source, 1))
    finally:
        simulator.stop()
    fields, _ = apply_negative(reading.fields, FIELDS)  # as the core writes it
    assert isinstance(fields.pop("response_duration"), int)
    assert fields == EXPECTED[recorded]
    assert source.serial is not None
    assert source.serial.isdigit()  # from getAllParamValues


def test_slots_full_is_one_line_then_minutes_of_back_off(
    simulator: WebConnectSimulator, device: WebConnectDevice
) -> None:
    device.hold(3)  # three browsers with the web UI open: every slot taken

    async def run() -> tuple[PollLoop, list[Reading]]:
        source = SmaWebConnectSource(settings(simulator.url, interval=1))
        loop = PollLoop("inverter", source, max_backoff=300.0)
        readings: list[Reading] = []
        stop = asyncio.Event()
        failed = asyncio.Event()
        loop.status.listeners.append(failed.set)
        task = asyncio.create_task(loop.run(lambda r, done: readings.append(r), stop))
        await asyncio.wait_for(failed.wait(), 10)
        error = loop.status.last_error
        # the browsers are closed: their slots are free, but the loop waits its minutes
        with device.lock:
            device.sessions.clear()
        await asyncio.sleep(1.5)  # a second and a half: an ordinary schedule would poll again
        stop.set()
        await task
        await loop.aclose()
        assert error is not None
        return loop, readings

    with capture_logs() as logs:
        loop, readings = asyncio.run(run())
    assert readings == []
    assert loop.status.polls == 1  # not asked again within the minutes
    warnings = [line for line in logs if line["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["event"] == "poll failed, backing off"
    assert "no free session slot (err 503)" in warnings[0]["error"]
    assert "close the web UI" in warnings[0]["error"]
    assert warnings[0]["next_in_s"] == SESSIONS_FULL_WAIT
    assert device.state()["full"] == 1


def test_sessions_full_says_so_and_asks_for_minutes() -> None:
    error = SessionsFull("x")
    assert error.asleep
    assert error.retry_after == SESSIONS_FULL_WAIT >= 120
    assert not error.permanent


def test_an_expired_session_means_one_new_login(
    simulator: WebConnectSimulator, device: WebConnectDevice, clock: Clock
) -> None:
    source = SmaWebConnectSource(settings(simulator.url))

    async def run() -> list[Reading]:
        first = await source.poll()
        clock.now += 301  # the device's idle limit passes
        second = await source.poll()
        third = await source.poll()
        await source.aclose()
        return [first, second, third]

    with capture_logs() as logs:
        readings = asyncio.run(run())
    assert len(readings) == 3
    state = device.state()
    assert state["expired"] == 1
    assert state["logins"] == 2
    assert state["open"] == 0
    assert state["logouts"] == 1
    assert [line["event"] for line in logs].count(
        "webconnect session ended by the inverter, logging in again"
    ) == 1


def test_a_device_that_ends_every_session_at_once_is_a_failed_poll_not_a_login_loop(
    simulator: WebConnectSimulator, device: WebConnectDevice
) -> None:
    source = SmaWebConnectSource(settings(simulator.url))

    async def run() -> None:
        await source.poll()
        original = device.answer

        def ending(path: str, sid: str | None, body: Any, tls: bool) -> tuple[int, Any]:
            if path == "/dyn/getValues.json":
                device.end_sessions()
            return original(path, sid, body, tls)

        device.answer = ending  # type: ignore[method-assign]
        try:
            with pytest.raises(SourceError, match="ended a new session at once"):
                await source.poll()
        finally:
            await source.aclose()

    asyncio.run(run())
    assert device.state()["logins"] == 2  # one new login, not more


def test_a_wrong_password_stops_the_instance_after_one_login(
    simulator: WebConnectSimulator, device: WebConnectDevice
) -> None:
    async def run() -> PollLoop:
        source = SmaWebConnectSource(settings(simulator.url, password="Geheim-42", interval=1))
        loop = PollLoop("inverter", source)
        await loop.run(lambda r, done: None, asyncio.Event())  # returns: stopped for good
        await loop.aclose()
        return loop

    with capture_logs() as logs:
        loop = asyncio.run(run())
    assert loop.status.stopped is not None
    [stopped] = [line for line in logs if line["event"] == "source stopped"]
    assert "refused the user password" in stopped["error"]
    assert "SMA_WEBCONNECT_PASSWORD" in stopped["error"]
    assert "SMA_WEBCONNECT_USER_GROUP" in stopped["error"]
    assert "Geheim-42" not in str(logs)
    assert device.state()["refused"] == 1  # never tried again


def test_the_installer_group_logs_in_with_the_installer_password(
    simulator: WebConnectSimulator, device: WebConnectDevice
) -> None:
    right = settings(simulator.url, password="1111", user_group="installer")
    asyncio.run(polls(SmaWebConnectSource(right), 1))
    wrong_group = settings(simulator.url, password="1111")
    with pytest.raises(LoginRefused):
        asyncio.run(polls(SmaWebConnectSource(wrong_group), 1))
    assert device.state()["logins"] == 1
    assert device.state()["refused"] == 1


def test_plain_http_refused_by_newer_firmware_says_use_https() -> None:
    simulator = WebConnectSimulator(WebConnectDevice(https_only=True), tls=False).start()
    try:
        source = SmaWebConnectSource(settings(simulator.url))
        with pytest.raises(NoWebConnect) as caught:
            asyncio.run(polls(source, 1))
    finally:
        simulator.stop()
    assert caught.value.permanent
    assert "err 404" in str(caught.value)
    assert "https://127.0.0.1" in str(caught.value)


def test_plain_http_works_where_the_firmware_allows_it() -> None:
    simulator = WebConnectSimulator(WebConnectDevice(), tls=False).start()
    try:
        [reading] = asyncio.run(polls(SmaWebConnectSource(settings(simulator.url)), 1))
    finally:
        simulator.stop()
    assert "ac_power" in reading.fields


def test_an_address_without_webconnect_says_what_it_may_be() -> None:
    from tests.test_sma_ennexos import ennexos_simulator

    with ennexos_simulator() as ennexos:
        source = SmaWebConnectSource(settings(ennexos.url))
        with pytest.raises(NoWebConnect, match="ennexOS") as caught:
            asyncio.run(polls(source, 1))
    assert caught.value.permanent


def test_nothing_listening_is_an_inverter_asleep_or_away() -> None:
    source = SmaWebConnectSource(settings(f"https://127.0.0.1:{free_port()}"))
    with pytest.raises(SourceError) as caught:
        asyncio.run(polls(source, 1))
    assert caught.value.asleep
    assert "asleep for the night, or unreachable" in str(caught.value)


@pytest.mark.parametrize("in_login", [True, False], ids=["during-login", "during-read"])
def test_a_shutdown_during_a_poll_still_logs_out(
    simulator: WebConnectSimulator, device: WebConnectDevice, in_login: bool
) -> None:
    """Cancelled while the device is still answering (the login, or the first read): the
    session it opens is logged out all the same, and its slot is free again."""

    async def run() -> None:
        source = SmaWebConnectSource(settings(simulator.url, timeout=5))
        device.delay = 0.5
        wanted = "/dyn/login.json" if in_login else "/dyn/getAllOnlValues.json"
        arrived = threading.Event()
        device.on_request = lambda path: arrived.set() if path == wanted else None
        task = asyncio.create_task(source.poll())
        assert await asyncio.to_thread(arrived.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await source.aclose()

    asyncio.run(run())
    state = device.state()
    assert state["logins"] == 1
    assert state["logouts"] == 1
    assert state["open"] == 0


def test_an_error_answer_closes_the_session_and_is_said(
    simulator: WebConnectSimulator, device: WebConnectDevice
) -> None:
    source = SmaWebConnectSource(settings(simulator.url))

    async def run() -> None:
        await source.poll()
        original = device.answer

        def broken(path: str, sid: str | None, body: Any, tls: bool) -> tuple[int, Any]:
            if path == "/dyn/getValues.json":
                return 200, {"err": 500}
            return original(path, sid, body, tls)

        device.answer = broken  # type: ignore[method-assign]
        try:
            with pytest.raises(ProtocolError, match=r"getValues\.json with err 500"):
                await source.poll()
            assert device.state()["open"] == 0  # logged out at once
        finally:
            await source.aclose()

    asyncio.run(run())


def test_settings_say_what_is_wrong() -> None:
    assert settings("192.168.1.40").url == "https://192.168.1.40"
    with pytest.raises(ValueError, match="without a path"):
        settings("https://192.168.1.40/dyn/login.json")
    with pytest.raises(ValueError, match="only makes sense with an https"):
        settings("http://192.168.1.40", ca_file=__file__)
    with pytest.raises(ValueError, match="must not be empty"):
        settings("https://192.168.1.40", password="")
    plain = settings("http://192.168.1.40")
    assert "err 404" in plain.notes()[0].text
    assert settings("https://x", user_group="Installer").right == "istl"
    assert isinstance(AuthError("x"), SourceError)
