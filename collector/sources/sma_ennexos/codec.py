"""ennexOS's live measurements (sma.md §7b.2, §7b.5): channels to fields. No I/O here.

An answer of `POST /api/v1/measurements/live` is a list with one object per channel:
`{"channelId": "Measurement.GridMs.TotW", "componentId": "IGULD:SELF", "values": [item]}`,
where the item is `{"time": ..., "value": 2313.8}`, or for an array channel (its id ends in
`[]`, one value per input) `{"time": ..., "values": [1002.6, 655.7, 657.0]}`. An item without a
value, or with the string "NaN", means "not available" (missing, never 0). Values arrive in
natural units (V, A, Hz, °C, W, Wh): no scaling, unlike WebConnect's raw numbers. Status values
are SMA's tag numbers, as over Speedwire, sometimes as floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collector.errors import CodecError, excerpt
from collector.reading import FieldValue
from collector.sources.sma_common.fields import MAX_STRINGS, add_derived
from collector.sources.sma_common.registers import STATUS_OK, RegisterRole, field_value, status_name

SELF = "IGULD:SELF"  # the component id of the device that answers


@dataclass(frozen=True)
class Channel:
    field: str  # for an array channel a template with {n} (input 1, 2, ...), or one field
    role: RegisterRole
    array: bool = False  # "…[]": a list of values, one per input


CHANNELS: dict[str, Channel] = {
    "Measurement.GridMs.TotW": Channel("ac_power", RegisterRole.PV_POWER),
    "Measurement.GridMs.W.phsA": Channel("ac_power_l1", RegisterRole.POWER),
    "Measurement.GridMs.W.phsB": Channel("ac_power_l2", RegisterRole.POWER),
    "Measurement.GridMs.W.phsC": Channel("ac_power_l3", RegisterRole.POWER),
    "Measurement.GridMs.PhV.phsA": Channel("ac_voltage_l1", RegisterRole.MEASURE),
    "Measurement.GridMs.PhV.phsB": Channel("ac_voltage_l2", RegisterRole.MEASURE),
    "Measurement.GridMs.PhV.phsC": Channel("ac_voltage_l3", RegisterRole.MEASURE),
    "Measurement.GridMs.A.phsA": Channel("ac_current_l1", RegisterRole.MEASURE),
    "Measurement.GridMs.A.phsB": Channel("ac_current_l2", RegisterRole.MEASURE),
    "Measurement.GridMs.A.phsC": Channel("ac_current_l3", RegisterRole.MEASURE),
    "Measurement.GridMs.Hz": Channel("grid_frequency", RegisterRole.MEASURE),
    "Measurement.DcMs.Watt[]": Channel("mpp{n}_power", RegisterRole.PV_POWER, array=True),
    "Measurement.DcMs.Vol[]": Channel("mpp{n}_voltage", RegisterRole.MEASURE, array=True),
    "Measurement.DcMs.Amp[]": Channel("mpp{n}_current", RegisterRole.MEASURE, array=True),
    "Measurement.Metering.TotWhOut": Channel("energy_total", RegisterRole.COUNTER),
    "Measurement.Metering.DyWhOut": Channel("energy_today", RegisterRole.COUNTER),
    "Measurement.Operation.Health": Channel("device_status", RegisterRole.STATUS),
    "Measurement.Operation.GriSwStt": Channel("grid_relay", RegisterRole.STATUS),
    # the inverter's temperatures, one per sensor on some models: the first is written
    "Measurement.Coolsys.Inverter.TmpVal[]": Channel(
        "device_temperature", RegisterRole.MEASURE, array=True
    ),
    "Measurement.Coolsys.Inverter.TmpVal": Channel("device_temperature", RegisterRole.MEASURE),
    # an energy meter at the grid connection, read by the inverter
    "Measurement.Metering.GridMs.TotWOut": Channel("grid_power_minus", RegisterRole.POWER),
    "Measurement.Metering.GridMs.TotWIn": Channel("grid_power_plus", RegisterRole.POWER),
    "Measurement.Metering.GridMs.TotWhOut": Channel("grid_energy_minus", RegisterRole.COUNTER),
    "Measurement.Metering.GridMs.TotWhIn": Channel("grid_energy_plus", RegisterRole.COUNTER),
    # a battery (Sunny Boy Smart Energy): arrays with one battery, or single channels
    "Measurement.Bat.ChaStt": Channel("bat_fuel_charge", RegisterRole.MEASURE),
    "Measurement.BatChrg.CurBatCha": Channel("bat_power_plus", RegisterRole.POWER),
    "Measurement.BatDsch.CurBatDsch": Channel("bat_power_minus", RegisterRole.POWER),
    "Measurement.Bat.Amp[]": Channel("bat_charge_current", RegisterRole.MEASURE, array=True),
    "Measurement.Bat.Amp": Channel("bat_charge_current", RegisterRole.MEASURE),
    "Measurement.Bat.Vol[]": Channel("bat_voltage", RegisterRole.MEASURE, array=True),
    "Measurement.Bat.Vol": Channel("bat_voltage", RegisterRole.MEASURE),
    "Measurement.Bat.TmpVal[]": Channel("bat_temperature", RegisterRole.MEASURE, array=True),
    "Measurement.Bat.TmpVal": Channel("bat_temperature", RegisterRole.MEASURE),
}


class AnswerError(CodecError):
    """An answer that is not the list of channels this API gives; the message says what."""


def channels_of(answer: Any, component: str = SELF) -> dict[str, list[Any]]:
    """channel id → its values (one for a plain channel, one per input for an array channel;
    None for "not available"), of one component."""
    if not isinstance(answer, list):
        raise AnswerError(f"the live measurements are not a list: {excerpt(answer)}")
    channels: dict[str, list[Any]] = {}
    for item in answer:
        if not isinstance(item, Mapping) or not isinstance(item.get("channelId"), str):
            raise AnswerError(f"a live measurement without a channel id: {excerpt(item)}")
        if item.get("componentId", component) != component:
            continue
        values = item.get("values")
        latest = values[-1] if isinstance(values, list) and values else None
        if not isinstance(latest, Mapping):
            channels[item["channelId"]] = [None]
        elif isinstance(latest.get("values"), list):
            channels[item["channelId"]] = list(latest["values"])
        else:
            channels[item["channelId"]] = [latest.get("value")]
    return channels


def fields_from(channels: Mapping[str, list[Any]]) -> dict[str, FieldValue]:
    """The channels of one answer → fields with the Speedwire kind's names, units and types."""
    fields: dict[str, FieldValue] = {}
    for channel_id, values in channels.items():
        channel = CHANNELS.get(channel_id)
        if channel is None:
            continue
        if "{n}" in channel.field:
            for index, value in enumerate(values[:MAX_STRINGS]):
                _put(fields, channel.field.format(n=index + 1), channel, value)
        elif values:
            _put(fields, channel.field, channel, values[0])
    add_derived(fields)
    return fields


