"""Speedwire as a device sends it: the answers only the simulators build. No I/O here.

The collector never sends these; they live apart from the decoding (`codec`) so that what a
source reads and what a simulator writes are not one file.
"""

from __future__ import annotations

import struct
from dataclasses import replace

from collector.sources.sma.codec import (
    CMD_LOGIN_REPLY,
    NAN_S32,
    NAN_S64,
    NAN_U32,
    NAN_U64,
    NO_VALUE_U32,
    STATUS_END,
    STATUS_NAN,
    TYPE_S32,
    InverterPacket,
    Record,
)
from collector.sources.sma.frame import (
    TAG_DATA2,
    TAG_DISCOVERY,
    TAG_GROUP,
    TAG_IP,
    Address,
    Tag,
    join_tags,
)

# --- answers -------------------------------------------------------------------------------


def reply_to(
    request: InverterPacket,
    device: Address,
    body: bytes = b"",
    *,
    error: int = 0,
    fragment: int = 0,
) -> InverterPacket:
    """A device's answer to a request (command | 1, packet id echoed)."""
    return replace(
        request,
        destination=request.source,
        source=device,
        command=request.command | 0x01,
        body=body,
        error=error,
        fragment=fragment,
        long_words=None,
        destination_control=request.source_control,
        source_control=request.destination_control,
    )


def encode_discovery_reply(ip: str) -> bytes:
    """The tag list inverters answer the multicast discovery with (as the SBS 2.5 does)."""
    return join_tags(
        [
            Tag(TAG_GROUP, struct.pack(">I", 1)),
            Tag(0x0000, b"\x00\x01"),
            Tag(TAG_DATA2, b"\x00\x01\x00\x03"),
            Tag(TAG_DISCOVERY, b"\x00\x00\x00\x01"),
            Tag(TAG_IP, bytes(int(part) for part in ip.split("."))),
            Tag(0x0070, b"\xef\x0c"),
            Tag(0x0080, b"\x00"),
        ]
    )


def login_reply(request: InverterPacket, device: Address, error: int) -> InverterPacket:
    """The device's answer to a login: the group, timeout and time echoed."""
    return InverterPacket(
        destination=request.source,
        source=device,
        command=CMD_LOGIN_REPLY,
        packet_id=request.packet_id,
        body=request.body[:16] + b"\x00" * 4,
        control=0xE0,
        destination_control=0x0100,
        source_control=0x0100,
        error=error,
    )


# --- records -------------------------------------------------------------------------------


def encode_records(items: list[Record], first_index: int = 0) -> bytes:
    """A reply body: the index range, then the records (all of one size)."""
    sizes = {item.size for item in items}
    if len(sizes) > 1:
        raise ValueError(f"records of one reply share one size, got {sorted(sizes)}")
    head = struct.pack("<II", first_index, first_index + len(items) - 1)
    return head + b"".join(struct.pack("<II", r.code, r.time) + r.data for r in items)


def record_code(data_type: int, lri: int, channel: int = 1) -> int:
    """A record's code from its parts: the data type (TYPE_*), the register, the channel."""
    return data_type << 24 | lri | channel


def number_record(code: int, time: int, value: int | None, size: int) -> Record:
    """A 16-byte (64-bit) or 28-byte (32-bit, repeated 4 times, then 1) record."""
    signed = (code >> 24) & 0xF8 == TYPE_S32
    if size == 16:
        raw = (NAN_S64 if signed else NAN_U64) if value is None else value & NAN_U64
        return Record(code, time, struct.pack("<Q", raw))
    if size == 28:
        raw = (NAN_S32 if signed else NAN_U32) if value is None else value & NAN_U32
        return Record(code, time, struct.pack("<IIIII", raw, raw, raw, raw, 1))
    raise ValueError(f"a number record is 16 or 28 bytes, not {size}")


def status_record(code: int, time: int, selected: int | None, options: list[int]) -> Record:
    entries = [((1 if tag == selected else 0) << 24) | tag for tag in options[:7]]
    if selected is None:
        entries.append(STATUS_NAN)
    entries = (entries + [STATUS_END] * 8)[:8]
    return Record(code, time, struct.pack("<8I", *entries))


def text_record(code: int, time: int, text: str) -> Record:
    return Record(code, time, text.encode("utf-8")[:32].ljust(32, b"\x00"))


def version_record(code: int, time: int, version: str) -> Record:
    raw = version_number(version)
    data = struct.pack("<8I", 0, 0, NO_VALUE_U32, NO_VALUE_U32, raw, raw, 0, 0)
    return Record(code, time, data)


def version_number(version: str) -> int:
    """The inverse of version_text: "03.10.10.R" → its number."""
    major, minor, build, letter = version.split(".")
    return (
        (int(major[-2]) << 28 | int(major[-1]) << 24)
        | (int(minor[-2]) << 20 | int(minor[-1]) << 16)
        | int(build) << 8
        | "NEABRS".index(letter)
    )
