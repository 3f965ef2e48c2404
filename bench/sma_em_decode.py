"""CPU per SMA Energy Meter datagram: ours against pysma-plus's meter decoder, same datagrams.

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python -m bench.sma_em_decode

The 13 recorded 0x6069 datagrams (12 EM 2.0, 1 SHM 2.0) in turn. Each way gets the bytes:

- pysma-plus (0.5): `SMAspeedwireEM().datagram_received(data, addr)`, which decodes the header
  and every OBIS record into a dict (raw numbers, no units) and skips a datagram equal to the one
  before (never the case here: each has its own tick);
- ours: `decode_datagram` (header, protocol and SUSyID checks, every record by id, the version),
  and ours as the source does it per datagram: decoding plus adding it to the interval's average
  (`Window.add`: every power, voltage, current, factor and counter in its unit).

CPU time (`time.process_time`), ways alternated, 30 batches of 20,000 datagrams; the fastest
batch of each counts. Prints µs per datagram and the ratios to pysma-plus.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from collector.sources.sma_em.codec import decode_datagram
from collector.sources.sma_em.source import Window

RECORDINGS = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "recordings"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--size", type=int, default=20_000)
    args = parser.parse_args()
    try:
        from pysmaplus.device_em import SMAspeedwireEM
    except ImportError:
        print("pysma-plus is missing: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    packets = json.loads((RECORDINGS / "sma-speedwire-packets.json").read_text())
    datagrams = [bytes.fromhex(p["hex"]) for p in packets if p["hex"][32:36] == "6069"]
    assert len(datagrams) == 13
    peer = SMAspeedwireEM()
    address = ("192.0.2.1", 9522)
    for data in datagrams:  # every datagram decodes, by both
        assert peer.datagram_received(data, address), "pysma-plus skipped a datagram"
        assert decode_datagram(data).serial
    window = Window()
    count, size = len(datagrams), int(args.size)

    def batch(way: Callable[[bytes], object]) -> float:
        started = time.process_time()
        for number in range(size):
            way(datagrams[number % count])
        return (time.process_time() - started) / size

    def ours_and_average(data: bytes) -> None:
        window.add(decode_datagram(data))

    ways: dict[str, Callable[[bytes], object]] = {
        "pysma-plus datagram_received": lambda data: peer.datagram_received(data, address),
        "ours: decode_datagram": decode_datagram,
        "ours: decode + average": ours_and_average,
    }
    best = {name: float("inf") for name in ways}
    for _ in range(args.batches):
        for name, way in ways.items():
            best[name] = min(best[name], batch(way))
    reference = best["pysma-plus datagram_received"]
    print(f"{count} recorded datagrams (12 EM 2.0, 1 SHM 2.0), CPU per datagram:")
    for name, seconds in best.items():
        print(f"{name:30} {seconds * 1e6:7.2f} µs   {seconds / reference:5.2f}× pysma-plus")
    print(
        f"ratio ours/pysma-plus: {best['ours: decode_datagram'] / reference:.2f} "
        f"(Python {platform.python_version()}, {platform.machine()})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
