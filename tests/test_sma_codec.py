"""The Speedwire codec on every recorded packet, and on generated records and packets."""

from __future__ import annotations

import contextlib
import re
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.sources.sma import builders, codec
from collector.sources.sma_common import frame, records
from collector.sources.sma_common.frame import (
    Address,
    DiscoveryReply,
    InverterPacket,
    MeterPacket,
    SpeedwireError,
)
from collector.sources.sma_common.records import Record
from tests.conftest import recording

PACKETS: list[dict[str, Any]] = recording("sma-speedwire-packets.json")


def _described(packet: dict[str, Any], pattern: str) -> str:
    match = re.search(pattern, packet["description"])
    assert match, f"{pattern!r} not in {packet['description'][:120]}"
    return match.group(1)


@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: p["description"][:60])
def test_every_recorded_packet_decodes_and_encodes_to_the_same_bytes(
    packet: dict[str, Any],
) -> None:
    data = bytes.fromhex(packet["hex"])
    assert frame.join_tags(frame.split_tags(data)) == data
    decoded = codec.decode(data)
    description = packet["description"]
    if "protocol 0x6065" in description:
        assert isinstance(decoded, InverterPacket)
        assert frame.encode_inverter(decoded) == data
        assert f"0x{decoded.command:08x}" == _described(packet, r"command (0x[0-9a-f]{8})")
        assert f"0x{decoded.packet_id:04x}" == _described(packet, r"packet id (0x[0-9a-f]{4})")
        assert f"0x{decoded.error:04x}" == _described(packet, r"error (0x[0-9a-f]{4})")
        dst = re.search(r"dst susy (\d+) serial (\d+)", description)
        src = re.search(r"src susy (\d+) serial (\d+)", description)
        assert dst
        assert src
        assert decoded.destination == Address(int(dst.group(1)), int(dst.group(2)))
        assert decoded.source == Address(int(src.group(1)), int(src.group(2)))
        if "reply" in description.split(";")[0] and decoded.command != codec.CMD_LOGIN_REPLY:
            first, last = (
                int(x, 16) for x in re.findall(r"registers (0x\w+)\.\.(0x\w+)", description)[0]
            )
            assert decoded.register_range == (first, last)
            for record in codec.records(decoded):  # every reply parses into whole records
                assert record.size in records.RECORD_SIZES
    elif "protocol 0x6069" in description:
        assert isinstance(decoded, MeterPacket)
        susy, serial = re.findall(r"susy (\d+) \(0x[0-9a-f]+\) serial (\d+)", description)[0]
        assert decoded.source == Address(int(susy), int(serial))
        assert frame.encode_meter(decoded) == data
    elif "discovery reply" in description:
        assert isinstance(decoded, DiscoveryReply)
        assert decoded.ip == "192.168.178.22"
    else:
        assert frame.is_discovery_request(data)
        assert data == frame.DISCOVERY_REQUEST
        assert decoded is None


def _reply(annotation: str) -> InverterPacket:
    for packet in PACKETS:
        if annotation in packet["description"] and " reply" in packet["description"]:
            decoded = codec.decode(bytes.fromhex(packet["hex"]))
            assert isinstance(decoded, InverterPacket)
            return decoded
    raise AssertionError(annotation)


def _reply_after(request_annotation: str) -> InverterPacket:
    for index, packet in enumerate(PACKETS):
        if f'"{request_annotation}"' in packet["description"]:
            decoded = codec.decode(bytes.fromhex(PACKETS[index + 1]["hex"]))
            assert isinstance(decoded, InverterPacket)
            return decoded
    raise AssertionError(request_annotation)


def test_recorded_replies_carry_the_values_the_source_annotates() -> None:
    dc = codec.records(_reply_after("query spot dc power"))
    assert [(r.lri, r.channel, r.number()) for r in dc] == [(0x251E00, 1, 87), (0x251E00, 2, 94)]
    assert dc[0].time == 0x5FE9A761
    ac = codec.records(_reply_after("query spot ac power"))
    assert [(r.lri >> 8, r.number()) for r in ac] == [(0x4640, 56), (0x4641, 55), (0x4642, 57)]
    relay = codec.records(_reply_after("query grid relay status"))
    assert [(r.lri >> 8, r.status(), r.options()) for r in relay] == [(0x4164, 51, [51, 311])]
    version = codec.records(_reply_after("query software version"))
    assert [(r.lri >> 8, r.version()) for r in version] == [(0x8234, "03.10.10.R")]
    kind = codec.records(_reply_after("query device type"))
    assert kind[0].lri >> 8 == 0x821E
    assert kind[0].text() == "SN: 3010538116"
    assert kind[1].lri >> 8 == 0x821F
    assert kind[1].status() is not None
    voltage = codec.records(_reply_after("query spot ac voltage/current"))
    assert len(voltage) == 10
    assert all(r.size == 28 for r in voltage)


