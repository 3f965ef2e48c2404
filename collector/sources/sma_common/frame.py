"""Speedwire's datagram frame, shared by every SMA protocol on UDP 9522. No I/O here.

A datagram is `SMA\\0` and a list of tags (u16 length and u16 id, big-endian, then the payload),
ending with the end-of-data tag (length 0, id 0). The tag that matters is data2 (id 0x0010): its
payload starts with a big-endian protocol id: 0x6065 for the inverter protocol, 0x6069 for the
Energy Meter's multicast (kept raw here, parsed by the sma-em kind). Discovery is two tag lists
without a data2 payload: the request, and the reply carrying the device's address in tag 0x0030.

The inverter protocol's packet (`InverterPacket`: addresses, error, fragment, packet id,
command, body) is here too, since the meter kind must tell an inverter's request from its reply;
its commands, login and records are the sma kind's `codec`.
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


REQUEST_CONTROL = 0xA0


# --- the inverter protocol (0x6065) -------------------------------------------------------

_HEADER = struct.Struct("<BBHIHHIHHHHI")  # after the protocol id: all little-endian but 2 bytes
# long words (u8), control (u8), dst susy, dst serial, dst control, src susy, src serial,
# src control, error, fragment, packet id, command


@dataclass(frozen=True)
class InverterPacket:
    """One 0x6065 datagram. `body` is whatever follows the command (register range, records)."""

    destination: Address
    source: Address
    command: int
    packet_id: int
    body: bytes = b""
    control: int = REQUEST_CONTROL
    destination_control: int = 0
    source_control: int = 0
    error: int = 0
    fragment: int = 0
    group: int = 1
    long_words: int | None = None  # None: computed (length // 4); kept as received otherwise

    @property
    def pid(self) -> int:
        """The packet id without the request flag (bit 15)."""
        return self.packet_id & 0x7FFF

    @property
    def is_reply(self) -> bool:
        return self.command & 0xFF in (0x01, 0x0D)

    @property
    def register_range(self) -> tuple[int, int]:
        """`first`, `last`: registers in a query; record indices in a reply."""
        if len(self.body) < 8:
            raise SpeedwireError(f"command 0x{self.command:08x} has no register range")
        first, last = struct.unpack_from("<II", self.body, 0)
        return first, last


def encode_inverter(packet: InverterPacket) -> bytes:
    fields = struct.pack(">H", PROTOCOL_INVERTER)
    length = 2 + _HEADER.size + len(packet.body)
    long_words = packet.long_words if packet.long_words is not None else length // 4
    fields += _HEADER.pack(
        long_words,
        packet.control,
        packet.destination.susy,
        packet.destination.serial,
        packet.destination_control,
        packet.source.susy,
        packet.source.serial,
        packet.source_control,
        packet.error,
        packet.fragment,
        packet.packet_id,
        packet.command,
    )
    group = Tag(TAG_GROUP, struct.pack(">I", packet.group))
    return join_tags([group, Tag(TAG_DATA2, fields + packet.body)])


def decode_inverter(payload: bytes, group: int = 1) -> InverterPacket:
    """A data2 payload of protocol 0x6065 (the protocol id included)."""
    if len(payload) < 2 + _HEADER.size:
        raise SpeedwireError(f"0x6065 payload of {len(payload)} bytes is shorter than its header")
    (
        long_words,
        control,
        dst_susy,
        dst_serial,
        dst_control,
        src_susy,
        src_serial,
        src_control,
        error,
        fragment,
        packet_id,
        command,
    ) = _HEADER.unpack_from(payload, 2)
    return InverterPacket(
        destination=Address(dst_susy, dst_serial),
        source=Address(src_susy, src_serial),
        command=command,
        packet_id=packet_id,
        body=payload[2 + _HEADER.size :],
        control=control,
        destination_control=dst_control,
        source_control=src_control,
        error=error,
        fragment=fragment,
        group=group,
        long_words=long_words,
    )
