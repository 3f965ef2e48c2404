"""The shape of a lala.cgi answer, learnt once: later answers of that shape decode in one pass.

A source asks the same variables at every poll, and the device answers them in the same text
every time: the same sections and keys in the same order, each value of the same type and
width, each array of the same length; only the hex digits change. `KeyPlan` learns that text
from the first answer without a problem and turns it into one regular expression over the raw
bytes, with a group for the digits of every wanted value. An answer it matches is decoded
without building the JSON document at all: the digits of all numbers, floats and integers, go
through one `unhexlify` and one `struct.unpack` (whose format has each number's type, signed
ones included), then one sum tells that every number is finite and in range.

The expression admits only what the learnt answer had: JSON punctuation with optional
whitespace between, the keys as they were written, and in each value's place the type prefix
it had and as many hex digits as its type has (the device always writes them all); texts and
unwanted values may hold printable ASCII that needs no escape. So a body it matches is valid
JSON with the same sections, keys and types, and decodes as the general path would decode it.
Anything else (a sentinel, an error, a short or bad digit, an escaped character, another key,
NaN) takes the general path, which parses the JSON and names every problem;
tests/test_senec_fields.py checks the two paths against each other.
"""

from __future__ import annotations

import binascii
import json
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, cast

from collector.sources.senec.codec import (
    INT_PREFIXES,
    DecodedOrArray,
    Sections,
    decode_response,
)
from collector.sources.senec.normalise import LIMIT, Values, decode_entries, split_keys