def test_recorded_login_and_its_two_answers() -> None:
    request = next(
        codec.decode(bytes.fromhex(p["hex"]))
        for p in PACKETS
        if "request: login" in p["description"]
    )
    assert isinstance(request, InverterPacket)
    login = codec.parse_login(request)
    assert login.group == codec.GROUP_USER
    assert codec.decode_password(login.password, login.group) == "9999"
    rebuilt = codec.login(
        request.destination, request.source, request.pid, "9999", codec.GROUP_USER, login.time
    )
    assert frame.encode_inverter(rebuilt) == frame.encode_inverter(request)
    answers = [
        codec.decode(bytes.fromhex(p["hex"])) for p in PACKETS if "reply: login" in p["description"]
    ]
    assert [a.error for a in answers if isinstance(a, InverterPacket)] == [
        codec.ReplyCode.OK,
        codec.ReplyCode.WRONG_PASSWORD,
    ]
    ok = answers[0]
    assert isinstance(ok, InverterPacket)
    ours = builders.login_reply(request, ok.source, codec.ReplyCode.OK)
    assert (ours.command, ours.pid, ours.destination, ours.body[:16]) == (
        ok.command,
        ok.pid,
        ok.destination,
        ok.body[:16],
    )


def test_recorded_logoff_is_what_we_send() -> None:
    recorded = next(p for p in PACKETS if "the logoff command SBFspot sends" in p["description"])
    decoded = codec.decode(bytes.fromhex(recorded["hex"]))
    assert isinstance(decoded, InverterPacket)
    ours = codec.logoff(decoded.source, decoded.pid)
    assert frame.encode_inverter(ours) == bytes.fromhex(recorded["hex"])


def test_the_password_is_encoded_per_group_and_limited() -> None:
    assert codec.encode_password("0000", codec.GROUP_USER).hex() == "b8b8b8b8" + "88" * 8
    assert codec.encode_password("1111", codec.GROUP_INSTALLER).hex() == "ecececec" + "bb" * 8
    with pytest.raises(ValueError, match="at most 12"):
        codec.encode_password("x" * 13, codec.GROUP_USER)
    with pytest.raises(ValueError, match="ASCII"):
        codec.encode_password("pässword", codec.GROUP_USER)


@pytest.mark.parametrize(
    ("code", "raw", "expected"),
    [
        (
            0x40263F01,
            struct.pack("<IIIII", 0x80000000, 0x80000000, 0x80000000, 0x80000000, 1),
            None,
        ),
        (0x00465701, struct.pack("<IIIII", *[0xFFFFFFFF] * 4, 1), None),
        (0x40263F01, struct.pack("<IIIII", *[0xFFFFFF9C] * 4, 1), -100),
        (0x00260101, struct.pack("<Q", 0xFFFFFFFFFFFFFFFF), None),
        (0x00260101, struct.pack("<Q", 0x8000000000000000), None),
        (0x00260101, struct.pack("<Q", 19_314_227), 19_314_227),
    ],
)
def test_not_a_number_sentinels_become_none(code: int, raw: bytes, expected: int | None) -> None:
    assert Record(code, 0, raw).number() == expected


def test_a_status_list_without_a_selected_entry_is_none() -> None:
    record = records.status_record(0x08214801, 5, None, [307, 35, 455, 303])
    assert record.status() is None
    assert record.options() == [307, 35, 455, 303]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"SMA",
        b"XYZ\x00\x00\x04\x02\xa0",
        b"SMA\x00\x00\x04\x02\xa0\x00\x00",  # a tag longer than what is left
        b"SMA\x00\x00\x00\x00\x00junk",  # bytes after the end
        bytes.fromhex(PACKETS[1]["hex"])[:-6],  # cut short
    ],
)
def test_malformed_datagrams_are_codec_errors(data: bytes) -> None:
    with pytest.raises(SpeedwireError):
        codec.decode(data)


