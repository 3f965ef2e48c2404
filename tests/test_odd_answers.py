"""An odd answer from a device, for every registered kind: a counted problem, never the end.

Each kind's instance runs as the daemon runs it (`kind.build`, then `run`) against its own
simulator, which sends odd answers first (JSON of the wrong shape, no JSON, records of a size no
register has, a datagram cut short) and then good ones. The instance must treat each odd answer
as a device's problem (a SourceError, a dropped datagram, a missing field), never as a bug of the
collector, and must go on: a reading arrives after the last odd answer. A kind added later
without an entry in `SETUPS` fails here until it has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from collector.loop import PollLoop
from collector.reading import Reading
from collector.simulators.serve import HttpSimulator
from collector.sources import Instance, InstanceConfig, load_kinds
from collector.sources.senec.simulator import SenecSimulator
from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator
from collector.sources.senec_connect.codec import PATH as CONNECT_PATH
from collector.sources.senec_connect.simulator import (
    BASE,
    KEY,
    SenecConnect,
    SenecConnectSimulator,
)
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_em.simulator import Faults as MeterFaults
from collector.sources.sma_em.simulator import Meter, MeterSender
from collector.sources.sma_ennexos.simulator import EnnexosDevice, EnnexosSimulator
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from tests.servers import free_port

KINDS = load_kinds()
# JSON of shapes no device sends, and no JSON at all
ODD_BODIES = [b"null", b"[]", b"{}", b'"text"', b'{"result": null}', b"<html>busy</html>"]


@dataclass
class Setup:
    settings: dict[str, Any]
    odd_left: Callable[[], int]  # odd answers not yet sent
    tick: Callable[[], None] = lambda: None  # a pushed kind: the device sends (from the test)


def _http(simulator: HttpSimulator, prefix: str) -> Callable[[], int]:
    for body in ODD_BODIES:
        simulator.odd.add(prefix, body)
    return lambda: simulator.odd.waiting


def _ca(simulator: HttpSimulator, path: Path) -> str:
    path.write_bytes(simulator.ca_pem or b"")
    return str(path)


def _senec(stack: contextlib.ExitStack, tmp: Path) -> Setup:
    simulator = SenecSimulator(tls=False).start()
    stack.callback(simulator.stop)
    left = _http(simulator, "/lala.cgi")
    return Setup({"host": simulator.address, "scheme": "http", "interval": 1}, left)


def _senec_cloud(stack: contextlib.ExitStack, tmp: Path) -> Setup:
    cloud = SenecCloud()
    simulator = SenecCloudSimulator(cloud).start()
    stack.callback(simulator.stop)
    left = _http(simulator, "/measurements/api/v1/systems/")
    login = {"username": cloud.account.username, "password": cloud.account.password}
    return Setup({**login, **simulator.settings(), "interval": 60}, left)


def _senec_connect(stack: contextlib.ExitStack, tmp: Path) -> Setup:
    simulator = SenecConnectSimulator(SenecConnect()).start()
    stack.callback(simulator.stop)
    left = _http(simulator, BASE + CONNECT_PATH)
    return Setup({"key": KEY, "url": simulator.url, "interval": 10}, left)


def _webconnect(stack: contextlib.ExitStack, tmp: Path) -> Setup:
    simulator = WebConnectSimulator(WebConnectDevice(SmaInverter(3010538211))).start()
    stack.callback(simulator.stop)
    left = _http(simulator, "/dyn/get")
    ca = _ca(simulator, tmp / "webconnect.pem")
    return Setup({"url": simulator.url, "password": "0000", "ca_file": ca, "interval": 1}, left)


def _ennexos(stack: contextlib.ExitStack, tmp: Path) -> Setup:
    simulator = EnnexosSimulator(EnnexosDevice(SmaInverter(3016259221))).start()
    stack.callback(simulator.stop)
    left = _http(simulator, "/api/v1/measurements")
    ca = _ca(simulator, tmp / "ennexos.pem")
    login = {"username": "collector", "password": "secret"}
    return Setup({"url": simulator.url, **login, "ca_file": ca, "interval": 1}, left)


def _sma(stack: contextlib.ExitStack, tmp: Path) -> Setup:
    simulator = SmaSimulator([SmaInverter(3010538201)]).start()
    stack.callback(simulator.stop)
    inverter = simulator.inverters[0]
    inverter.faults.odd_records = 4  # each of the first four record replies
    return Setup(
        {"host": simulator.addresses[0], "interval": 1}, lambda: inverter.faults.odd_records
    )


def _sma_em(stack: contextlib.ExitStack, tmp: Path) -> Setup:
    port = free_port(udp=True)
    faults = MeterFaults(truncate=True)
    sender = MeterSender(Meter(serial=1001), ("127.0.0.1", port), faults=faults)
    stack.callback(sender.sock.close)
    cut = [3]  # datagrams cut short still to send

    def tick() -> None:
        faults.truncate = cut[0] > 0
        cut[0] = max(0, cut[0] - 1)
        sender.send_once()

    settings = {"group": "none", "port": port, "interval": 1, "serial": "1001"}
    return Setup(settings, lambda: cut[0], tick)


SETUPS: dict[str, Callable[[contextlib.ExitStack, Path], Setup]] = {
    "senec": _senec,
    "senec-cloud": _senec_cloud,
    "senec-connect": _senec_connect,
    "sma": _sma,
    "sma-em": _sma_em,
    "sma-webconnect": _webconnect,
    "sma-ennexos": _ennexos,
}


def test_every_kind_has_an_odd_answer_here() -> None:
    assert sorted(SETUPS) == sorted(KINDS)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as stack:
        yield stack


def _run(instance: Instance, setup: Setup, limit: float = 30.0) -> tuple[list[Reading], int]:
    """Poll (or listen) until a reading arrived after the last odd answer; the readings, and
    how many came before the last odd answer was sent. A polled instance is polled by its
    PollLoop's `poll_once` one poll after another (the error handling of `run`, without its
    schedule and back-off, so that a cloud of minutes is done in seconds)."""
    readings: list[Reading] = []
    before: list[int] = []

    def emit(reading: Reading, done: Callable[[bool], None]) -> None:
        readings.append(reading)
        done(True)

    async def main() -> None:
        if isinstance(instance, PollLoop):  # polled: poll after poll, without the schedule
            await polled(instance)
        else:
            await pushed()
        await instance.aclose()

    def finished() -> bool:
        if not before and setup.odd_left() == 0:
            before.append(len(readings))
        return bool(before) and len(readings) > before[0]

    async def polled(loop: PollLoop) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not finished():
            if not await loop.poll_once(emit):
                return  # stopped for good: the assertions say so
            await asyncio.sleep(0.2)  # a cloud's time stamp moves on

    async def pushed() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(instance.run(emit, stop))
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline and not task.done() and not finished():
                setup.tick()
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(main())
    return readings, before[0] if before else -1


@pytest.mark.parametrize("kind", sorted(SETUPS))
def test_an_odd_answer_is_a_device_problem_and_polling_goes_on(
    kind: str, stack: contextlib.ExitStack, tmp_path: Path
) -> None:
    setup = SETUPS[kind](stack, tmp_path)
    source = KINDS[kind]
    settings = source.settings.model_validate(setup.settings)
    config = InstanceConfig(kind, kind, settings, state_dir=tmp_path / "state")
    (instance,) = source.build([config])
    with capture_logs() as logs:
        readings, before = _run(instance, setup)
    bugs = [event for event in logs if "bug" in str(event.get("event"))]
    assert bugs == [], bugs
    assert before >= 0, f"{kind}: the odd answers were not all asked for"
    assert len(readings) > before, f"{kind}: no reading after the odd answers ({logs[-5:]})"
    status = instance.status
    assert status.stopped is None
    if kind != "sma-em":  # pushed: a datagram cut short is dropped and counted, no poll fails
        assert status.failed_polls >= 1 or before > 0, logs
        assert not (status.last_error or "").startswith("internal error"), status.last_error
    for reading in readings:  # what was written is a reading, never a stand-in
        assert reading.fields, reading
