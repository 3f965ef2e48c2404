"""The `sma-em` kind: the 0x6069 decoder on SMA's recorded datagrams and generated ones, the
averaging, and the listener against the simulator over real UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.reading import Reading
from collector.sources.sma_em.codec import (
    EXPORT,
    FREQUENCY,
    IMPORT,
    VOLTAGE,
    Drop,
    Dropped,
    decode_datagram,
    encode_datagram,
    phase,
)
from collector.sources.sma_em.settings import SmaEmSettings
from collector.sources.sma_em.simulator import Faults, Meter, MeterSender
from collector.sources.sma_em.source import MeterSocket, MeterSource, Window
from tests.conftest import RECORDINGS
from tests.servers import free_port

PACKETS = json.loads((RECORDINGS / "sma-speedwire-packets.json").read_text())
METER_PACKETS = [p for p in PACKETS if p["hex"][32:36] == "6069"]


def packet(index: int) -> bytes:
    return bytes.fromhex(PACKETS[index]["hex"])


# --- the decoder on the recordings ------------------------------------------------------------


def test_the_13_recorded_meter_datagrams_decode_as_the_reference_lists_them() -> None:
    assert len(METER_PACKETS) == 13
    decoded = [decode_datagram(bytes.fromhex(p["hex"])) for p in METER_PACKETS]
    em2, shm = decoded[:12], decoded[12]
    # EM 2.0 (mlasch/speedwire): SUSyID 349, serial 1901429669, firmware 2.0.18.R, 600 bytes
    assert {(d.susy, d.serial, d.version) for d in em2} == {(349, 1901429669, "2.0.18.R")}
    assert em2[0].ticker_ms == 1985149010
    assert [d.ticker_ms for d in em2[1:]] == sorted(d.ticker_ms for d in em2[1:])
    # SHM 2.0 (pysma): SUSyID 372, serial 3014930442, firmware 2.13.6.R, 60 channels
    assert (shm.susy, shm.serial, shm.version, shm.ticker_ms) == (
        372,
        3014930442,
        "2.13.6.R",
        3293490744,
    )
    assert len(shm.actual) + len(shm.counters) + 1 == 60  # + the version
    assert shm.value(FREQUENCY) == pytest.approx(49.978)  # only the SHM sends it
    assert all(d.value(FREQUENCY) is None for d in em2)
    for datagram in decoded:
        assert datagram.skipped == 0
        # import and export are never both drawn at once on the total
        assert not (datagram.actual[IMPORT] and datagram.actual[EXPORT])
        assert 200 < (datagram.value(phase(VOLTAGE, 1)) or 0) < 260
        # phases add up to the total (within the 0.1 W rounding of each)
        phases = sum(datagram.actual[phase(IMPORT, n)] for n in (1, 2, 3))
        assert abs(phases - datagram.actual[IMPORT]) <= 3
    assert em2[0].value(IMPORT) == pytest.approx(1054.6)
    assert em2[0].energy(IMPORT) == pytest.approx(89935560 / 3600)


def test_every_other_recorded_datagram_is_dropped_with_its_reason() -> None:
    reasons = []
    for item in PACKETS:
        if item in METER_PACKETS:
            continue
        with pytest.raises(Dropped) as caught:
            decode_datagram(bytes.fromhex(item["hex"]))
        reasons.append(caught.value.reason)
    assert set(reasons) == {Drop.REQUEST, Drop.REPLY, Drop.OTHER_PROTOCOL}
    assert reasons.count(Drop.OTHER_PROTOCOL) == 3  # the discovery request and two replies


# --- generated datagrams ----------------------------------------------------------------------

INDICES = st.sampled_from(
    [
        1,
        2,
        3,
        4,
        9,
        10,
        13,
        14,
        *(phase(i, n) for i in (1, 2, 3, 4, 9, 10, 11, 12, 13) for n in (1, 2, 3)),
    ]
)


@given(
    actual=st.dictionaries(INDICES, st.integers(0, 2**32 - 1)),
    counters=st.dictionaries(INDICES, st.integers(0, 2**64 - 1)),
    unknown=st.lists(
        st.tuples(st.integers(1, 143), st.integers(0, 255), st.sampled_from([4, 8])), max_size=4
    ),
    susy=st.integers(0, 0xFFFF),  # any SUSyID: it names a model, it is no filter
)
def test_generated_datagrams_decode_to_what_was_encoded(
    actual: dict[int, int],
    counters: dict[int, int],
    unknown: list[tuple[int, int, int]],
    susy: int,
) -> None:
    extra = b"".join(bytes((c, i, t, 0)) + bytes(t) for c, i, t in unknown)  # other channels
    data = encode_datagram(susy, 1234, 99, actual, counters, "2.3.4.R", extra)
    datagram = decode_datagram(data)
    assert datagram.actual == actual
    assert datagram.counters == counters
    assert datagram.version == "2.3.4.R"
    assert datagram.skipped == len(unknown)


@given(st.data())
def test_a_damaged_datagram_is_dropped_never_raised(data: st.DataObject) -> None:
    raw = bytearray(bytes.fromhex(METER_PACKETS[12]["hex"]))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["cut", "flip", "insert"]))
        if action == "cut":
            del raw[at:]
            if not raw:
                break
        elif action == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        else:
            raw.insert(at, data.draw(st.integers(0, 255)))
    with contextlib.suppress(Dropped):  # anything else fails the test
        decode_datagram(bytes(raw))


def test_the_shm_layout_with_unknown_records_decodes() -> None:
    meter = Meter(layout="shm2", serial=77)
    datagram = decode_datagram(meter.datagram(1_000_000.0))
    assert (datagram.susy, datagram.serial, datagram.version) == (372, 77, "2.3.4.R")
    assert datagram.skipped == 0  # channel 0, type 4: a known type on an unknown index
    assert 36 in datagram.actual
    assert datagram.value(FREQUENCY) == pytest.approx(50.012)


# --- the average ------------------------------------------------------------------------------


def test_a_window_averages_exactly_and_keeps_the_latest_counter() -> None:
    window = Window()
    for watts, ws in ((1000.0, 3_600_000), (1500.0, 3_603_600), (2001.0, 3_607_200)):
        window.add(
            decode_datagram(encode_datagram(349, 1, 0, {IMPORT: round(watts * 10)}, {IMPORT: ws}))
        )
    fields = window.fields()
    assert fields["grid_power_plus"] == 1500  # (1000 + 1500 + 2001) / 3 = 1500.33
    assert fields["grid_energy_plus"] == 1002  # 3,607,200 Ws
    assert fields["samples"] == 3
    assert "grid_power_minus" not in fields  # never sent


# --- the listener over UDP -----------------------------------------------------------------------


class Listening:
    """A MeterSource on a free port, run until `until(readings)` is true (or 20 s)."""

    def __init__(self, **settings: Any) -> None:
        self.port = free_port(udp=True)
        settings = {"group": "none", **settings}
        self.settings = SmaEmSettings(port=self.port, interval=1.0, **settings)
        self.hub = MeterSocket(self.settings)
        self.source = MeterSource("meter", self.settings, self.hub)
        self.readings: list[Reading] = []

    def run(self, until: Callable[[list[Reading]], bool], during: Callable[[], None]) -> None:
        async def main() -> None:
            stop = asyncio.Event()

            def emit(reading: Reading, done: Any) -> None:
                self.readings.append(reading)
                done(True)
                if until(self.readings):
                    stop.set()

            task = asyncio.create_task(self.source.run(emit, stop))
            await asyncio.wait_for(self.hub.ready.wait(), 10)  # the socket is open: send
            await asyncio.to_thread(during)
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([task, stopped], timeout=20, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            await task
            await stopped

        asyncio.run(main())


def test_bad_datagrams_are_dropped_and_counted_duplicates_once() -> None:
    listening = Listening(serial="1901429669")
    sender = MeterSender(Meter(), ("127.0.0.1", listening.port), period=0.1)

    def send() -> None:
        sender.faults = Faults(duplicate=True, foreign=True)
        for _ in range(5):
            sender.send_once()
        sender.faults = Faults(truncate=True)
        sender.send_once()
        sender.sock.sendto(packet(0), sender.target)  # a query to inverters (0x6065)
        sender.sock.sendto(b"hello", sender.target)  # no Speedwire at all

    listening.run(lambda readings: sum(int(r.fields["samples"]) for r in readings) >= 5, send)
    sender.stop()
    assert sum(int(r.fields["samples"]) for r in listening.readings) == 5  # the duplicates once
    drops = listening.hub.drops
    assert drops[Drop.DUPLICATE] == 5
    assert drops[Drop.REQUEST] == 6  # the simulator's foreign query, and the recorded one
    assert drops[Drop.MALFORMED] == 1
    assert drops[Drop.NOT_SPEEDWIRE] == 1


def test_only_the_wanted_meters_are_read_each_tagged_when_several() -> None:
    listening = Listening(serial="111,222")
    senders = [
        MeterSender(Meter(serial=serial), ("127.0.0.1", listening.port))
        for serial in (111, 222, 333)
    ]

    def send() -> None:
        for _ in range(3):
            for sender in senders:
                sender.send_once()

    listening.run(lambda readings: {r.tags.get("serial") for r in readings} >= {"111", "222"}, send)
    for sender in senders:
        sender.stop()
    assert {r.tags["serial"] for r in listening.readings} == {"111", "222"}
    assert set(listening.source.heard) == {111, 222}


def test_one_meter_has_its_serial_tag_and_its_values_are_the_mean_of_what_was_sent() -> None:
    listening = Listening(serial="5")
    watts = [1000, 1100, 1200, 1300]  # any run of them has a whole mean

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for ticker, power in enumerate(watts):
                data = encode_datagram(349, 5, ticker, {IMPORT: power * 10}, {IMPORT: 7_200_000})
                sock.sendto(data, ("127.0.0.1", listening.port))

    listening.run(lambda readings: sum(int(r.fields["samples"]) for r in readings) >= 4, send)
    readings = listening.readings
    assert all(r.tags == {"serial": "5"} for r in readings)  # one meter too: a stable series
    # each reading is the mean of the datagrams it counts: together, exactly what was sent
    assert sum(
        int(r.fields["grid_power_plus"]) * int(r.fields["samples"]) for r in readings
    ) == sum(watts)
    assert {r.fields["grid_energy_plus"] for r in readings} == {2000}


def test_silence_is_reported_once_and_the_return_once() -> None:
    listening = Listening(serial="42")
    sender = MeterSender(Meter(serial=42), ("127.0.0.1", listening.port))
    phases: list[str] = []

    def until(readings: list[Reading]) -> bool:
        return bool(readings)

    def send() -> None:
        # silent for two windows at least, then heard again
        while listening.source.status.failed_polls < 2:
            time.sleep(0.05)
        phases.append(f"silent {sorted(listening.source.silent_since)}")
        for _ in range(3):
            sender.send_once()

    listening.run(until, send)
    sender.stop()
    assert phases == ["silent [42]"]
    assert listening.source.silent_since == {}
    assert len(listening.readings) >= 1


def test_a_counter_going_backwards_is_left_out() -> None:
    source = MeterSource("m", SmaEmSettings(serial="1", group="none"), MeterSocket(SmaEmSettings()))
    fields: dict[str, Any] = {"grid_energy_plus": 1000, "grid_energy_minus": 50}
    source._check_counters(1, fields)
    assert fields == {"grid_energy_plus": 1000, "grid_energy_minus": 50}
    later: dict[str, Any] = {"grid_energy_plus": 999, "grid_energy_minus": 0}
    source._check_counters(1, later)
    assert later == {}  # backwards, and 0
    again: dict[str, Any] = {"grid_energy_plus": 1001, "grid_energy_minus": 51}
    source._check_counters(1, again)
    assert again == {"grid_energy_plus": 1001, "grid_energy_minus": 51}


def test_the_home_manager_s_charger_datagrams_and_non_meters_are_dropped() -> None:
    meter = encode_datagram(349, 7, 1, {IMPORT: 5}, {})
    extended = meter.replace(b"\x60\x69", b"\x60\x81", 1)  # SHM 2.0 to an EV charger
    with pytest.raises(Dropped) as caught:
        decode_datagram(extended)
    assert caught.value.reason is Drop.EXTENDED
    with pytest.raises(Dropped) as caught:
        decode_datagram(meter[:-10] + bytes(4))  # the length says more than there is
    assert caught.value.reason is Drop.MALFORMED


def test_the_multicast_group_is_joined_on_the_chosen_interface() -> None:
    """The meter's way by default: to 239.12.255.254. Joined on 127.0.0.1 and sent from there
    with TTL 0, the datagrams never leave this host."""
    listening = Listening(serial="9", group="239.12.255.254", interface="127.0.0.1")
    target = ("239.12.255.254", listening.port)
    sender = MeterSender(Meter(serial=9), target, interface="127.0.0.1", ttl=0)

    def send() -> None:
        for _ in range(3):
            sender.send_once()

    listening.run(lambda readings: bool(readings), send)
    sender.stop()
    assert sum(int(r.fields["samples"]) for r in listening.readings) == 3
