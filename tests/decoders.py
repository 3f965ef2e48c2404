"""Every decoder of what another machine sends, as one function of the bytes that came, with the
errors it may raise.

Each entry runs the path its source runs on an answer, from the bytes to the fields: a source
turns the errors listed in `allowed` into one log line (a ProtocolError, a dropped datagram);
anything else that escapes is a bug of the kind. The fuzzers (`bench/fuzz`) and the properties
(`tests/test_decoders.py`) run these same entries, seeded with the recordings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.errors import CodecError, ProtocolError

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT.parent / "shared" / "reference" / "recordings"


@dataclass(frozen=True)
class Decoder:
    name: str
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]
    what: str
    modules: tuple[str, ...] = ()  # what it decodes with, below collector/ (for line coverage)
    max_len: int = 0  # the fuzzer's longest input; 0: libFuzzer's guess from the seeds


def _recorded(pattern: str) -> list[bytes]:
    return [path.read_bytes() for path in sorted(RECORDINGS.glob(pattern))]


def json_answer(data: bytes) -> Any:
    """The JSON of an HTTP answer, as the sources take it (collector.http.json_of)."""
    try:
        return json.loads(data)
    except ValueError:
        raise ProtocolError(f"answered no JSON ({len(data)} bytes)") from None


# --- SENEC, local --------------------------------------------------------------------------


def _senec_plan() -> tuple[Any, Any, Any]:
    from collector.sources.senec.normalise import MAPPING, FieldPlan, wanted_keys
    from collector.sources.senec.shape import KeyPlan
    from collector.sources.senec.states import StateNames

    fields = list(MAPPING)
    return KeyPlan(wanted_keys(fields)), FieldPlan(fields), StateNames("de")


def _senec_reading(body: bytes, keys: Any, plan: Any, states: Any) -> object:
    from collector.sources.senec.normalise import compute_fields, device_time, state_code_of
    from collector.sources.senec.shape import decode_body

    values = decode_body(body, keys)
    state_code_of(values)
    device_time(values)
    return compute_fields(values, plan, states)


_LEARNT: list[tuple[Any, Any, Any]] = []


def senec_learnt(body: bytes) -> object:
    """lala.cgi answers to a source that has learnt the shape of the 2025-07-24 recording: an
    answer of that shape takes the one-pass path, any other the general one."""
    if not _LEARNT:
        keys, plan, states = _senec_plan()
        recorded = (RECORDINGS / "senec-local-2025-07-24.response.json").read_bytes()
        _senec_reading(recorded, keys, plan, states)
        assert keys.shape is not None, "the recording did not teach the shape"
        _LEARNT.append((keys, plan, states))
    keys, plan, states = _LEARNT[0]
    return _senec_reading(body, keys, plan, states)


def senec_general(body: bytes) -> object:
    """lala.cgi answers to a source that has learnt nothing yet (each input may teach it)."""
    keys, plan, states = _senec_plan()
    return _senec_reading(body, keys, plan, states)


def _language_seeds() -> list[bytes]:
    """The recorded language file's state table with what surrounds it in the file (52 kB in
    all, of which the parser reads the 3 kB table: the table keeps the fuzzer's inputs short)."""
    text = (RECORDINGS / "senec-DE-de.js").read_bytes()
    start = text.index(b"system_state_name = {")
    end = text.index(b"};", start) + 2
    return [b"var " + text[start:end] + b"\n", text[start - 200 : end + 200]]


def senec_states(body: bytes) -> object:
    """The device's language file, for the state names."""
    from collector.sources.senec.states import parse_language_file

    return parse_language_file(body.decode("utf-8", "replace"))


# --- SMA ------------------------------------------------------------------------------------


def speedwire(data: bytes) -> object:
    """A datagram at the inverter client's socket: a reply's records, and their fields."""
    from collector.sources.sma import codec
    from collector.sources.sma.source import fields_from
    from collector.sources.sma_common.frame import InverterPacket

    packet = codec.decode(data)
    if not isinstance(packet, InverterPacket):
        return packet
    problems: dict[str, str] = {}
    return fields_from(codec.records(packet), problems), problems