def test_records_that_do_not_divide_are_refused() -> None:
    reply = _reply_after("query spot dc power")
    broken = InverterPacket(
        reply.destination, reply.source, reply.command, reply.packet_id, reply.body[:-3]
    )
    with pytest.raises(SpeedwireError, match="do not divide"):
        codec.records(broken)
    odd = InverterPacket(
        reply.destination,
        reply.source,
        reply.command,
        reply.packet_id,
        struct.pack("<II", 0, 0) + b"\x00" * 24,
    )
    with pytest.raises(SpeedwireError, match="24-byte records"):
        codec.records(odd)


# --- generated --------------------------------------------------------------------------------

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
lri = st.integers(0, 0xFFFF).map(lambda x: x << 8)
channel = st.integers(0, 0xFF)


@given(lri, channel, u32, st.one_of(st.none(), st.integers(-(2**31) + 1, 2**31 - 1)))
def test_signed_32_bit_records_both_ways(
    register: int, cls: int, time: int, value: int | None
) -> None:
    record = records.number_record(0x40000000 | register | cls, time, value, 28)
    data = builders.encode_records([record])
    reply = InverterPacket(Address(1, 2), Address(3, 4), 0x51000201, 0x8001, data)
    (parsed,) = codec.records(codec.decode(frame.encode_inverter(reply)))  # type: ignore[arg-type]
    assert (parsed.lri, parsed.channel, parsed.time, parsed.number()) == (
        register,
        cls,
        time,
        value,
    )


@given(lri, u32, st.one_of(st.none(), st.integers(0, 2**32 - 3)))
def test_unsigned_32_bit_records_both_ways(register: int, time: int, value: int | None) -> None:
    record = records.number_record(register | 1, time, value, 28)
    assert Record(record.code, record.time, record.data).number() == value


@given(lri, u32, st.one_of(st.none(), st.integers(0, 2**63 - 1)))
def test_64_bit_counters_both_ways(register: int, time: int, value: int | None) -> None:
    record = records.number_record(register | 1, time, value, 16)
    data = builders.encode_records([record, record])
    reply = InverterPacket(Address(1, 2), Address(3, 4), 0x54000201, 0x8001, data)
    parsed = codec.records(reply)
    assert [r.number() for r in parsed] == [value, value]
    assert all(r.size == 16 for r in parsed)


@given(
    st.lists(st.integers(1, 0xFFFFFC), min_size=1, max_size=7, unique=True),
    st.data(),
)
def test_status_lists_both_ways(options: list[int], data: st.DataObject) -> None:
    selected = data.draw(st.sampled_from(options))
    record = records.status_record(0x08214801, 1, selected, options)
    assert record.status() == selected
    assert record.options() == options


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=32))
def test_text_records_both_ways(text: str) -> None:
    assert records.text_record(0x10821E01, 0, text).text() == (text.strip() or None)


@given(st.integers(1, 99), st.integers(0, 99), st.integers(0, 255), st.sampled_from("NEABRS"))
def test_versions_both_ways(major: int, minor: int, build: int, letter: str) -> None:
    version = f"{major:02d}.{minor:02d}.{build:02d}.{letter}"
    assert records.version_record(0x00823401, 0, version).version() == version


@given(u16, u32, u16, u32, u32, st.integers(0, 0x7FFF), st.binary(max_size=64), u16, u16, u16)
def test_inverter_packets_both_ways(
    dst_susy: int,
    dst_serial: int,
    src_susy: int,
    src_serial: int,
    command: int,
    pid: int,
    body: bytes,
    error: int,
    fragment: int,
    control: int,
) -> None:
    packet = InverterPacket(
        Address(dst_susy, dst_serial),
        Address(src_susy, src_serial),
        command,
        pid | 0x8000,
        body,
        error=error,
        fragment=fragment,
        destination_control=control,
    )
    decoded = codec.decode(frame.encode_inverter(packet))
    assert isinstance(decoded, InverterPacket)
    assert decoded == InverterPacket(**{**packet.__dict__, "long_words": decoded.long_words})
    assert decoded.long_words == (2 + 28 + len(body)) // 4  # the query: (30 + 8) // 4 = 9
    assert decoded.pid == pid


@given(st.binary(max_size=200))
def test_garbage_is_a_codec_error_or_nothing_never_a_crash(data: bytes) -> None:
    with contextlib.suppress(SpeedwireError):
        codec.decode(b"SMA\x00" + data)


