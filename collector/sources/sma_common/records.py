"""An SMA register record: code (data type, register, channel), time and raw value.

What Speedwire replies carry, and what WebConnect's keys are named after (`<command class>_<type
and register>`), so every SMA kind reads a register the same way. Reading a record (`Record`) and
making one (the builders below, for the simulators) are both here; sans I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from collector.sources.sma_common.frame import SpeedwireError

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


# --- made by a device (the simulators) -----------------------------------------------------


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