def meter(data: bytes) -> object:
    """A datagram at the meter socket (the meter's multicast group, where inverters talk too)."""
    from collector.sources.sma_em.codec import decode_datagram

    return decode_datagram(data)


def _speedwire_seeds() -> list[bytes]:
    packets = json.loads((RECORDINGS / "sma-speedwire-packets.json").read_text(encoding="utf-8"))
    return [bytes.fromhex(packet["hex"]) for packet in packets]


def _meter_seeds() -> list[bytes]:
    from collector.simulators.household import Household
    from collector.sources.sma_em.simulator import FOREIGN, Meter

    seeds = [FOREIGN]
    for layout in ("em2", "shm2"):
        meter = Meter(Household(), serial=1900000001, layout=layout)
        seeds += [meter.datagram(1_800_000_000.0), meter.datagram(1_800_000_001.0)]
    return seeds + [s for s in _speedwire_seeds() if s[16:18] == b"\x60\x69"]


def webconnect(data: bytes) -> object:
    """A WebConnect answer (getValues.json, getAllOnlValues.json): its entries, the fields, and
    the device's details as the source reads them."""
    from collector.sources.sma_webconnect.codec import entries_of, fields_from, tag_of, values_of

    entries = entries_of(json_answer(data))
    for entry in entries.values():
        for value in values_of(entry):
            tag_of(value)
    return fields_from(entries)


def ennexos(data: bytes) -> object:
    """An ennexOS measurements answer: the channels of the device, and the fields."""
    from collector.sources.sma_ennexos.codec import channels_of, fields_from

    return fields_from(channels_of(json_answer(data)))


# --- SENEC's servers -------------------------------------------------------------------------


def senec_cloud_json(data: bytes) -> object:
    """A JSON answer of SENEC's app API, in every role the source gives one: the dashboard (with
    the same document as wallbox and details), the system list, the token endpoint."""
    from collector.sources.senec_cloud.codec import Tokens, dashboard_fields, timestamp_of
    from collector.sources.senec_cloud.source import System

    answer = json_answer(data)
    results: list[object] = []
    for step in (
        lambda: timestamp_of(answer),
        lambda: dashboard_fields(answer, [answer], answer),
        lambda: dashboard_fields(answer, None, None),
        lambda: [System.from_answer(item) for item in answer] if isinstance(answer, list) else None,
        lambda: Tokens.from_answer(answer, 1_800_000_000.0),
    ):
        try:  # each role on its own: one refusing must not hide the next
            results.append(step())
        except ProtocolError as exc:
            results.append(exc)
    return results


def senec_cloud_login(data: bytes) -> object:
    """A page of SENEC's login server (Keycloak), and a redirect's Location."""
    from collector.sources.senec_cloud.codec import code_from_redirect, parse_page

    text = data.decode("utf-8", "replace")
    return parse_page(text), code_from_redirect(text)


def senec_connect(data: bytes) -> object:
    """A SENEC.Connect answer: the systems, and what an error answer says."""
    from collector.sources.senec_connect.codec import problem_of, systems_of

    answer = json_answer(data)
    said = [problem_of(status, answer) for status in (400, 401, 403, 404, 429, 500)]
    return systems_of(answer), said


def _connect_seeds() -> list[bytes]:
    from collector.sources.senec_connect.simulator import KEY, SenecConnect

    connect = SenecConnect(systems=2)
    return [json.dumps(connect.answer(key)[1]).encode() for key in (KEY, "wrong")]


# --- InfluxDB ---------------------------------------------------------------------------------