@pytest.mark.parametrize(("raw_ma", "expected"), [(-4773, 4.773), (4773, 4.773)])
def test_speedwire_battery_current_is_positive_while_charging_whatever_the_models_sign(
    raw_ma: int, expected: float
) -> None:
    """SMA's sign of 0x495D00 depends on the model; the field's is + while charging."""
    from collector.sources.sma.source import fields_from

    battery = [
        records.number_record(0x40495D01, 1, raw_ma, 28),
        records.number_record(0x00496901, 1, 2048, 28),
        records.number_record(0x00496A01, 1, 0, 28),
    ]
    fields = fields_from(battery)
    assert fields["bat_charge_current"] == expected
    assert (fields["bat_power_plus"], fields["bat_power_minus"]) == (2048, 0)


# --- the yield logs (archive queries) ---------------------------------------------------------


def test_a_yield_log_query_is_laid_out_as_the_reference_says() -> None:
    """sma.md §2 and §4: the command at UDP offset 42, the time range after it (Unix seconds,
    little-endian), control byte 0xE0 at offset 19 as SBFspot sends archive queries."""
    me, device = Address(125, 900000001), Address(378, 3010538116)
    start, end = 1796601600, 1796687999
    data = frame.encode_inverter(
        codec.archive_query(device, me, 0x0123, codec.CMD_YIELD_5MIN, start, end)
    )
    assert data[19] == 0xE0
    assert data[42:46] == bytes.fromhex("00020070")
    assert struct.unpack_from("<II", data, 46) == (start, end)
    assert struct.unpack_from(">H", data, 12)[0] == 0x26  # as any query's: 38 bytes
    assert len(data) == 20 + 0x26
    decoded = codec.decode(data)
    assert isinstance(decoded, InverterPacket)
    assert decoded.register_range == (start, end)


def test_a_yield_log_reply_gives_time_and_total_with_not_a_number_as_none() -> None:
    """Twelve bytes a record: u32 time, u64 Wh, little-endian; all ones is "not a number"."""
    body = struct.pack("<II", 0, 2) + b"".join(
        [
            struct.pack("<IQ", 1796601600, 10_123_456),
            struct.pack("<IQ", 1796601900, 10_123_789),
            struct.pack("<I", 1796602200) + b"\xff" * 8,
        ]
    )
    reply = InverterPacket(
        Address(125, 1), Address(378, 2), codec.CMD_YIELD_5MIN | 1, 0x8001, body, control=0xE0
    )
    again = codec.decode(frame.encode_inverter(reply))
    assert isinstance(again, InverterPacket)
    assert codec.yield_records(again) == [
        codec.YieldRecord(1796601600, 10_123_456),
        codec.YieldRecord(1796601900, 10_123_789),
        codec.YieldRecord(1796602200, None),
    ]


def test_a_yield_log_reply_of_broken_records_is_a_speedwire_error() -> None:
    body = struct.pack("<II", 0, 1) + struct.pack("<IQ", 1796601600, 1) + b"\x00" * 5
    reply = InverterPacket(Address(125, 1), Address(378, 2), codec.CMD_YIELD_5MIN | 1, 1, body)
    with pytest.raises(SpeedwireError, match="not whole 12-byte log records"):
        codec.yield_records(reply)


@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.one_of(st.none(), st.integers(0, 2**64 - 2))),
        max_size=100,
    )
)
def test_yield_records_as_a_device_sends_them_decode_to_themselves(
    items: list[tuple[int, int | None]],
) -> None:
    body = builders.encode_yield_records(items)
    reply = InverterPacket(Address(125, 1), Address(378, 2), codec.CMD_YIELD_5MIN | 1, 1, body)
    decoded = codec.decode(frame.encode_inverter(reply))
    assert isinstance(decoded, InverterPacket)
    assert [(r.time, r.wh) for r in codec.yield_records(decoded)] == items


@given(st.binary(max_size=200))
def test_any_yield_log_body_decodes_or_is_a_speedwire_error(body: bytes) -> None:
    reply = InverterPacket(Address(125, 1), Address(378, 2), codec.CMD_YIELD_5MIN | 1, 1, body)
    with contextlib.suppress(SpeedwireError):
        for record in codec.yield_records(reply):
            assert 0 <= record.time < 2**32
            assert record.wh is None or 0 <= record.wh < 2**64 - 1
