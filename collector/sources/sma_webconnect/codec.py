"""WebConnect's JSON (sma.md §7): the keys, the shapes of a reply, and values to fields.

No I/O here. A key is `<group>_<type byte + register>`, e.g. `6100_40263F00`: its last eight hex
digits are the Speedwire record code, so the Speedwire kind's register table gives the field, the
scale and what a missing value means. A reply is `{"result": {"<device uid>": {key: entry}}}`,
where an entry comes in three shapes, all seen in recordings:

- `{"1": [{"val": 2570}, {"val": 0}]}`: per channel ("1" PV, "9" battery and hybrid devices), one
  value per string / index (Sunny Boy 3.6, Tripower);
- `{"val": 46}`: one value (Sunny Boy 1.5);
- `[{"str": 1, "val": 57}]`: one value per string, numbered (Sunny Boy 1.5).

A status value is a list of tags, `[{"tag": 307}]`. `null` means the device has no value now.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from collector.errors import CodecError, excerpt
from collector.reading import FieldValue
from collector.sources.sma_common.fields import MAX_STRINGS, add_derived
from collector.sources.sma_common.registers import (
    REGISTERS,
    STATUS_OK,
    Register,
    RegisterRole,
    field_value,
    status_name,
)

KEY = re.compile(r"^[0-9A-F]{4}_[0-9A-F]{8}$")

# Registers WebConnect offers beyond what the Speedwire kind asks for.
EXTRA: dict[int, Register] = {
    r.lri: r
    for r in (
        Register(0x00462400, "grid_energy_minus", RegisterRole.COUNTER),  # feed-in counter
        Register(0x00462500, "grid_energy_plus", RegisterRole.COUNTER),  # draw counter
        Register(0x00543100, "house_power", RegisterRole.POWER),
    )
}


class ReplyError(CodecError):
    """A reply that is not the JSON this API answers with; the message says what it is."""


class ErrorAnswer(CodecError):
    """The device's own error answer, `{"err": N}`."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the device answered err {code}")
        self.code = code


# The keys of getLogger.json (sma.md §7; SMA's web UI asks with them): the total yield every
# 5 minutes, and once a day.
LOG_YIELD_5MIN = 28672
LOG_YIELD_DAILY = 28704
# An energy meter's counters once a day (sma.md §7: "28752/28768 grid feed/draw daily"): the
# fields they are written to, if they are counters as the daily yield's records are
LOG_GRID_DAILY = {28752: "grid_energy_minus", 28768: "grid_energy_plus"}


def log_records(reply: Any) -> list[tuple[int, int]]:
    """(time, Wh) of a getLogger.json answer, `{"result": {"<device uid>": [{"t": 1584316800,
    "v": 3356183}, …]}}` (a Sunny Boy 3.6's, as recorded in another project's docs). A record
    whose value is null (none logged then) is left out; raises ErrorAnswer on `{"err": N}` and
    ReplyError on anything else."""
    if isinstance(reply, Mapping) and "err" in reply:
        code = reply["err"]
        raise ErrorAnswer(code if isinstance(code, int) else -1)
    result = reply.get("result") if isinstance(reply, Mapping) else None
    if not isinstance(result, Mapping):
        raise ReplyError(f"no result in the answer: {excerpt(reply)}")
    if len(result) > 1:
        raise ReplyError(f"logs of {len(result)} devices in one answer ({', '.join(result)})")
    if not result:
        return []
    [items] = result.values()
    if items is None:
        return []
    if not isinstance(items, list):
        raise ReplyError(f"the device's log is not a list: {excerpt(items)}")
    records = []
    for item in items:
        stamp = item.get("t") if isinstance(item, Mapping) else None
        value = item.get("v") if isinstance(item, Mapping) else None
        if type(stamp) is not int or stamp < 0:
            raise ReplyError(f"a log record without a time: {excerpt(item)}")
        if value is None:
            continue
        if type(value) is not int or value < 0:
            raise ReplyError(f"a log record whose value is no counter: {excerpt(item)}")
        records.append((stamp, value))
    return records


def lri_of(key: str) -> int:
    """The Speedwire register of a key: `6100_40263F00` → 0x00263F00."""
    return int(key[5:], 16) & 0x00FFFF00


def entries_of(reply: Any) -> dict[str, Any]:
    """The one device's entries of a reply (getValues, getAllOnlValues); raises ErrorAnswer on
    `{"err": N}` and ReplyError on anything else that is not a result."""
    if isinstance(reply, Mapping) and "err" in reply:
        code = reply["err"]
        raise ErrorAnswer(code if isinstance(code, int) else -1)
    result = reply.get("result") if isinstance(reply, Mapping) else None
    if not isinstance(result, Mapping) or not result:
        raise ReplyError(f"no result in the answer: {excerpt(reply)}")
    if len(result) != 1:
        raise ReplyError(f"values of {len(result)} devices in one answer ({', '.join(result)})")
    [entries] = result.values()
    if not isinstance(entries, Mapping):
        raise ReplyError(f"the device's values are not an object: {excerpt(entries)}")
    return {key: entry for key, entry in entries.items() if KEY.match(key)}


def values_of(entry: Any) -> list[Any]:
    """An entry's values in index order (string 1, 2, ...), whatever its shape."""
    if isinstance(entry, Mapping):
        if "val" in entry:
            return [entry["val"]]
        items: list[Any] = []
        for channel in entry.values():  # one channel per key, as far as recorded
            if isinstance(channel, list):
                items += channel
        return [item.get("val") for item in items if isinstance(item, Mapping)]
    if isinstance(entry, list):
        numbered = [item for item in entry if isinstance(item, Mapping)]
        numbered.sort(
            key=lambda item: item.get("str", 0) if isinstance(item.get("str"), int) else 0
        )
        return [item.get("val") for item in numbered]
    return []


def fields_from(entries: Mapping[str, Any]) -> dict[str, FieldValue]:
    """The entries of one reply → fields with the Speedwire kind's names, units and types."""
    fields: dict[str, FieldValue] = {}
    for key, entry in entries.items():
        lri = lri_of(key)
        register = REGISTERS.get(lri) or EXTRA.get(lri)
        if register is None:
            continue
        values = values_of(entry)
        if not register.channelled:
            values = values[:1]
        for index, value in enumerate(values):
            name = register.field
            if register.channelled:
                if index >= MAX_STRINGS:
                    break
                name = name.format(n=index + 1)
            _put(fields, name, register, lri, value)
    add_derived(fields)
    return fields


def _put(
    fields: dict[str, FieldValue], name: str, register: Register, lri: int, value: Any
) -> None:
    if register.role is RegisterRole.STATUS:
        code = tag_of(value)
        if code is not None:
            fields[name] = status_name(code)
            fields[f"{name}_code"] = code
            fields[f"{name}_ok"] = code in STATUS_OK[name]
        return
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        return  # not a number: the field is left out
    converted = field_value(register.role, value, register.divisor)
    if converted is not None:
        fields[name] = converted


def tag_of(value: Any) -> int | None:
    """The tag number of a status value `[{"tag": 307}]`; None for anything else."""
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        tag = value[0].get("tag")
        if isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < 2**32:
            return tag
    return None
