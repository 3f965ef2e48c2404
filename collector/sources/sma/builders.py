"""Speedwire as a device sends it: the answers only the simulators build. No I/O here.

The collector never sends these; they live apart from the decoding (`codec`) so that what a
source reads and what a simulator writes are not one file.
"""

from __future__ import annotations

import struct
from dataclasses import replace

from collector.sources.sma.codec import CMD_LOGIN_REPLY, NAN_U64, YIELD_RECORD
from collector.sources.sma_common.frame import (
    TAG_DATA2,
    TAG_DISCOVERY,
    TAG_GROUP,
    TAG_IP,
    Address,
    InverterPacket,
    Tag,
    join_tags,
)
from collector.sources.sma_common.records import (
    Record,
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


def encode_yield_records(items: list[tuple[int, int | None]], first_index: int = 0) -> bytes:
    """A yield log reply's body: the index range, then (time, Wh) records (None: not a number)."""
    head = struct.pack("<II", first_index, first_index + max(len(items) - 1, 0))
    return head + b"".join(
        YIELD_RECORD.pack(stamp, NAN_U64 if wh is None else wh) for stamp, wh in items
    )