def influx_error(data: bytes) -> object:
    """An error answer of InfluxDB (or VictoriaMetrics): its words, and what the writer makes of
    each status with them."""
    from collector.sinks import error_for_status, reason_from_body

    reason = reason_from_body(data)
    text = data[:40].decode("latin-1")
    return [
        error_for_status(status, reason, text, "bucket b", text)
        for status in (400, 401, 404, 413, 429, 500, 503)
    ]


_INFLUX_SEEDS = [
    b'{"code":"invalid","message":"partial write: field type conflict: input field \\"x\\" '
    b'on measurement \\"SENEC\\" is type integer, already exists as type float dropped=1"}',
    b'{"error":"database not found: \\"solar\\""}',
    b'{"code":"unauthorized","message":"unauthorized access"}',
    b"unsupported path\n",
    b"",
]


DECODERS = (
    Decoder(
        "senec-learnt",
        senec_learnt,
        (ProtocolError, CodecError),
        lambda: _recorded("senec-local-*.response.json"),
        "lala.cgi answer, the learnt shape's one-pass path (and the general one beside it)",
        modules=("sources/senec/shape.py", "sources/senec/normalise.py", "sources/senec/codec.py"),
    ),
    Decoder(
        "senec-general",
        senec_general,
        (ProtocolError, CodecError),
        lambda: _recorded("senec-local-*.response.json"),
        "lala.cgi answer, the general path (JSON, then every value)",
        modules=("sources/senec/codec.py", "sources/senec/normalise.py", "sources/senec/shape.py"),
    ),
    Decoder(
        "senec-states",
        senec_states,
        (CodecError,),
        _language_seeds,
        "the device's language file (state names)",
        max_len=8192,
        modules=("sources/senec/states.py",),
    ),
    Decoder(
        "speedwire",
        speedwire,
        (CodecError, ProtocolError),
        _speedwire_seeds,
        "Speedwire datagram at the inverter client (reply, records, fields)",
        modules=(
            "sources/sma/codec.py",
            "sources/sma_common/frame.py",
            "sources/sma_common/records.py",
            "sources/sma/source.py",
        ),
    ),
    Decoder(
        "meter",
        meter,
        (CodecError,),  # Dropped, with its reason: the meter socket's contract
        _meter_seeds,
        "Energy Meter / Home Manager datagram",
        modules=("sources/sma_em/codec.py", "sources/sma_common/frame.py"),
    ),
    Decoder(
        "webconnect",
        webconnect,
        (ProtocolError, CodecError),
        lambda: _recorded("sma-webconnect-*.json"),
        "WebConnect JSON (entries, fields, details)",
        modules=("sources/sma_webconnect/codec.py",),
    ),
    Decoder(
        "ennexos",
        ennexos,
        (ProtocolError, CodecError),
        lambda: _recorded("sma-ennexos-*.json"),
        "ennexOS JSON (channels, fields)",
        modules=("sources/sma_ennexos/codec.py",),
    ),
    Decoder(
        "senec-cloud-json",
        senec_cloud_json,
        (ProtocolError,),
        lambda: _recorded("senec-cloud-*.json"),
        "SENEC app API JSON (dashboard, wallbox, details, systems, tokens)",
        modules=("sources/senec_cloud/codec.py", "sources/senec_cloud/source.py"),
    ),
    Decoder(
        "senec-cloud-login",
        senec_cloud_login,
        (ProtocolError,),
        lambda: _recorded("senec-cloud-keycloak-*.html"),
        "SENEC login server HTML (Keycloak forms, errors)",
        modules=("sources/senec_cloud/codec.py",),
    ),
    Decoder(
        "senec-connect",
        senec_connect,
        (ProtocolError,),
        _connect_seeds,
        "SENEC.Connect JSON (systems, error answers)",
        modules=("sources/senec_connect/codec.py",),
    ),
    Decoder(
        "influx-error",
        influx_error,
        (),
        lambda: list(_INFLUX_SEEDS),
        "InfluxDB error bodies",
        modules=("sinks/__init__.py", "http.py"),
    ),
)

BY_NAME = {decoder.name: decoder for decoder in DECODERS}
