"""Speedwire's datagram frame, shared by every SMA protocol on UDP 9522. No I/O here.

A datagram is `SMA\\0` and a list of tags (u16 length and u16 id, big-endian, then the payload),
ending with the end-of-data tag (length 0, id 0). The tag that matters is data2 (id 0x0010): its
payload starts with a big-endian protocol id: 0x6065 for the inverter protocol (`codec`), 0x6069
for the Energy Meter's multicast (kept raw here, parsed by the sma-em kind). Discovery is two
tag lists without a data2 payload: the request, and the reply carrying the device's address in
tag 0x0030.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from collector.errors import CodecError

SIGNATURE = b"SMA\x00"
PORT = 9522
MULTICAST_GROUP = "239.12.255.254"

TAG_GROUP = 0x02A0
TAG_DATA2 = 0x0010
TAG_DISCOVERY = 0x0020
TAG_IP = 0x0030
TAG_END = 0x0000

PROTOCOL_INVERTER = 0x6065
PROTOCOL_METER = 0x6069

ANY_SUSY = 0xFFFF
ANY_SERIAL = 0xFFFFFFFF


class SpeedwireError(CodecError):
    """Bytes that are not a valid Speedwire datagram of the kind expected; says what is wrong."""


# --- tags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    id: int
    payload: bytes


def split_tags(data: bytes) -> list[Tag]:
    """The tags of a datagram, without the end-of-data tag; SpeedwireError if malformed."""
    if data[:4] != SIGNATURE:
        raise SpeedwireError(
            f"not a Speedwire datagram (starts with {data[:4].hex() or 'nothing'})"
        )
    tags: list[Tag] = []
    offset = 4
    while True:
        if offset + 4 > len(data):
            raise SpeedwireError(
                f"datagram ends inside a tag header at byte {offset} of {len(data)}"
            )
        length, tag_id = struct.unpack_from(">HH", data, offset)
        offset += 4
        if length == 0 and tag_id == TAG_END:
            if offset != len(data):
                raise SpeedwireError(f"{len(data) - offset} bytes after the end-of-data tag")
            return tags
        if offset + length > len(data):
            raise SpeedwireError(
                f"tag 0x{tag_id:04x} claims {length} bytes, only {len(data) - offset} left"
            )
        tags.append(Tag(tag_id, data[offset : offset + length]))
        offset += length


def join_tags(tags: list[Tag]) -> bytes:
    parts = [SIGNATURE]
    for tag in tags:
        parts.append(struct.pack(">HH", len(tag.payload), tag.id))
        parts.append(tag.payload)
    parts.append(b"\x00\x00\x00\x00")
    return b"".join(parts)


def find_tag(tags: list[Tag], tag_id: int) -> Tag | None:
    return next((tag for tag in tags if tag.id == tag_id), None)


@dataclass(frozen=True)
class Address:
    susy: int
    serial: int

    def __str__(self) -> str:
        return f"{self.susy}/{self.serial}"


ANY = Address(ANY_SUSY, ANY_SERIAL)


# --- the Energy Meter protocol (0x6069), kept raw -----------------------------------------


@dataclass(frozen=True)
class MeterPacket:
    source: Address
    ticker_ms: int
    obis: bytes  # the OBIS records, big-endian; parsed by the Energy Meter source


def decode_meter(payload: bytes) -> MeterPacket:
    if len(payload) < 12:
        raise SpeedwireError(f"0x6069 payload of {len(payload)} bytes is shorter than its header")
    susy, serial, ticker = struct.unpack_from(">HII", payload, 2)
    return MeterPacket(Address(susy, serial), ticker, payload[12:])


def encode_meter(packet: MeterPacket) -> bytes:
    head = struct.pack(
        ">HHII", PROTOCOL_METER, packet.source.susy, packet.source.serial, packet.ticker_ms
    )
    return join_tags([Tag(TAG_GROUP, struct.pack(">I", 1)), Tag(TAG_DATA2, head + packet.obis)])


# --- discovery -----------------------------------------------------------------------------

DISCOVERY_REQUEST = join_tags(
    [Tag(TAG_GROUP, struct.pack(">I", 0xFFFFFFFF)), Tag(TAG_DISCOVERY, b"")]
)


@dataclass(frozen=True)
class DiscoveryReply:
    ip: str
    tags: list[Tag] = field(default_factory=list)


def is_discovery_request(data: bytes) -> bool:
    try:
        tags = split_tags(data)
    except SpeedwireError:
        return False
    return find_tag(tags, TAG_DISCOVERY) is not None and find_tag(tags, TAG_DATA2) is None
