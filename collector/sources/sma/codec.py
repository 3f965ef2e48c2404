"""Speedwire's inverter protocol (0x6065), sans I/O: what the collector sends and reads.

Inside a datagram's data2 tag, after the protocol id and two bytes (long words, control),
everything is **little-endian**: addresses, error, fragment counter, packet id, command (the
packet: `sma_common.frame.InverterPacket`), then the command's body (a register range, login
fields, or reply records: `sma_common.records`). `decode` tells any received datagram apart: an
inverter packet, an Energy Meter packet, a discovery reply.

Byte order is handled in one place per structure (the `struct` formats below). Replies are read
by register id and record size (16, 28 or 40 bytes), never at fixed offsets, and the "not a
number" sentinels become None. What only a device sends (replies, records) is in `builders`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum

from collector.sources.sma_common.frame import (
    ANY,
    PROTOCOL_INVERTER,
    PROTOCOL_METER,
    TAG_DATA2,
    TAG_DISCOVERY,
    TAG_GROUP,
    TAG_IP,
    Address,
    DiscoveryReply,
    InverterPacket,
    MeterPacket,
    SpeedwireError,
    decode_inverter,
    decode_meter,
    find_tag,
    split_tags,
)
from collector.sources.sma_common.records import RECORD_SIZES, Record

CLIENT_SUSY = 125
PACKET_ID_FLAG = 0x8000

# Commands (little-endian u32 on the wire). A reply is the request's command with the low
# byte set to 1 (login: 0x0C -> 0x0D).
CMD_IDENTIFY = 0x00000200
CMD_LOGIN = 0xFFFD040C
CMD_LOGIN_REPLY = 0xFFFD040D
CMD_LOGOFF = 0xFFFD010E

# The device's logs (SBFspot's ArchData; see ../shared/reference/sma.md): the request's
# register range is a Unix time range, and the reply's records are 12 bytes each, a Unix time
# (u32) and the total yield in Wh (u64), all little-endian; "not a number" is all ones.
CMD_YIELD_5MIN = 0x70000200  # the total yield every 5 minutes
CMD_YIELD_DAILY = 0x70200200  # the total yield once a day
ARCHIVE_CONTROL = 0xE0  # the control byte SBFspot sends with archive queries
YIELD_RECORD = struct.Struct("<IQ")
NAN_U64 = 0xFFFFFFFFFFFFFFFF

GROUP_USER = 0x07
GROUP_INSTALLER = 0x0A
PASSWORD_KEY = {GROUP_USER: 0x88, GROUP_INSTALLER: 0xBB}
PASSWORD_LENGTH = 12
LOGIN_TIMEOUT = 900  # the "session timeout" every client sends; never verified


class ReplyCode(IntEnum):
    """The error field of a 0x6065 reply: what the device says about the request."""

    OK = 0x0000
    NOT_AVAILABLE = 0x0015  # the requested registers are not on this device (error 21)
    NOT_AUTHENTICATED = 0x0017  # the session is gone: log in again
    WRONG_PASSWORD = 0x0100


# --- any datagram ---------------------------------------------------------------------------

Packet = InverterPacket | MeterPacket | DiscoveryReply


def decode(data: bytes) -> Packet | None:
    """What a received datagram is; None for a well-formed one we have no use for (a discovery
    request, another protocol). SpeedwireError when it is not well-formed."""
    tags = split_tags(data)
    group_tag = find_tag(tags, TAG_GROUP)
    group = (
        struct.unpack(">I", group_tag.payload)[0]
        if group_tag and len(group_tag.payload) == 4
        else 1
    )
    ip_tag = find_tag(tags, TAG_IP)
    if ip_tag is not None and find_tag(tags, TAG_DISCOVERY) is not None:
        if len(ip_tag.payload) != 4:
            raise SpeedwireError(f"discovery reply with a {len(ip_tag.payload)}-byte address")
        return DiscoveryReply(".".join(str(b) for b in ip_tag.payload), tags)
    data2 = find_tag(tags, TAG_DATA2)
    if data2 is None or len(data2.payload) < 2:
        return None
    protocol = struct.unpack_from(">H", data2.payload)[0]
    if protocol == PROTOCOL_INVERTER:
        return decode_inverter(data2.payload, group)
    if protocol == PROTOCOL_METER:
        return decode_meter(data2.payload)
    return None


# --- requests -------------------------------------------------------------------------------


def query(
    destination: Address, source: Address, packet_id: int, command: int, first: int, last: int
) -> InverterPacket:
    return InverterPacket(
        destination=destination,
        source=source,
        command=command,
        packet_id=packet_id | PACKET_ID_FLAG,
        body=struct.pack("<II", first, last),
    )


def archive_query(
    destination: Address, source: Address, packet_id: int, command: int, start: int, end: int
) -> InverterPacket:
    """A request for a log's records from `start` to `end` (Unix seconds, both included): a
    query whose register range is a time range, sent with SBFspot's control byte."""
    return replace(
        query(destination, source, packet_id, command, start, end), control=ARCHIVE_CONTROL
    )