def number(value: Any) -> float | None:
    """A channel's value as a number; None for "not available" (no value, "NaN", not finite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or abs(value) >= 2**53:
        return None
    return float(value)


def _put(fields: dict[str, FieldValue], name: str, channel: Channel, raw: Any) -> None:
    value = number(raw)
    if channel.role is RegisterRole.STATUS:
        code = int(value) if value is not None else None
        if code is not None and value == code and 0 <= code < 2**32:
            fields[name] = status_name(code)
            fields[f"{name}_code"] = code
            fields[f"{name}_ok"] = code in STATUS_OK[name]
        return
    converted = field_value(channel.role, value)
    if converted is not None:
        fields[name] = converted


# --- the log: `POST /api/v1/measurements/search` ----------------------------------------------

LOG_RESOLUTION = "FifteenMinutes"
LOG_STEP = 900
# The counters whose 15-minute differences (aggregate "Dif", as SMA's web UI asks for its
# energy bars) are logged, and the interval energies they become.
LOGGED_COUNTERS = {
    "Measurement.Metering.TotWhOut": "inverter_energy",
    "Measurement.Metering.GridMs.TotWhIn": "grid_import_energy",
    "Measurement.Metering.GridMs.TotWhOut": "grid_export_energy",
}


def search_body(channels: list[str], begin: str, end: str, component: str = SELF) -> Any:
    """The body that asks for the channels' 15-minute energies from `begin` to `end` (ISO 8601
    UTC), in the shape of a real browser's request (J's capture, sma.md §7b.3)."""
    return {
        "queryItems": [
            {
                "componentId": component,
                "channelId": channel,
                "resolution": LOG_RESOLUTION,
                "timezone": "UTC",
                "aggregate": "Dif",
                "multiAggregate": "Sum",
            }
            for channel in channels
        ],
        "dateTimeBegin": begin,
        "dateTimeEnd": end,
    }


def interval_energies(answer: Any, component: str = SELF) -> dict[int, dict[str, float]]:
    """Interval start (Unix seconds) → energies (Wh) of a search answer: a list with one object
    per channel, `{"channelId", "componentId", "max", "min", "values": [{"time": <the
    interval's end>, "value": <Wh>}]}` (the shape of J's recorded answer). A value that is
    missing, "NaN" or negative is left out; AnswerError when the answer is not this shape."""
    if not isinstance(answer, list):
        raise AnswerError(f"the measurements search answer is not a list: {excerpt(answer)}")
    result: dict[int, dict[str, float]] = {}
    for item in answer:
        if not isinstance(item, Mapping) or not isinstance(item.get("channelId"), str):
            raise AnswerError(f"a searched channel without an id: {excerpt(item)}")
        field = LOGGED_COUNTERS.get(item["channelId"])
        if field is None or item.get("componentId", component) != component:
            continue
        values = item.get("values")
        if not isinstance(values, list):
            raise AnswerError(f"{item['channelId']}: no list of values: {excerpt(values)}")
        for entry in values:
            stamp = entry.get("time") if isinstance(entry, Mapping) else None
            value = entry.get("value") if isinstance(entry, Mapping) else None
            end = _instant(stamp)
            if end is None:
                raise AnswerError(f"{item['channelId']}: a value without a time: {excerpt(entry)}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not math.isfinite(value) or value < 0:
                continue
            result.setdefault(end - LOG_STEP, {})[field] = float(value)
    return result


def _instant(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp())
