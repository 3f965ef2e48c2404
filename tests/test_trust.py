"""Issue 19, "readings you can trust for months": each defect found, with a test that failed on
the main before it (said per test), and the core rules that keep every kind from it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from collector.config import RuntimeSettings, load_config, variable_of
from collector.daemon import Running
from collector.environment import DATA_DIR_VARIABLE, data_dir_of
from collector.loop import PollLoop
from collector.reading import FieldSpec, Negative, Reading, apply_negative, catalogue
from collector.settings import PolledSettings
from collector.sources import InstanceConfig, SourceKind, load_kinds
from collector.sources.sma import builders, codec
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma.source import fields_from
from collector.sources.sma_common import SerialTag, frame, records
from collector.sources.sma_common.frame import Address
from collector.sources.sma_common.meter_socket import meter_socket
from collector.sources.sma_common.records import TYPE_S32, TYPE_U32, Record
from collector.sources.sma_em.codec import (
    IMPORT,
    Drop,
    Dropped,
    decode_datagram,
    encode_datagram,
    model_of,
)
from collector.sources.sma_em.settings import SmaEmSettings
from collector.sources.sma_em.source import MeterSocket, MeterSource
from tests.harness import run_collector
from tests.servers import free_port

AC_POWER, GRID_PLUS, BAT_PLUS, MPP = 0x00263F00, 0x00463700, 0x00496900, 0x00251E00


# --- 1. meters that are not on the list ---------------------------------------------------------


@pytest.mark.parametrize(("susy", "model"), [(501, "Sunny Home Manager 2.0"), (502, "EMETER-20")])
def test_a_home_manager_501_and_an_emeter_20_502_are_meters(susy: int, model: str) -> None:
    # before: Dropped(NOT_A_METER, "SUSyID 501"): the user saw only "meter silent"
    datagram = decode_datagram(encode_datagram(susy, 3014930442, 7, {IMPORT: 12345}, {}))
    assert datagram.susy == susy
    assert datagram.value(IMPORT) == pytest.approx(1234.5)
    assert model_of(susy) == model


def test_an_unknown_susyid_is_read_as_a_meter_and_said_once() -> None:
    settings = SmaEmSettings(group="none")
    source = MeterSource("meter", settings, MeterSocket(settings))
    datagram = decode_datagram(encode_datagram(999, 42, 1, {IMPORT: 10}, {}))
    with capture_logs() as logs:
        source.offer(datagram)
        source.offer(decode_datagram(encode_datagram(999, 42, 2, {IMPORT: 10}, {})))
    heard = [entry for entry in logs if entry["event"] == "meter heard"]
    assert len(heard) == 1
    assert heard[0]["susy"] == 999
    assert heard[0]["model"] == "unknown"
    assert source.windows[42].samples == 2


def test_a_home_manager_s_request_is_a_request_and_a_reply_a_reply() -> None:
    # before: any 0x6065 not from SUSyID 125 was "an inverter's reply"
    home_manager = Address(372, 3014930442)
    inverter = Address(378, 3010538116)
    request = codec.query(inverter, home_manager, 5, 0x51000200, AC_POWER, AC_POWER | 0xFF)
    with pytest.raises(Dropped) as caught:
        decode_datagram(frame.encode_inverter(request))
    assert caught.value.reason is Drop.REQUEST
    record = records.number_record(records.record_code(TYPE_S32, AC_POWER), 0, 100, 28)
    reply = builders.reply_to(request, inverter, builders.encode_records([record]))
    with pytest.raises(Dropped) as caught:
        decode_datagram(frame.encode_inverter(reply))
    assert caught.value.reason is Drop.REPLY


# --- 3. SMA series keys -------------------------------------------------------------------------


def test_a_device_without_serial_gets_the_instance_name_said_once() -> None:
    tag = SerialTag("garage")
    assert tag.tags(3010538116) == {"serial": "3010538116"}
    with capture_logs() as logs:
        assert tag.tags(None) == {"serial": "garage"}
        assert tag.tags("") == {"serial": "garage"}
    assert [entry["event"] for entry in logs] == ["device tells no serial"]


# --- 4 and 7. Speedwire records: an odd size, "not a number" -----------------------------------


def number(lri: int, value: int | None, *, signed: bool = True, channel: int = 1) -> Record:
    code = records.record_code(TYPE_S32 if signed else TYPE_U32, lri, channel)
    return records.number_record(code, 0, value, 28)


def test_a_record_of_an_unexpected_size_costs_its_field_only() -> None:
    # before: CodecError out of fields_from, past the poll's error translation: the task ended
    odd = Record(records.record_code(TYPE_S32, GRID_PLUS), 0, bytes(24))
    problems: dict[str, str] = {}
    fields = fields_from([number(AC_POWER, 1500), odd], problems)
    assert fields == {"ac_power": 1500}
    assert set(problems) == {"grid_power_plus"}
    assert "holds no number" in problems["grid_power_plus"]


def test_not_a_number_is_0_only_on_the_pv_side() -> None:
    # before: grid_power_plus and bat_power_plus "not a number" were written as 0 W
    records = [
        number(AC_POWER, None),
        number(MPP, None, channel=1),
        number(GRID_PLUS, None),
        number(BAT_PLUS, None),
    ]
    assert fields_from(records) == {"ac_power": 0, "mpp1_power": 0, "dc_power": 0}


def test_a_negative_value_is_treated_as_its_catalogue_says() -> None:
    specs = catalogue(
        [
            FieldSpec("ac", int, "W", "fed out", negative=Negative.ZERO),
            FieldSpec("grid", int, "W", "import", negative=Negative.INVALID),
            FieldSpec("current", float, "A", "signed"),
        ]
    )
    fields, invalid = apply_negative({"ac": -10, "grid": -3, "current": -4.5}, specs)
    assert fields == {"ac": 0, "current": -4.5}
    assert invalid == ["grid"]
    # before: max(0, value) in the codec, without a word; now no SMA codec clamps
    assert fields_from([number(AC_POWER, -10)]) == {"ac_power": -10}


def test_the_three_sma_kinds_round_alike() -> None:
    from collector.sources.sma_common.registers import RegisterRole, field_value

    # before: int() (WebConnect: 2.5 -> 2), round() (ennexOS: 2.5 -> 2), half away from zero
    assert field_value(RegisterRole.POWER, 2.5) == 3
    assert field_value(RegisterRole.POWER, -2.5) == -3
    assert field_value(RegisterRole.MEASURE, 23015, 100) == 230.15
    assert field_value(RegisterRole.MEASURE, 0.0005) == 0.001
    assert field_value(RegisterRole.COUNTER, 0) is None
    assert field_value(RegisterRole.PV_POWER, None) == 0
    assert field_value(RegisterRole.POWER, None) is None


# --- 2. two instances in one series: the core's check -------------------------------------------


class _Settings(PolledSettings):
    measurement: str = "m"


def _running(kind: SourceKind, shared: bool) -> Running:
    class Instance:
        name = "one"
        device = ""

    config = InstanceConfig(kind.name, "one", _Settings(), shared=shared)
    return Running(Instance(), config, kind)  # type: ignore[arg-type]


def test_a_shared_instance_s_reading_without_its_series_tag_is_not_written() -> None:
    kind = dataclasses.replace(load_kinds()["sma-em"], series_tag="serial")
    now = datetime.now(UTC).replace(microsecond=0)
    submitted: list[Reading] = []

    def submit(reading: Reading, done: Any) -> None:
        submitted.append(reading)

    emit = _running(kind, shared=True).emitter(submit)
    with capture_logs() as logs:
        emit(Reading(now, "m", {"samples": 1}), lambda on_disk: None)
        emit(Reading(now, "m", {"samples": 1}), lambda on_disk: None)
        emit(Reading(now, "m", {"samples": 1}, {"serial": "1001"}), lambda on_disk: None)
    assert [reading.tags for reading in submitted] == [{"serial": "1001"}]
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1  # said once


def test_the_core_writes_a_negative_field_as_the_catalogue_says() -> None:
    kind = load_kinds()["sma-em"]
    now = datetime.now(UTC).replace(microsecond=0)
    submitted: list[Reading] = []
    emit = _running(kind, shared=False).emitter(lambda reading, done: submitted.append(reading))
    with capture_logs() as logs:
        emit(
            Reading(now, "m", {"grid_power_plus": -5, "samples": 3}, {"serial": "1"}),
            lambda on_disk: None,
        )
    assert submitted[0].fields == {"samples": 3}
    assert [entry["event"] for entry in logs] == ["negative value left out"]


def test_two_meter_sockets_opened_at_once_are_one() -> None:
    # before: both awaited create_datagram_endpoint before either stored it: two sockets
    settings = SmaEmSettings(group="none", port=free_port(udp=True))
    shared = MeterSocket(settings)
    one = MeterSource("one", settings, shared)
    two = MeterSource("two", settings, shared)

    async def main() -> int:
        opened: list[Any] = []
        real = asyncio.get_running_loop().create_datagram_endpoint

        async def counting(*args: Any, **kwargs: Any) -> Any:
            result = await real(*args, **kwargs)
            opened.append(result)
            return result

        asyncio.get_running_loop().create_datagram_endpoint = counting  # type: ignore[method-assign]
        await asyncio.gather(shared.open(one), shared.open(two))
        shared.close(one)
        assert shared.ready.is_set()  # two still listens
        shared.close(two)
        assert not shared.ready.is_set()
        return len(opened)

    assert asyncio.run(main()) == 1


# --- 8. SENEC cloud: the house without the wallbox ------------------------------------------------


def test_house_power_is_left_out_when_the_wallbox_power_is_missing() -> None:
    from collector.sources.senec_cloud import codec as cloud
    from tests.conftest import recording

    dashboard = recording("senec-cloud-dashboard.json")
    wallbox = recording("senec-cloud-wallbox.json")
    del wallbox["chargingCurrents"]["currentApparentChargingPowerInKw"]
    fields, problems = cloud.dashboard_fields(dashboard, [wallbox], None)
    # before: house_power = consumption - (None or 0): the wallbox counted as the house's
    assert "house_power" not in fields
    assert "wallbox_charge_power" not in fields
    assert any("house_power left out" in problem for problem in problems)


# --- 12. the SENEC cloud user name is personal data -----------------------------------------------


def test_the_user_name_is_masked() -> None:
    from collector.sources.senec_cloud.client import masked

    assert masked("jane.doe@example.com") == "j***@example.com"
    assert masked("jane") == "j***"


# --- 11. healthy at night ----------------------------------------------------------------------


def test_a_sleeping_inverter_is_healthy_for_a_day_with_the_reason(tmp_path: Any) -> None:
    import time

    from collector.health import QueueHealth, SourceHealth, check_health, write_health

    now = time.time()
    queue = QueueHealth(0, True, None, None, None)

    def check(asleep_since: float | None) -> tuple[list[str], list[str]]:
        sleeping = SourceHealth("sma", 5.0, now - 3 * 3600, None, asleep_since)
        write_health(tmp_path, now - 4 * 3600, [sleeping], queue, 600.0, 10.0)
        notes: list[str] = []
        return check_health(tmp_path, now, notes), notes

    # before: "sma: no reading for 10800 s (limit 60 s)" every evening
    problems, notes = check(now - 3 * 3600)
    assert problems == []
    assert notes == [f"sma: asleep since {time.strftime('%H:%M', time.localtime(now - 10800))}"]
    problems, _ = check(now - 25 * 3600)  # asleep for longer than a day: not asleep
    assert [problem.split(":")[0] for problem in problems] == ["sma"]
    problems, _ = check(None)  # silent, and not asleep
    assert len(problems) == 1


def test_the_poll_loop_says_when_its_device_sleeps() -> None:
    from collector.sources.sma_common import InverterSilent
    from tests.test_loop import run_script

    loop, _, _ = run_script([InverterSilent("no answer (asleep)")])
    assert loop.status.asleep_since is None  # it answered again: awake


def test_a_failed_bind_leaves_no_socket_open() -> None:
    # before: meter_socket made the socket, and a bind that failed left it open
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("", 0))  # without SO_REUSEADDR/SO_REUSEPORT: nobody else may bind the port
    port = taken.getsockname()[1]
    try:
        before = set(os.listdir("/proc/self/fd"))
        with pytest.raises(OSError, match="in use"):
            meter_socket(port, "none", "", structlog.get_logger())
        assert set(os.listdir("/proc/self/fd")) <= before
    finally:
        taken.close()


# --- 6. one DATA_DIR for the daemon, the health check and the queue ------------------------------


def test_the_cli_finds_data_dir_where_the_daemon_does(tmp_path: Path) -> None:
    # before: healthcheck and queue read COLLECTOR_CONFIG from the environment only, so a file
    # named in .env was not read, and they looked in ./data
    (tmp_path / ".env").write_text(f"COLLECTOR_CONFIG={tmp_path / 'collector.toml'}\n")
    (tmp_path / "collector.toml").write_text('[runtime]\ndata_dir = "elsewhere"\n')
    daemon = load_config(need_sink=False, need_sources=False, environ={}, cwd=tmp_path)
    assert daemon.runtime.data_dir == Path("elsewhere") == data_dir_of({}, tmp_path)

    health = run_collector(tmp_path, {}, "healthcheck")
    queue = run_collector(tmp_path, {}, "queue")
    assert "no elsewhere/health.json" in health.stderr
    assert "no queue at elsewhere/queue.sqlite3" in queue.stderr

    # the environment wins over the file, as in the daemon; .env's DATA_DIR too
    (tmp_path / ".env").write_text(
        f"COLLECTOR_CONFIG={tmp_path / 'collector.toml'}\nDATA_DIR=from-dotenv\n"
    )
    daemon = load_config(need_sink=False, need_sources=False, environ={}, cwd=tmp_path)
    assert daemon.runtime.data_dir == Path("from-dotenv") == data_dir_of({}, tmp_path)
    env = {"DATA_DIR": "from-env"}
    daemon = load_config(need_sink=False, need_sources=False, environ=env, cwd=tmp_path)
    assert daemon.runtime.data_dir == Path("from-env") == data_dir_of(env, tmp_path)
    assert variable_of(RuntimeSettings, "", "data_dir") == DATA_DIR_VARIABLE


# --- 13. Speedwire over IPv6 ----------------------------------------------------------------------


def test_speedwire_speaks_ipv6() -> None:
    # before: the client's one socket was IPv4: an IPv6 address timed out without a word
    simulator = SmaSimulator([SmaInverter(3010538299)], host="::1").start()
    kind = load_kinds()["sma"]
    (address,) = simulator.addresses
    assert address.startswith("[::1]:")
    settings = kind.settings.model_validate({"host": address, "interval": 1})
    (instance,) = kind.build([InstanceConfig("sma", "sma", settings)])
    assert isinstance(instance, PollLoop)
    readings: list[Reading] = []

    async def main() -> None:
        try:
            await instance.poll_once(lambda reading, done: readings.append(reading))
        finally:
            await instance.aclose()

    try:
        asyncio.run(main())
    finally:
        simulator.stop()
    assert instance.status.last_error is None
    (reading,) = readings
    assert reading.tags["serial"] == "3010538299"
    assert "ac_power" in reading.fields