_SPACE = rb"[ \t\n\r]*+"  # JSON's whitespace, and nothing else
_CHARACTERS = rb"[ !#-\[\]-~]*"  # printable ASCII but " and \: what JSON takes unescaped
_PLAIN_TEXT = rb'"' + _CHARACTERS + rb'"'
_ANY_TEXTS = rb"\[" + _SPACE + rb"(?:" + _PLAIN_TEXT + rb"(?:" + _SPACE + rb"," + _SPACE
_ANY_TEXTS += _PLAIN_TEXT + rb")*)?" + _SPACE + rb"\]"
_UNWANTED = rb"(?:" + _PLAIN_TEXT + rb"|" + _ANY_TEXTS + rb")"  # a text, or an array of texts
_TEXT_PREFIXES = ("st_", "ch_")
# struct's code for each value type: 8 hex digits of float32, or an integer of its full width
_CODES = {"fl_": "f"} | {
    prefix: {8: "b", 16: "h", 32: "i", 64: "q"}[bits]
    if signed
    else "BHIQ"[(bits // 8).bit_length() - 1]
    for prefix, (_digits, bits, signed) in INT_PREFIXES.items()
}
_WIDTHS = {"fl_": 8} | {prefix: digits for prefix, (digits, _bits, _signed) in INT_PREFIXES.items()}


def _literal(text: str) -> bytes:
    """A key as JSON writes it (ASCII, escapes as json.dumps makes them), for the expression."""
    return re.escape(json.dumps(text).encode())


def _number(raw: object) -> str | None:
    """The struct code of a number written with all its digits, else None."""
    if type(raw) is not str:
        return None
    head = raw[:3]
    width = _WIDTHS.get(head)
    return _CODES[head] if width is not None and len(raw) == 3 + width else None


def _text(raw: object) -> bool:
    return type(raw) is str and raw[:3] in _TEXT_PREFIXES


class _Template:
    """The expression for one learnt answer; the numbers' struct format; where each number
    and text goes."""

    def __init__(self, answer: Sections, wanted: dict[str, dict[str, str]]) -> None:
        self.format = ">"
        self.groups = 0
        self.numbers: list[int] = []  # the groups holding numbers
        self.scalars: list[tuple[str, int]] = []  # key, place among the numbers
        self.arrays: list[tuple[str, int, int]] = []  # key, its numbers' first place, the end
        self.texts: list[tuple[str, int]] = []  # key, group
        parts: list[bytes] = [_SPACE, rb"\{"]
        for count, (section, content) in enumerate(answer.items()):
            parts += [_SPACE, b",", _SPACE] if count else [_SPACE]
            parts += [_literal(section), _SPACE, b":", _SPACE, rb"\{"]
            names = wanted.get(section, {})
            for place, (name, raw) in enumerate(content.items()):
                parts += [_SPACE, b",", _SPACE] if place else [_SPACE]
                parts += [_literal(name), _SPACE, b":", _SPACE]
                key = names.get(name)
                parts.append(_UNWANTED if key is None else self._value(key, raw))
            parts += [_SPACE, rb"\}"]
        parts += [_SPACE, rb"\}", _SPACE]
        self.pattern = re.compile(b"".join(parts))

    def _value(self, key: str, raw: object) -> bytes:
        raw = cast(str | list[str], raw)  # learn() checked every wanted value
        if type(raw) is str:
            if _text(raw):
                self.texts.append((key, self.groups))
                self.groups += 1
                return b'"' + raw[:3].encode() + b"(" + _CHARACTERS + b')"'
            self.scalars.append((key, len(self.numbers)))
            return self._digits(raw)
        first = len(self.numbers)
        items = [self._digits(item) for item in raw]
        self.arrays.append((key, first, len(self.numbers)))
        between = _SPACE + b"," + _SPACE
        return rb"\[" + _SPACE + between.join(items) + _SPACE + rb"\]"

    def _digits(self, raw: str) -> bytes:
        head = raw[:3]
        self.format += _CODES[head]
        self.numbers.append(self.groups)
        self.groups += 1
        return b'"' + head.encode() + rb"([0-9A-Fa-f]{%d})" % _WIDTHS[head] + b'"'


class KeyPlan:
    """The wanted variables, split into section and name once; and, once learnt, the text of
    their answer (see the module's description)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = split_keys(keys)
        self.shape: _Shape | None = None

    def learn(self, answer: Sections, values: Values) -> None:
        """Learn the shape from an answer whose every wanted value decoded without a problem:
        numbers with all their digits, texts, arrays of numbers; other values are strings
        without escapes or arrays of them. Else the plan keeps to the general path."""
        if values.problems or self.shape is not None:
            return
        wanted: dict[str, dict[str, str]] = {}
        for key, section, name in self.keys:
            raw = answer[section][name]
            if type(raw) is list:
                if not raw or any(_number(item) is None for item in raw):
                    return
            elif _number(raw) is None and not _text(raw):
                return
            wanted.setdefault(section, {})[name] = key
        for content in answer.values():
            for raw in content.values():
                if any(type(item) is not str for item in (raw if type(raw) is list else [raw])):
                    return
        self.shape = _Shape(_Template(answer, wanted))

    def decode(self, body: bytes) -> Values | None:
        """An answer of the learnt shape, decoded; None if it differs in any way."""
        assert self.shape is not None
        return self.shape.decode(body)


class _Shape:
    """A learnt template, arranged for decoding."""

    def __init__(self, template: _Template) -> None:
        self.pattern = template.pattern
        self.unpack = struct.Struct(template.format).unpack
        every = len(template.numbers) == template.groups
        self.numbers = None if every else _picker(template.numbers)  # None: all groups
        self.scalar_keys = tuple(key for key, _ in template.scalars)
        self.scalars = _picker([place for _, place in template.scalars])
        self.arrays = tuple(template.arrays)
        self.texts = tuple(template.texts)

    def decode(self, body: bytes) -> Values | None:
        match = self.pattern.fullmatch(body)
        if match is None:
            return None
        groups = match.groups()
        digits = b"".join(groups if self.numbers is None else self.numbers(groups))
        numbers = self.unpack(binascii.unhexlify(digits))
        # Finite and in range, every one of them (NaN and infinity fail the comparison); a sum
        # this large from numbers in range is no real reading either: the general path decides.
        if not sum(map(abs, numbers)) < LIMIT:
            return None
        numeric = dict(zip(self.scalar_keys, self.scalars(numbers), strict=True))
        others: dict[str, DecodedOrArray] = {}
        arrays: dict[str, tuple[list[float], int, str]] = {}
        for key, first, end in self.arrays:
            array = list(numbers[first:end])
            arrays[key] = (array, end - first, "")
        for key, group in self.texts:
            others[key] = groups[group].decode("ascii")
        return Values(others, numeric, arrays)


Pick = Callable[[Sequence[Any]], tuple[Any, ...]]


def _picker(places: Sequence[int]) -> Pick:
    """A function taking the items at these places of a sequence, as a tuple (C speed)."""
    if len(places) == 1:
        place = places[0]
        return lambda items: (items[place],)
    return cast(Pick, itemgetter(*places))


def decode_body(body: bytes, keys: KeyPlan) -> Values:
    """Decode the wanted variables of a lala.cgi answer: by the learnt shape when it fits, else
    by parsing the JSON (which raises ProtocolError for a body that is none) and learning from
    it."""
    if keys.shape is not None:
        values = keys.decode(body)
        if values is not None:
            return values
    answer = decode_response(body)
    values = decode_entries(answer, keys.keys)
    keys.learn(answer, values)
    return values
