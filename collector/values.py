"""Rounding as the collector writes numbers, shared by every kind (no kind owns it).

Devices send raw numbers; fields hold them rounded half away from zero (as the SOLECTRUS
collector does; Python's `round` rounds half to even), to the places of the field's unit.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

_WHOLE_FLOATS = 2.0**52
_WIDE = Context(prec=400)  # room for every float's digits (the default 28 fails above 1e28)


def round_int(value: float) -> int:
    """Round half away from zero, as the SOLECTRUS collector does (Python rounds half to even).

    Exact for every float: below 2**52, `value - int(value)` (the fraction) is computed without
    error, and a float that is not exactly k + 0.5 never prints as k.5, so this equals rounding
    its decimal form.
    """
    if -_WHOLE_FLOATS < value < _WHOLE_FLOATS:
        whole = int(value)
        fraction = value - whole
        if fraction >= 0.5:
            return whole + 1
        if fraction <= -0.5:
            return whole - 1
        return whole
    if type(value) is int:
        return value
    # every float is whole here, but its shortest decimal form may not be
    return int(Decimal(repr(value)).quantize(Decimal(1), ROUND_HALF_UP, _WIDE))


_TIE_MARGIN = 1e-9
_EXACT_BELOW = 1e12  # beyond this, one decimal needs more digits than a float has to spare


def round1(value: float) -> float:
    """One decimal, half away from zero, of the value's shortest decimal form; never -0.0.

    0.15 is stored as 0.1499999…, yet reads 0.15 and rounds to 0.2, as the SOLECTRUS collector
    does. Far from a tie the float arithmetic decides the same way; at a tie (or for huge
    values) the decimal form is rounded exactly.
    """
    tenths = abs(value) * 10.0
    whole = math.floor(tenths)
    rest = tenths - whole
    if abs(rest - 0.5) > _TIE_MARGIN and tenths < _EXACT_BELOW:
        result = (whole + 1 if rest > 0.5 else whole) / 10.0
        return -result if value < 0 and result else result
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), ROUND_HALF_UP, _WIDE)) + 0.0


def round_to(value: float, places: int) -> float:
    """`places` decimals, half away from zero, of the value's shortest decimal form; never -0.0.
    (`round1` is the fast path for one decimal.)"""
    if places == 1:
        return round1(value)
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(float(value))).quantize(quantum, ROUND_HALF_UP, _WIDE)) + 0.0
