"""The `sma-ennexos` kind: the recorded Tripower X 15's channels to fields, and login, token
refresh, a new login, a wrong password and logout against its simulator over real HTTPS."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from structlog.testing import capture_logs

from collector.errors import LoginRefused, SourceError
from collector.loop import PollLoop
from collector.reading import Reading
from collector.sources.sma.simulator import SmaInverter
from collector.sources.sma_ennexos.client import NoEnnexos
from collector.sources.sma_ennexos.codec import AnswerError, channels_of, fields_from
from collector.sources.sma_ennexos.fields import FIELDS
from collector.sources.sma_ennexos.settings import SmaEnnexosSettings
from collector.sources.sma_ennexos.simulator import EnnexosDevice, EnnexosSimulator, load_replay
from collector.sources.sma_ennexos.source import SmaEnnexosSource
from tests.conftest import RECORDINGS, recording
from tests.servers import free_port

# The Sunny Tripower X 15 of 2024-04-03 (sma-ennexos-tripowerx15-measurements.json), each value
# as recorded, rounded as the Speedwire kind writes it: W and Wh to whole numbers, the rest to
# three places. It has no battery and no meter channels.
TRIPOWER_X15 = {
    "ac_power": 2314,  # Measurement.GridMs.TotW 2313.833740234375
    "ac_power_l1": 771,  # W.phsA 771.0770874023438
    "ac_power_l2": 772,  # W.phsB 771.7919311523438
    "ac_power_l3": 771,  # W.phsC 770.96484375
    "ac_voltage_l1": 235.372,  # PhV.phsA 235.37158203125
    "ac_voltage_l2": 235.919,  # PhV.phsB 235.9194793701172
    "ac_voltage_l3": 235.802,  # PhV.phsC 235.80242919921875
    "ac_current_l1": 3.488,  # A.phsA 3.488025665283203
    "ac_current_l2": 3.495,  # A.phsB 3.49516224861145
    "ac_current_l3": 3.452,  # A.phsC 3.451599597930908
    "grid_frequency": 49.983,  # Hz 49.98290252685547
    "mpp1_power": 1003,  # DcMs.Watt[] 1002.5647583007812, 655.740966796875, 657.0332641601562
    "mpp2_power": 656,
    "mpp3_power": 657,
    "dc_power": 1003 + 656 + 657,
    "mpp1_voltage": 538.716,  # DcMs.Vol[] 538.7156982421875, 406.184326171875, 414.0189514160156
    "mpp2_voltage": 406.184,
    "mpp3_voltage": 414.019,
    "mpp1_current": 1.856,  # DcMs.Amp[] 1.8562802076339722, 1.6070905923843384, 1.5880...
    "mpp2_current": 1.607,
    "mpp3_current": 1.588,
    "energy_total": 13435694,  # Metering.TotWhOut 13435693.85904506
    "device_status": "Ok",  # Operation.Health 307
    "device_status_code": 307,
    "device_status_ok": True,
    "grid_relay": "Closed",  # Operation.GriSwStt 51
    "grid_relay_code": 51,
    "grid_relay_ok": True,
    "device_temperature": 43.078,  # Coolsys.Inverter.TmpVal[] 43.0784797668457 (the first)
}
MEASUREMENTS = "sma-ennexos-tripowerx15-measurements.json"


def test_the_recorded_tripower_x_maps_to_its_fields() -> None:
    fields = fields_from(channels_of(recording(MEASUREMENTS)))
    assert fields == TRIPOWER_X15
    assert set(fields) <= set(FIELDS)


def channel(channel_id: str, item: dict[str, Any], component: str = "IGULD:SELF") -> Any:
    return {"channelId": channel_id, "componentId": component, "values": [item]}


def test_missing_values_are_missing_fields_and_ac_power_is_zero() -> None:
    answer = [
        channel("Measurement.GridMs.TotW", {"time": "2024-04-03T22:00:00.000Z"}),  # no value
        channel("Measurement.GridMs.Hz", {"time": "x", "value": "NaN"}),  # newer firmware
        channel("Measurement.DcMs.Watt[]", {"time": "x", "values": ["NaN", 0.0]}),
        channel("Measurement.Metering.TotWhOut", {"time": "x", "value": 0.0}),  # not a reset
        channel("Measurement.Operation.Health", {"time": "x", "value": 303.0}),  # a float tag
        channel("Measurement.GridMs.TotW", {"time": "x", "value": 999.0}, "Plant:1"),  # not us
        channel("Measurement.Bat.Amp[]", {"time": "x", "values": [-4.5]}),
        channel("Measurement.BatChrg.CurBatCha", {"time": "x", "value": 2048.0}),
        channel("Measurement.BatDsch.CurBatDsch", {"time": "x", "value": 0.0}),
    ]
    assert fields_from(channels_of(answer)) == {
        "ac_power": 0,
        "mpp1_power": 0,  # NaN from a device that answers: the string produces nothing
        "mpp2_power": 0,
        "dc_power": 0,
        "device_status": "Off",
        "device_status_code": 303,
        "device_status_ok": False,
        "bat_charge_current": 4.5,  # charging: positive, whatever sign the device used
        "bat_power_plus": 2048,
        "bat_power_minus": 0,
    }


def test_an_answer_that_is_not_a_channel_list_is_named() -> None:
    with pytest.raises(AnswerError, match="not a list"):
        channels_of({"error": "x"})
    with pytest.raises(AnswerError, match="without a channel id"):
        channels_of([{"values": []}])


# --- against the simulator -------------------------------------------------------------------


@contextmanager
def ennexos_simulator(device: EnnexosDevice | None = None) -> Iterator[EnnexosSimulator]:
    simulator = EnnexosSimulator(device).start()
    try:
        yield simulator
    finally:
        simulator.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def device(clock: Clock) -> EnnexosDevice:
    inverter = SmaInverter(3016250001, strings=2, battery=True, meter=True)
    return EnnexosDevice(inverter, token_lifetime=100.0, clock=clock)


@pytest.fixture
def simulator(device: EnnexosDevice) -> Iterator[EnnexosSimulator]:
    with ennexos_simulator(device) as simulator:
        yield simulator


def source_for(url: str, clock: Clock | None = None, **extra: Any) -> SmaEnnexosSource:
    settings = SmaEnnexosSettings.model_validate(
        {"url": url, "username": "collector", "password": "secret", **extra}
    )
    source = SmaEnnexosSource(settings)
    if clock is not None:
        source.client.clock = clock  # the client's view of time is the device's
    return source


async def polls(source: SmaEnnexosSource, count: int) -> list[Reading]:
    try:
        return [await source.poll() for _ in range(count)]
    finally:
        await source.aclose()


def test_login_values_and_logout(simulator: EnnexosSimulator, device: EnnexosDevice) -> None:
    with capture_logs() as logs:
        readings = asyncio.run(polls(source_for(simulator.url), 3))
    state = device.state()
    assert state["logins"] == 1
    assert state["requests"]["POST /api/v1/measurements/live"] == 3  # one call per poll
    assert state["logouts"] == 1
    assert state["grants"] == 0  # the refresh token was revoked at the end
    fields = readings[-1].fields
    assert readings[-1].tags == {"serial": "3016250001"}
    assert set(fields) <= set(FIELDS)
    for name in ("bat_fuel_charge", "grid_power_plus", "grid_energy_plus", "mpp2_current"):
        assert name in fields, name
    [inverter] = [line for line in logs if line["event"] == "inverter"]
    assert inverter["serial"] == "3016250001"
    assert inverter["software"] == "03.06.15.R"


def test_the_recorded_device_replayed_over_https() -> None:
    live, info = load_replay(RECORDINGS / MEASUREMENTS)
    with ennexos_simulator(EnnexosDevice(replay=live, replay_info=info)) as simulator:
        source = source_for(simulator.url)
        [reading] = asyncio.run(polls(source, 1))
    fields = dict(reading.fields)
    assert isinstance(fields.pop("response_duration"), int)
    assert fields == TRIPOWER_X15
    assert source.serial == "3016259999"  # from the recorded device description


def test_the_token_is_refreshed_before_it_runs_out(
    simulator: EnnexosSimulator, device: EnnexosDevice, clock: Clock
) -> None:
    source = source_for(simulator.url, clock)

    async def run() -> None:
        await source.poll()
        clock.now += 70  # 30 of 100 s left: still fresh
        await source.poll()
        clock.now += 15  # 15 of 100 s left: refreshed before the call
        await source.poll()
        clock.now += 95  # the new token has 5 s left: refreshed again
        await source.poll()
        await source.aclose()

    asyncio.run(run())
    state = device.state()
    assert state["logins"] == 1
    assert state["refreshes"] == 2
    assert state["expired"] == 0  # never a call with a token that had run out
    assert state["grants"] == 0


def test_a_refused_refresh_means_one_login_with_the_password(
    simulator: EnnexosSimulator, device: EnnexosDevice, clock: Clock
) -> None:
    source = source_for(simulator.url, clock)
    device.refuse_refresh = True

    async def run() -> None:
        await source.poll()
        clock.now += 90
        await source.poll()
        await source.aclose()

    with capture_logs() as logs:
        asyncio.run(run())
    state = device.state()
    assert state["refresh_refused"] == 1
    assert state["logins"] == 2
    events = [line["event"] for line in logs]
    assert events.count("ennexos token refresh refused, logging in again") == 1


def test_a_token_the_device_forgot_means_one_new_login(
    simulator: EnnexosSimulator, device: EnnexosDevice
) -> None:
    source = source_for(simulator.url)

    async def run() -> None:
        await source.poll()
        device.revoke_all()  # the device restarted
        await source.poll()
        await source.aclose()

    with capture_logs() as logs:
        asyncio.run(run())
    state = device.state()
    assert state["unknown"] == 1
    assert state["logins"] == 2
    assert [line["event"] for line in logs].count("ennexos token refused, logging in again") == 1


def test_a_token_refused_again_after_a_new_login_fails_the_poll(
    simulator: EnnexosSimulator, device: EnnexosDevice, clock: Clock
) -> None:
    """A device whose clock has run ahead refuses every token: one new login, then a failed
    poll, not a login loop."""
    source = source_for(simulator.url)

    async def run() -> None:
        await source.poll()
        clock.now += 10_000
        device.token_lifetime = -1.0  # every token it gives has run out already
        with pytest.raises(SourceError, match="refused a new token"):
            await source.poll()
        await source.aclose()

    asyncio.run(run())
    assert device.state()["logins"] == 2


def test_a_wrong_password_stops_the_instance_after_one_login(
    simulator: EnnexosSimulator, device: EnnexosDevice
) -> None:
    async def run() -> PollLoop:
        loop = PollLoop("tripower", source_for(simulator.url, password="Falsch-17", interval=1))
        await loop.run(lambda r, done: None, asyncio.Event())  # returns: stopped for good
        await loop.aclose()
        return loop

    with capture_logs() as logs:
        loop = asyncio.run(run())
    assert loop.status.stopped is not None
    [stopped] = [line for line in logs if line["event"] == "source stopped"]
    assert "refused the login of user 'collector' (HTTP 400)" in stopped["error"]
    assert "SMA_ENNEXOS_PASSWORD" in stopped["error"]
    assert "Falsch-17" not in str(logs)
    assert device.state()["refused"] == 1


def test_a_shutdown_during_the_login_still_logs_out(
    simulator: EnnexosSimulator, device: EnnexosDevice
) -> None:
    async def run() -> None:
        source = source_for(simulator.url, timeout=5)
        device.delay = 0.5
        arrived = threading.Event()
        device.on_request = lambda path: arrived.set() if path == "/api/v1/token" else None
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
    assert state["grants"] == 0


def test_an_address_without_ennexos_says_so() -> None:
    from collector.sources.sma_webconnect.simulator import WebConnectSimulator

    webconnect = WebConnectSimulator().start()
    try:
        with pytest.raises(NoEnnexos, match="no ennexOS API") as caught:
            asyncio.run(polls(source_for(webconnect.url), 1))
    finally:
        webconnect.stop()
    assert caught.value.permanent


def test_nothing_listening_is_asleep_or_away() -> None:
    with pytest.raises(SourceError) as caught:
        asyncio.run(polls(source_for(f"https://127.0.0.1:{free_port()}"), 1))
    assert caught.value.asleep


def test_login_refused_is_permanent() -> None:
    assert LoginRefused("x").permanent
