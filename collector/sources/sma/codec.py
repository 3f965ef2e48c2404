"""Speedwire's inverter protocol (0x6065), sans I/O: what the collector sends and reads.

Inside a datagram's data2 tag (`frame`), after the protocol id and two bytes (long words,
control), everything is **little-endian**: addresses, error, fragment counter, packet id,
command, then the command's body (a register range, login fields, or reply records). `decode`
tells any received datagram apart: an inverter packet, an Energy Meter packet, a discovery reply.

Byte order is handled in one place per structure (the `struct` formats below). Replies are read
by register id and record size (16, 28 or 40 bytes), never at fixed offsets, and the "not a
number" sentinels become None. What only a device sends (replies, records) is in `builders`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from collector.sources.sma.frame import (
    ANY,
    PROTOCOL_INVERTER,
    PROTOCOL_METER,
    TAG_DATA2,
    TAG_DISCOVERY,
    TAG_GROUP,
    TAG_IP,
    Address,
    DiscoveryReply,
    MeterPacket,
    SpeedwireError,
    Tag,
    decode_meter,
    find_tag,
    join_tags,
    split_tags,
)

CLIENT_SUSY = 125
REQUEST_CONTROL = 0xA0
PACKET_ID_FLAG = 0x8000

# Commands (little-endian u32 on the wire). A reply is the request's command with the low
# byte set to 1 (login: 0x0C -> 0x0D).
CMD_IDENTIFY = 0x00000200
CMD_LOGIN = 0xFFFD040C
CMD_LOGIN_REPLY = 0xFFFD040D
CMD_LOGOFF = 0xFFFD010E

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


# --- records ---------------------------------------------------------------------------------

TYPE_U32 = 0x00
TYPE_STATUS = 0x08
TYPE_STRING = 0x10
TYPE_S32 = 0x40

NAN_S32 = 0x80000000
NAN_U32 = 0xFFFFFFFF
# "No value": the end-of-data mark in the min/max words of a value-with-range record, and what
# some devices send instead of a u32 value (libspeedwire); never a reading (reference §4.2)
NO_VALUE_U32 = 0xFFFFFFFE
NAN_S64 = 0x8000000000000000
NAN_U64 = 0xFFFFFFFFFFFFFFFF
STATUS_NAN = 0xFFFFFD
STATUS_END = 0xFFFFFE
RECORD_SIZES = (16, 28, 40)


@dataclass(frozen=True)
class Record:
    """One register record of a reply: code (type << 24 | LRI | class), time, raw values."""

    code: int
    time: int
    data: bytes  # the bytes after code and time (8, 20 or 32)

    @property
    def lri(self) -> int:
        return self.code & 0x00FFFF00

    @property
    def channel(self) -> int:
        """The class byte: the string (MPP tracker) or phase number; 1 for single values."""
        return self.code & 0xFF

    @property
    def data_type(self) -> int:
        return (self.code >> 24) & 0xFF

    @property
    def size(self) -> int:
        return 8 + len(self.data)

    def number(self) -> int | None:
        """The value of a 16- or 28-byte record; None for the "not a number" sentinels."""
        signed = self.data_type & 0xF8 == TYPE_S32
        if len(self.data) == 8:
            raw: int = struct.unpack_from("<Q", self.data)[0]
            if raw in (NAN_U64, NAN_S64):
                return None
            return raw - (1 << 64) if signed and raw >= 1 << 63 else raw
        if len(self.data) == 20:
            raw = struct.unpack_from("<I", self.data)[0]
            if signed:
                if raw == NAN_S32:
                    return None
                return raw - (1 << 32) if raw >= 1 << 31 else raw
            return None if raw in (NAN_U32, NO_VALUE_U32) else raw
        raise SpeedwireError(
            f"register 0x{self.lri >> 8:04x}: a {self.size}-byte record holds no number"
        )

    def status(self) -> int | None:
        """The selected entry of a 40-byte status list (marker 1; else any non-zero marker)."""
        entries = self._entries()
        chosen = [tag for marker, tag in entries if marker == 1]
        if not chosen:
            chosen = [tag for marker, tag in entries if marker != 0]
        if not chosen or chosen[0] == STATUS_NAN:
            return None
        return chosen[0]

    def options(self) -> list[int]:
        """Every tag of a status list (selected or not), without the end marker."""
        return [tag for _, tag in self._entries() if tag != STATUS_NAN]

    def _entries(self) -> list[tuple[int, int]]:
        if len(self.data) != 32:
            raise SpeedwireError(f"register 0x{self.lri >> 8:04x}: a status list is 40 bytes")
        entries = []
        for (raw,) in struct.iter_unpack("<I", self.data):
            marker, tag = raw >> 24, raw & 0xFFFFFF
            if tag == STATUS_END:
                break
            entries.append((marker, tag))
        return entries

    def text(self) -> str | None:
        """A 40-byte string record (32 bytes, NUL padded); None when empty."""
        if len(self.data) != 32:
            raise SpeedwireError(f"register 0x{self.lri >> 8:04x}: a string record is 40 bytes")
        value = self.data.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
        return value or None

    def version(self) -> str | None:
        """A software version (u32 at +24 of a 40-byte record): BCD.BCD.build.type letter."""
        if len(self.data) != 32:
            raise SpeedwireError(f"register 0x{self.lri >> 8:04x}: a version record is 40 bytes")
        (raw,) = struct.unpack_from("<I", self.data, 16)
        return version_text(raw)


def version_text(raw: int) -> str | None:
    """SMA's software version number (also WebConnect's): BCD.BCD.build.type letter."""
    if raw in (NAN_U32, NO_VALUE_U32, 0) or not 0 < raw < 2**32:
        return None
    major, minor, build, kind = raw >> 24, (raw >> 16) & 0xFF, (raw >> 8) & 0xFF, raw & 0xFF
    letter = "NEABRS"[kind] if kind < 6 else str(kind)
    return f"{major >> 4}{major & 0xF}.{minor >> 4}{minor & 0xF}.{build:02d}.{letter}"


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
