"""The Speedwire client against the simulated inverter over real UDP sockets, fault by fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TypeVar

import pytest

from collector.errors import DeviceUnreachable
from collector.sources.sma import codec
from collector.sources.sma.client import SessionLost, SpeedwireClient, WrongPassword
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_common import frame, records
from collector.sources.sma_common.registers import QUERIES

T = TypeVar("T")
BY_NAME = {query.name: query for query in QUERIES}


@pytest.fixture
def inverter() -> SmaInverter:
    return SmaInverter(3010538116, battery=True, meter=True)


@pytest.fixture
def simulator(inverter: SmaInverter) -> Iterator[SmaSimulator]:
    sim = SmaSimulator([inverter]).start()
    yield sim
    sim.stop()


def target(simulator: SmaSimulator) -> tuple[str, int]:
    host, port = simulator.addresses[0].split(":")
    return host, int(port)


def run(
    simulator: SmaSimulator,
    scenario: Callable[[SpeedwireClient, tuple[str, int]], Awaitable[T]],
    **options: float,
) -> tuple[T, SpeedwireClient]:
    async def main() -> tuple[T, SpeedwireClient]:
        client = SpeedwireClient(
            timeout=options.get("timeout", 0.5), retries=int(options.get("retries", 2))
        )
        await client.open()
        try:
            return await scenario(client, target(simulator)), client
        finally:
            client.close()

    return asyncio.run(main())


async def _login_and(
    client: SpeedwireClient, where: tuple[str, int], *names: str
) -> dict[str, list[records.Record]]:
    device = await client.login(where, "0000", codec.GROUP_USER)
    return {name: await client.query(where, device, BY_NAME[name]) for name in names}


def test_login_and_every_query(simulator: SmaSimulator, inverter: SmaInverter) -> None:
    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> Mapping[str, object]:
        device = await client.login(where, "0000", codec.GROUP_USER)
        assert device == inverter.address
        return await client.query_all(where, device, list(QUERIES), pipelined=False)

    results, client = run(simulator, scenario)
    assert all(isinstance(value, list) and value for value in results.values()), results
    dc = results["dc_power"]
    assert isinstance(dc, list)
    assert [(r.lri, r.channel) for r in dc] == [(0x251E00, 1), (0x251E00, 2)]
    status = results["device_status"]
    assert isinstance(status, list)
    assert status[0].status() == 307
    assert client.stats.retries == 0
    assert client.stats.dropped == 0


def test_a_wrong_password_is_one_attempt_and_a_clear_error(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> None:
        await client.login(where, "1234", codec.GROUP_USER)

    with pytest.raises(WrongPassword, match=r"refused the user password .*not retrying"):
        run(simulator, scenario)
    assert [p.command for p in inverter.received] == [codec.CMD_LOGIN]  # no retry loop


def test_installer_login_uses_its_own_key(simulator: SmaSimulator) -> None:
    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> frame.Address:
        return await client.login(where, "1111", codec.GROUP_INSTALLER)

    device, _ = run(simulator, scenario)
    assert device.serial == 3010538116


def test_a_dropped_reply_is_retried_with_a_new_packet_id(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    inverter.faults.drop_next = 1
    results, client = run(simulator, lambda c, w: _login_and(c, w, "ac_power"))
    assert results["ac_power"]
    assert client.stats.retries == 1
    login_ids = [p.pid for p in inverter.received if p.command == codec.CMD_LOGIN]
    assert len(set(login_ids)) == 2


def test_duplicated_stale_and_foreign_replies_are_dropped(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    inverter.faults.duplicate = True
    inverter.faults.stale = True
    inverter.faults.foreign = True
    results, client = run(
        simulator, lambda c, w: _login_and(c, w, "ac_power", "dc_power", "grid_relay")
    )
    # Each answer is the right one, although a stale copy of the previous one came first.
    assert [r.lri for r in results["ac_power"]] == [0x263F00]
    assert {r.lri for r in results["dc_power"]} == {0x251E00}
    assert [r.status() for r in results["grid_relay"]] == [51]
    assert client.stats.dropped >= 6  # meter datagrams, other device, stale copies, duplicates
    assert client.stats.retries == 0


def test_late_replies_are_not_taken_for_the_current_attempt(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    inverter.faults.delay = 0.3  # every reply arrives after its attempt gave up

    with pytest.raises(DeviceUnreachable, match=r"no answer .* within 0\.2 s \(3 attempts\)"):
        run(simulator, lambda c, w: _login_and(c, w), timeout=0.2, retries=2)


def test_a_lost_session_is_reported_so_the_caller_can_log_in_again(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    inverter.faults.session_lost_after = 2

    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> list[records.Record]:
        device = await client.login(where, "0000", codec.GROUP_USER)
        await client.query(where, device, BY_NAME["ac_power"])
        await client.query(where, device, BY_NAME["dc_power"])
        with pytest.raises(SessionLost):
            await client.query(where, device, BY_NAME["grid_relay"])
        device = await client.login(where, "0000", codec.GROUP_USER)
        return await client.query(where, device, BY_NAME["grid_relay"])

    records, _ = run(simulator, scenario)
    assert [r.status() for r in records] == [51]


def test_values_this_model_lacks_are_an_empty_answer(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    inverter.faults.unavailable = {"temperature"}
    inverter.battery = False
    results, _ = run(
        simulator, lambda c, w: _login_and(c, w, "temperature", "battery_charge", "ac_power")
    )
    assert results["temperature"] == []
    assert results["battery_charge"] == []
    assert results["ac_power"]


def test_night_gives_no_numbers_and_status_off(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    inverter.faults.night = "nan"
    results, _ = run(
        simulator, lambda c, w: _login_and(c, w, "ac_power", "device_status", "energy")
    )
    assert [r.number() for r in results["ac_power"]] == [None]
    assert [r.status() for r in results["device_status"]] == [303]
    assert all(r.number() is not None for r in results["energy"])  # counters still answer


def test_a_silent_inverter_is_unreachable(simulator: SmaSimulator, inverter: SmaInverter) -> None:
    inverter.faults.night = "silent"
    with pytest.raises(DeviceUnreachable):
        run(simulator, lambda c, w: _login_and(c, w), timeout=0.2, retries=1)


@pytest.mark.parametrize("fragments", [2, 3, 9])
def test_fragmented_replies_are_collected(
    simulator: SmaSimulator, inverter: SmaInverter, fragments: int
) -> None:
    inverter.faults.fragments = fragments
    results, _ = run(simulator, lambda c, w: _login_and(c, w, "ac_voltage_current"))
    lris = [r.lri >> 8 for r in results["ac_voltage_current"]]
    assert lris == [0x4648, 0x4649, 0x464A, 0x464B, 0x464C, 0x464D, 0x4653, 0x4654, 0x4655]


def test_pipelined_queries_give_the_same_records(simulator: SmaSimulator) -> None:
    names = [q.name for q in QUERIES]

    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> tuple[object, object]:
        device = await client.login(where, "0000", codec.GROUP_USER)
        together = await client.query_all(where, device, list(QUERIES), pipelined=True)
        one_by_one = await client.query_all(where, device, list(QUERIES), pipelined=False)
        return together, one_by_one

    (together, one_by_one), client = run(simulator, scenario)
    assert isinstance(together, dict)
    assert isinstance(one_by_one, dict)
    assert list(together) == names

    def shape(results: dict[str, object]) -> dict[str, list[tuple[int, int]]]:
        return {
            name: [(r.lri, r.channel) for r in value]  # type: ignore[attr-defined]
            for name, value in results.items()
        }

    assert shape(together) == shape(one_by_one)
    assert client.stats.retries == 0


def test_pipelined_queries_whose_replies_were_lost_are_sent_again(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> object:
        device = await client.login(where, "0000", codec.GROUP_USER)
        inverter.faults.drop_next = 2  # the replies to the first two of the fourteen
        return await client.query_all(where, device, list(QUERIES), pipelined=True)

    results, client = run(simulator, scenario, timeout=0.3)
    assert isinstance(results, dict)
    assert all(isinstance(value, list) for value in results.values()), results
    assert results["ac_power"]
    assert results["ac_phase_power"]
    assert client.stats.retries == 2  # those two, once each, with new packet ids
    queries = [p for p in inverter.received if p.command != codec.CMD_LOGIN]
    assert len(queries) == len(QUERIES) + 2
    assert len({p.pid for p in queries}) == len(queries)


def test_pipelined_queries_that_stay_unanswered_say_so_after_every_attempt(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> object:
        device = await client.login(where, "0000", codec.GROUP_USER)
        inverter.faults.drop_next = 3  # the first one's reply, at each of its three attempts
        return await client.query_all(where, device, list(QUERIES[:1]), pipelined=True)

    results, client = run(simulator, scenario, timeout=0.2, retries=2)
    assert isinstance(results, dict)
    assert isinstance(results["ac_power"], DeviceUnreachable)
    assert "(3 attempts)" in str(results["ac_power"])
    assert client.stats.retries == 2


def test_a_device_that_takes_one_query_at_a_time_is_asked_one_by_one(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    from structlog.testing import capture_logs

    from collector.sources.sma.source import SmaSource

    inverter.faults.busy = 0.005  # 5 ms per request; what comes meanwhile is lost

    async def scenario() -> tuple[dict[str, object], dict[str, object], int, int]:
        source = SmaSource(target(simulator), "0000", codec.GROUP_USER, timeout=0.2)
        try:
            first = await source.poll()
            assert source._client is not None
            retries = source._client.stats.retries
            second = await source.poll()
            return dict(first.fields), dict(second.fields), retries, source._client.stats.retries
        finally:
            await source.aclose()

    with capture_logs() as logs:
        first, second, retries_first, retries_after = asyncio.run(scenario())
    switched = [e for e in logs if e["event"] == "inverter takes one query at a time"]
    assert len(switched) == 1
    assert switched[0]["unanswered"] >= 1
    assert retries_first >= 1  # the pipelined attempt lost queries
    assert retries_after == retries_first  # one at a time: nothing lost any more
    expected = {
        "ac_power",
        "mpp2_power",
        "energy_total",
        "device_status",
        "grid_relay_ok",
        "bat_fuel_charge",
        "grid_power_plus",
    }
    assert expected <= set(first)
    assert set(first) - {"energy_today"} == set(second) - {"energy_today"}


def test_an_inverter_named_by_host_name_is_answered(
    simulator: SmaSimulator, inverter: SmaInverter
) -> None:
    """Replies come from an address; a target given by name (SMA_HOST=inverter.fritz.box,
    a compose service) is resolved first, else no reply would match it. `localhost` comes from
    /etc/hosts: no DNS query leaves the machine."""

    async def scenario(client: SpeedwireClient, where: tuple[str, int]) -> frame.Address:
        named = ("localhost", where[1])
        device = await client.login(named, "0000", codec.GROUP_USER)
        await client.query(named, device, BY_NAME["ac_power"])
        client.logoff(named)
        return device

    device, client = run(simulator, scenario)
    assert device == inverter.address
    assert client.stats.dropped == 0
    deadline = time.monotonic() + 5  # the log-off has no reply: wait for it to arrive
    while codec.CMD_LOGOFF not in [p.command for p in inverter.received]:
        assert time.monotonic() < deadline, "the log-off sent to a host name never arrived"
        time.sleep(0.01)
