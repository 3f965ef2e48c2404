"""Decoding and normalising one lala.cgi answer: ours against pysenec's bare `util.parse`.

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python -m bench.senec_decode [--answer senec-local-2024-11-02.response.json]

Same bytes, same run. Each way starts from the answer's bytes:

- pysenec: `json.loads` and `pysenec.util.parse` (hex strings to numbers; maps nothing, checks
  nothing: the floor for any Python decoder of this format);
- ours, as the source does it at every poll after the first: `decode_body` with the source's
  KeyPlan (which has learnt the answer's text from the first one), `compute_fields` for all
  fields, and `device_time`; every check included (sentinels, types, finiteness, range,
  rounding half away from zero);
- ours, the general path (no learnt shape: the first answer, or one that differs):
  `decode_response` (json.loads and checks), `decode_answer`, `compute_fields`, `device_time`.

The ways are timed in alternation, 40 batches of 500 each, and the fastest batch of each counts
(the least disturbed by the machine). Prints µs per answer and the ratios to pysenec.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.sources.senec.codec import decode_response
from collector.sources.senec.normalise import (
    MAPPING,
    FieldPlan,
    compute_fields,
    decode_answer,
    device_time,
    wanted_keys,
)
from collector.sources.senec.shape import KeyPlan, decode_body
from collector.sources.senec.states import StateNames

RECORDINGS = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "recordings"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answer", default="senec-local-2024-11-02.response.json")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    try:
        from pysenec import util
    except ImportError:
        print("pysenec is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    body = (RECORDINGS / args.answer).read_bytes()

    names = list(MAPPING)
    keys = wanted_keys(names)
    plan, fields, states = KeyPlan(keys), FieldPlan(names), StateNames("de")

    def ours() -> dict[str, Any]:
        values = decode_body(body, plan)
        device_time(values)
        return compute_fields(values, fields, states)

    def ours_general() -> dict[str, Any]:
        values = decode_answer(decode_response(body), keys)
        device_time(values)
        return compute_fields(values, fields, states)

    def pysenec() -> Any:
        return util.parse(json.loads(body))

    first = ours()  # the first answer teaches the plan its shape
    assert plan.shape is not None, "the answer has problems: no shape learnt"
    assert ours() == first == ours_general()
    print(f"{args.answer}: {len(body)} bytes, {len(first)} fields")
    ways: dict[str, Callable[[], Any]] = {
        "pysenec util.parse": pysenec,
        "ours (learnt shape)": ours,
        "ours (general path)": ours_general,
    }
    best = {name: float("inf") for name in ways}
    for _ in range(args.batches):
        for name, way in ways.items():
            best[name] = min(best[name], timeit.timeit(way, number=args.size) / args.size)
    peer = best["pysenec util.parse"]
    for name, seconds in best.items():
        print(f"{name:22} {seconds * 1e6:7.1f} µs   {seconds / peer:5.2f}× pysenec")
    print(
        f"ratio ours/pysenec: {best['ours (learnt shape)'] / peer:.2f} "
        f"(Python {platform.python_version()}, {platform.machine()})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
