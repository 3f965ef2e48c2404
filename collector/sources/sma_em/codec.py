"""The SMA Energy Meter's datagrams (protocol 0x6069) without I/O: bytes in, values out.

An Energy Meter (EM 1.0, EM 2.0) or Sunny Home Manager 2.0 sends one datagram about every
second: a Speedwire frame whose data2 tag holds the protocol id 0x6069, the meter's SUSyID,
serial and a millisecond tick, then OBIS records `[channel][index][type][tariff]` + value, all
big-endian. Type 4 is a 4-byte measurement, type 8 an 8-byte counter; channel 144 is the
software version (4 bytes: major, minor, build, release letter). Records are found by their id,
never by offset (the SHM's firmware 2.3.4.R added 8 bytes), and an unknown record is skipped
by its type's length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import StrEnum

from collector.errors import CodecError
from collector.sources.sma_common.frame import (
    PROTOCOL_INVERTER,
    PROTOCOL_METER,
    TAG_DATA2,
    SpeedwireError,
    decode_inverter,
    decode_meter,
    split_tags,
)

# The models by SUSyID (libspeedwire's list; 501 from Home Managers 2.0 with firmware 2.14.13.R
# and 2.15.6.R, 502 from SMA's EMETER-20). A SUSyID not here is a meter all the same.
METER_MODELS = {
    270: "Energy Meter 1.0",
    349: "Energy Meter 2.0",
    372: "Sunny Home Manager 2.0",
    501: "Sunny Home Manager 2.0",
    502: "EMETER-20",
}
VERSION_CHANNEL = 144
PROTOCOL_EXTENDED = 0x6081  # SHM 2.0 to an SMA EV Charger

# OBIS indices of the totals; phase n has index + 20 * n (import: 1, then 21, 41, 61)
IMPORT, EXPORT = 1, 2
REACTIVE_IMPORT, REACTIVE_EXPORT = 3, 4
APPARENT_IMPORT, APPARENT_EXPORT = 9, 10
CURRENT, VOLTAGE = 11, 12  # per phase only (31, 32 for L1)
POWER_FACTOR = 13
FREQUENCY = 14  # total only; the SHM 2.0 sends it, the EM 2.0 does not
PHASE_STEP = 20


def phase(index: int, number: int) -> int:
    """The OBIS index of a quantity on phase 1, 2 or 3 (import 1 -> 21, 41, 61)."""
    return index + PHASE_STEP * number


# raw actual values: 0.1 W / var / VA, power factor in thousandths, mHz, mA, mV
ACTUAL_SCALE = {
    IMPORT: 0.1,
    EXPORT: 0.1,
    REACTIVE_IMPORT: 0.1,
    REACTIVE_EXPORT: 0.1,
    APPARENT_IMPORT: 0.1,
    APPARENT_EXPORT: 0.1,
    POWER_FACTOR: 0.001,
    FREQUENCY: 0.001,
    CURRENT: 0.001,
    VOLTAGE: 0.001,
}
COUNTER_SCALE = 1 / 3600  # Ws (var·s, VA·s) to Wh


def scale_of(index: int) -> float:
    """The factor from an actual value's raw number to its unit (W, var, VA, 1, Hz, A, V)."""
    quantity = index if index <= PHASE_STEP else (index - 1) % PHASE_STEP + 1
    return ACTUAL_SCALE.get(quantity, 1.0)


class Drop(StrEnum):
    """Why a received datagram is not a meter reading (each kind counted, the first logged)."""

    NOT_SPEEDWIRE = "not a Speedwire datagram"
    MALFORMED = "truncated or wrong length"
    REPLY = "an inverter's reply (protocol 0x6065)"
    REQUEST = "a Speedwire request to inverters (ours, another client's or a Home Manager's)"
    EXTENDED = "protocol 0x6081 (Home Manager to EV charger)"
    OTHER_PROTOCOL = "another protocol"
    DUPLICATE = "the same datagram again"


class Dropped(CodecError):
    def __init__(self, reason: Drop, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason.value}{': ' + detail if detail else ''}")


@dataclass(frozen=True)
class MeterDatagram:
    susy: int
    serial: int
    ticker_ms: int
    actual: dict[int, int] = field(default_factory=dict)  # index -> raw value (type 4)
    counters: dict[int, int] = field(default_factory=dict)  # index -> raw value (type 8)
    version: str | None = None
    skipped: int = 0  # records of other channels or types

    def value(self, index: int) -> float | None:
        """An actual value in its unit (W, var, VA, Hz, A, V, or the power factor)."""
        raw = self.actual.get(index)
        return None if raw is None else raw * scale_of(index)

    def energy(self, index: int) -> float | None:
        """A counter in Wh (varh, VAh)."""
        raw = self.counters.get(index)
        return None if raw is None else raw * COUNTER_SCALE


