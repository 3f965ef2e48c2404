"""Speedwire, sans I/O: every datagram we send or receive, both ways, as bytes <-> values.

A datagram is `SMA\\0` and a list of tags (u16 length and u16 id, big-endian, then the payload),
ending with the end-of-data tag (length 0, id 0). The tag that matters is data2 (id 0x0010): its
payload starts with a big-endian protocol id.

- 0x6065, the inverter protocol: after the protocol id and two bytes (long words, control)
  everything is **little-endian**: addresses, error, fragment counter, packet id, command,
  then the command's body (a register range, login fields, or reply records).
- 0x6069, the Energy Meter multicast: big-endian OBIS records (kept raw here).
- Discovery replies carry no data2 payload worth parsing; the device's address is tag 0x0030.

Byte order is handled in one place per structure (the `struct` formats below). Replies are read
by register id and record size (16, 28 or 40 bytes), never at fixed offsets, and the "not a
number" sentinels become None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from enum import IntEnum

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


class CodecError(ValueError):
    """Bytes that are not a valid Speedwire datagram of the kind expected; says what is wrong."""


# --- tags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    id: int
    payload: bytes


def split_tags(data: bytes) -> list[Tag]:
    """The tags of a datagram, without the end-of-data tag; CodecError if malformed."""
    if data[:4] != SIGNATURE:
        raise CodecError(f"not a Speedwire datagram (starts with {data[:4].hex() or 'nothing'})")
    tags: list[Tag] = []
    offset = 4
    while True:
        if offset + 4 > len(data):
            raise CodecError(f"datagram ends inside a tag header at byte {offset} of {len(data)}")
        length, tag_id = struct.unpack_from(">HH", data, offset)
        offset += 4
        if length == 0 and tag_id == TAG_END:
            if offset != len(data):
                raise CodecError(f"{len(data) - offset} bytes after the end-of-data tag")
            return tags
        if offset + length > len(data):
            raise CodecError(
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


def _tag(tags: list[Tag], tag_id: int) -> Tag | None:
    return next((tag for tag in tags if tag.id == tag_id), None)


# --- the inverter protocol (0x6065) -------------------------------------------------------

_HEADER = struct.Struct("<BBHIHHIHHHHI")  # after the protocol id: all little-endian but 2 bytes
# long words (u8), control (u8), dst susy, dst serial, dst control, src susy, src serial,
# src control, error, fragment, packet id, command


@dataclass(frozen=True)
class Address:
    susy: int
    serial: int

    def __str__(self) -> str:
        return f"{self.susy}/{self.serial}"


ANY = Address(ANY_SUSY, ANY_SERIAL)


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
            raise CodecError(f"command 0x{self.command:08x} has no register range")
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
        raise CodecError(f"0x6065 payload of {len(payload)} bytes is shorter than its header")
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


# --- the Energy Meter protocol (0x6069), kept raw -----------------------------------------


@dataclass(frozen=True)
class MeterPacket:
    source: Address
    ticker_ms: int
    obis: bytes  # the OBIS records, big-endian; parsed by the Energy Meter source


def decode_meter(payload: bytes) -> MeterPacket:
    if len(payload) < 12:
        raise CodecError(f"0x6069 payload of {len(payload)} bytes is shorter than its header")
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
    except CodecError:
        return False
    return _tag(tags, TAG_DISCOVERY) is not None and _tag(tags, TAG_DATA2) is None


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


# --- any datagram ---------------------------------------------------------------------------

Packet = InverterPacket | MeterPacket | DiscoveryReply


def decode(data: bytes) -> Packet | None:
    """What a received datagram is; None for a well-formed one we have no use for (a discovery
    request, another protocol). CodecError when it is not well-formed."""
    tags = split_tags(data)
    group_tag = _tag(tags, TAG_GROUP)
    group = (
        struct.unpack(">I", group_tag.payload)[0]
        if group_tag and len(group_tag.payload) == 4
        else 1
    )
    ip_tag = _tag(tags, TAG_IP)
    if ip_tag is not None and _tag(tags, TAG_DISCOVERY) is not None:
        if len(ip_tag.payload) != 4:
            raise CodecError(f"discovery reply with a {len(ip_tag.payload)}-byte address")
        return DiscoveryReply(".".join(str(b) for b in ip_tag.payload), tags)
    data2 = _tag(tags, TAG_DATA2)
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
        raise CodecError("not a login request")
    group, _, now, _ = struct.unpack_from("<IIII", packet.body)
    return Login(group, now, packet.body[16 : 16 + PASSWORD_LENGTH])


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
        raise CodecError(
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
            raise CodecError(f"register 0x{self.lri >> 8:04x}: a status list is 40 bytes")
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
            raise CodecError(f"register 0x{self.lri >> 8:04x}: a string record is 40 bytes")
        value = self.data.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
        return value or None

    def version(self) -> str | None:
        """A software version (u32 at +24 of a 40-byte record): BCD.BCD.build.type letter."""
        if len(self.data) != 32:
            raise CodecError(f"register 0x{self.lri >> 8:04x}: a version record is 40 bytes")
        (raw,) = struct.unpack_from("<I", self.data, 16)
        return version_text(raw)


def version_text(raw: int) -> str | None:
    """SMA's software version number (also WebConnect's): BCD.BCD.build.type letter."""
    if raw in (NAN_U32, NO_VALUE_U32, 0) or not 0 < raw < 2**32:
        return None
    major, minor, build, kind = raw >> 24, (raw >> 16) & 0xFF, (raw >> 8) & 0xFF, raw & 0xFF
    letter = "NEABRS"[kind] if kind < 6 else str(kind)
    return f"{major >> 4}{major & 0xF}.{minor >> 4}{minor & 0xF}.{build:02d}.{letter}"


def version_number(version: str) -> int:
    """The inverse of version_text: "03.10.10.R" → its number."""
    major, minor, build, letter = version.split(".")
    return (
        (int(major[-2]) << 28 | int(major[-1]) << 24)
        | (int(minor[-2]) << 20 | int(minor[-1]) << 16)
        | int(build) << 8
        | "NEABRS".index(letter)
    )


def records(packet: InverterPacket) -> list[Record]:
    """The records of a reply, by the count its register range gives and the size that makes."""
    first, last = packet.register_range
    data = packet.body[8:]
    if not data:
        return []
    count = last - first + 1
    if count <= 0 or len(data) % count:
        raise CodecError(
            f"reply to 0x{packet.command:08x}: {len(data)} bytes of records do not divide into "
            f"{count} records"
        )
    size = len(data) // count
    if size not in RECORD_SIZES:
        raise CodecError(f"reply to 0x{packet.command:08x}: {size}-byte records are not Speedwire")
    result = []
    for offset in range(0, len(data), size):
        code, stamp = struct.unpack_from("<II", data, offset)
        result.append(Record(code, stamp, data[offset + 8 : offset + size]))
    return result


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