@dataclass(frozen=True)
class YieldRecord:
    """One record of a yield log: its time and the total yield then (None: not a number)."""

    time: int
    wh: int | None


def yield_records(packet: InverterPacket) -> list[YieldRecord]:
    """The records of one reply fragment to a yield log query (after its 8-byte range)."""
    data = packet.body[8:]
    if len(data) % YIELD_RECORD.size:
        raise SpeedwireError(
            f"reply to 0x{packet.command:08x}: {len(data)} bytes are not whole "
            f"{YIELD_RECORD.size}-byte log records"
        )
    records = []
    for stamp, wh in YIELD_RECORD.iter_unpack(data):
        records.append(YieldRecord(stamp, None if wh == NAN_U64 else wh))
    return records


def encode_password(password: str, group: int) -> bytes:
    """12 bytes: each character plus the group's key, padded with the key."""
    if len(password) > PASSWORD_LENGTH:
        raise ValueError(f"a Speedwire password has at most {PASSWORD_LENGTH} characters")
    try:
        raw = password.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("a Speedwire password is ASCII only") from None
    key = PASSWORD_KEY[group]
    return bytes((byte + key) & 0xFF for byte in raw) + bytes([key]) * (PASSWORD_LENGTH - len(raw))


def decode_password(encoded: bytes, group: int) -> str:
    key = PASSWORD_KEY[group]
    text = bytes((byte - key) & 0xFF for byte in encoded)
    return text.rstrip(b"\x00").decode("latin-1")


def login(
    destination: Address, source: Address, packet_id: int, password: str, group: int, now: int
) -> InverterPacket:
    body = struct.pack("<IIII", group, LOGIN_TIMEOUT, now, 0) + encode_password(password, group)
    return InverterPacket(
        destination=destination,
        source=source,
        command=CMD_LOGIN,
        packet_id=packet_id | PACKET_ID_FLAG,
        body=body,
        destination_control=0x0100,
        source_control=0x0100,
    )


@dataclass(frozen=True)
class Login:
    group: int
    time: int
    password: bytes  # encoded


def parse_login(packet: InverterPacket) -> Login:
    if packet.command != CMD_LOGIN or len(packet.body) < 16 + PASSWORD_LENGTH:
        raise SpeedwireError("not a login request")
    group, _, now, _ = struct.unpack_from("<IIII", packet.body)
    return Login(group, now, packet.body[16 : 16 + PASSWORD_LENGTH])


def logoff(source: Address, packet_id: int) -> InverterPacket:
    return InverterPacket(
        destination=ANY,
        source=source,
        command=CMD_LOGOFF,
        packet_id=packet_id | PACKET_ID_FLAG,
        body=struct.pack("<I", 0xFFFFFFFF),
        destination_control=0x0300,
        source_control=0x0300,
    )


def records(packet: InverterPacket) -> list[Record]:
    """The records of a reply, by the count its register range gives and the size that makes."""
    first, last = packet.register_range
    data = packet.body[8:]
    if not data:
        return []
    count = last - first + 1
    if count <= 0 or len(data) % count:
        raise SpeedwireError(
            f"reply to 0x{packet.command:08x}: {len(data)} bytes of records do not divide into "
            f"{count} records"
        )
    size = len(data) // count
    if size not in RECORD_SIZES:
        raise SpeedwireError(
            f"reply to 0x{packet.command:08x}: {size}-byte records are not Speedwire"
        )
    result = []
    for offset in range(0, len(data), size):
        code, stamp = struct.unpack_from("<II", data, offset)
        result.append(Record(code, stamp, data[offset + 8 : offset + size]))
    return result