def decode_datagram(data: bytes) -> MeterDatagram:
    """A meter's datagram; Dropped (with the reason) for anything else. Never another error.

    Every 0x6069 datagram whose records decode is a meter reading, whatever its SUSyID: the
    SUSyID names the model (`METER_MODELS`), it is no filter. A 0x6065 datagram is told a request
    or a reply by its command (a reply's has the low bit set), not by who sent it: a Home
    Manager asks inverters too.
    """
    if data[:4] != b"SMA\x00":
        raise Dropped(Drop.NOT_SPEEDWIRE, f"starts with {data[:4].hex() or 'nothing'}")
    try:
        tags = split_tags(data)
    except SpeedwireError as exc:
        raise Dropped(Drop.MALFORMED, str(exc)) from None
    data2 = next((tag.payload for tag in tags if tag.id == TAG_DATA2), None)
    if data2 is None or len(data2) < 2:
        raise Dropped(Drop.OTHER_PROTOCOL, "no data2 tag")
    protocol = struct.unpack_from(">H", data2)[0]
    if protocol == PROTOCOL_INVERTER:
        try:
            inverter = decode_inverter(data2)
        except SpeedwireError as exc:
            raise Dropped(Drop.MALFORMED, str(exc)) from None
        raise Dropped(Drop.REPLY if inverter.is_reply else Drop.REQUEST, f"from {inverter.source}")
    if protocol == PROTOCOL_EXTENDED:
        raise Dropped(Drop.EXTENDED)
    if protocol != PROTOCOL_METER:
        raise Dropped(Drop.OTHER_PROTOCOL, f"0x{protocol:04x}")
    try:
        packet = decode_meter(data2)
    except SpeedwireError as exc:
        raise Dropped(Drop.MALFORMED, str(exc)) from None
    actual, counters, version, skipped = decode_records(packet.obis)
    source = packet.source
    return MeterDatagram(
        source.susy, source.serial, packet.ticker_ms, actual, counters, version, skipped
    )


def model_of(susy: int) -> str | None:
    """The meter model a SUSyID names; None for one not known (yet)."""
    return METER_MODELS.get(susy)


def decode_records(records: bytes) -> tuple[dict[int, int], dict[int, int], str | None, int]:
    """Actual values and counters by OBIS index, the software version, records skipped.
    Dropped if a record runs past the end."""
    actual: dict[int, int] = {}
    counters: dict[int, int] = {}
    version: str | None = None
    skipped = 0
    offset, end = 0, len(records)
    while offset + 4 <= end:
        channel, index, kind, _tariff = records[offset : offset + 4]
        size = 4 if channel == VERSION_CHANNEL else kind
        if offset + 4 + size > end:
            raise Dropped(Drop.MALFORMED, f"record {channel}:{index}.{kind} runs past the end")
        value = records[offset + 4 : offset + 4 + size]
        offset += 4 + size
        if channel == VERSION_CHANNEL:
            major, minor, build, letter = value
            version = f"{major}.{minor}.{build}.{chr(letter) if 32 < letter < 127 else letter}"
        elif channel == 0 and kind == 4:
            actual[index] = int.from_bytes(value, "big")
        elif channel == 0 and kind == 8:
            counters[index] = int.from_bytes(value, "big")
        else:
            skipped += 1
    if offset != end:
        raise Dropped(Drop.MALFORMED, f"{end - offset} bytes left after the last record")
    return actual, counters, version, skipped


def encode_datagram(
    susy: int,
    serial: int,
    ticker_ms: int,
    actual: dict[int, int],
    counters: dict[int, int],
    version: str = "2.0.18.R",
    extra: bytes = b"",
) -> bytes:
    """A 0x6069 datagram as a meter sends it (the simulator's side); `extra` is appended to the
    records (unknown ones, as newer firmware sends)."""
    parts = [struct.pack(">HHII", PROTOCOL_METER, susy, serial, ticker_ms & 0xFFFFFFFF)]
    for index in sorted(set(actual) | set(counters)):
        if index in actual:
            parts.append(bytes((0, index, 4, 0)) + struct.pack(">I", actual[index]))
        if index in counters:
            parts.append(bytes((0, index, 8, 0)) + struct.pack(">Q", counters[index]))
    parts.append(extra)
    major, minor, build, letter = version.split(".")
    parts.append(bytes((VERSION_CHANNEL, 0, 0, 0, int(major), int(minor), int(build), ord(letter))))
    data2 = b"".join(parts)
    group = struct.pack(">HHI", 4, 0x02A0, 1)
    return b"SMA\x00" + group + struct.pack(">HH", len(data2), TAG_DATA2) + data2 + bytes(4)
