"""`collector simulate sma-em`: an SMA Energy Meter (or Home Manager) sending its datagrams.

Real-format 0x6069 datagrams, built with the kind's own codec from the household every simulator
shares (the meter sees the grid side of the house SENEC and the inverter see), sent by default
unicast to 127.0.0.1:9522 (as "direct meter communication" does), or to a multicast group.
Layouts: EM 2.0 (SUSyID 349, no frequency) or SHM 2.0 (SUSyID 372, with frequency and, like
firmware 2.3.4.R, 8 bytes of a record the collector does not know). Faults on demand:
truncated datagrams, a foreign protocol, duplicates, silence, a counter that goes backwards.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass

from collector.simulators.household import Household
from collector.simulators.serve import until_signalled
from collector.sources.sma_common.frame import MULTICAST_GROUP, PORT
from collector.sources.sma_em.codec import (
    CURRENT,
    EXPORT,
    FREQUENCY,
    IMPORT,
    POWER_FACTOR,
    VOLTAGE,
    encode_datagram,
    phase,
)

LAYOUTS = {"em2": (349, "2.0.18.R"), "shm2": (372, "2.3.4.R")}
UNKNOWN_RECORD = bytes((0, 36, 4, 0)) + struct.pack(">I", 0)  # (not decoded by the collector)


@dataclass
class Faults:
    truncate: bool = False  # cut every datagram short
    foreign: bool = False  # send an inverter-protocol datagram beside each one
    duplicate: bool = False  # send every datagram twice
    silent: bool = False  # send nothing
    backwards: bool = False  # the import counter runs backwards


class Meter:
    """The meter without the network: its datagram at a moment."""

    def __init__(
        self,
        household: Household | None = None,
        *,
        serial: int = 1901429669,
        layout: str = "em2",
        susy: int | None = None,
    ) -> None:
        self.household = household or Household()
        self.serial = serial
        self.layout = layout
        default_susy, self.version = LAYOUTS[layout]
        self.susy = susy if susy is not None else default_susy
        self.import_ws = 3_600_000 * 25_000  # 25 MWh so far
        self.export_ws = 3_600_000 * 12_000
        self._last: float | None = None
        self._ticker = 0  # milliseconds, as the meter counts them (each datagram its own)

    def datagram(self, wall: float | None = None, *, backwards: bool = False) -> bytes:
        wall = time.time() if wall is None else wall
        snapshot = self.household.snapshot(wall)
        grid = snapshot.grid  # W, + import
        if self._last is not None:
            seconds = max(0.0, wall - self._last)
            self._ticker += max(1, round(seconds * 1000))
            step = -1 if backwards else 1
            self.import_ws += step * round(max(grid, 0.0) * seconds)
            self.export_ws += round(max(-grid, 0.0) * seconds)
        self._last = wall
        actual: dict[int, int] = {
            IMPORT: round(max(grid, 0.0) * 10),
            EXPORT: round(max(-grid, 0.0) * 10),
            POWER_FACTOR: 950,
        }
        for n in (1, 2, 3):
            share = grid / 3
            volts = 230.0 + n * 0.7
            actual[phase(IMPORT, n)] = round(max(share, 0.0) * 10)
            actual[phase(EXPORT, n)] = round(max(-share, 0.0) * 10)
            actual[phase(VOLTAGE, n)] = round(volts * 1000)
            actual[phase(CURRENT, n)] = round(abs(share) / volts * 1000)
            actual[phase(POWER_FACTOR, n)] = 950
        if self.layout == "shm2":
            actual[FREQUENCY] = 50_012
        counters = {IMPORT: max(self.import_ws, 0), EXPORT: self.export_ws}
        extra = UNKNOWN_RECORD * 2 if self.layout == "shm2" else b""
        return encode_datagram(
            self.susy, self.serial, self._ticker, actual, counters, self.version, extra
        )


FOREIGN = bytes.fromhex(  # a 0x6065 query, as inverters' clients send to the same group
    "534d4100000402a00000000100260010606509a07a01842a71b300017d0042be283a00010000000003800002"
    "005800348200ff34820000000000"
)


class MeterSender:
    """Sends a meter's datagrams every `period` seconds to `target`, in a thread."""

    def __init__(
        self,
        meter: Meter,
        target: tuple[str, int] = ("127.0.0.1", PORT),
        *,
        period: float = 1.0,
        faults: Faults | None = None,
        interface: str | None = None,
        ttl: int = 1,
    ) -> None:
        """`interface`: the address to send multicast from; `ttl` 0 keeps it on this host."""
        self.meter = meter
        self.target = target
        self.period = period
        self.faults = faults or Faults()
        self.sent = 0  # datagrams sent (each duplicate counted once)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        if interface is not None:
            self.sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface)
            )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sma-em-simulator", daemon=True)

    def send_once(self) -> None:
        faults = self.faults
        if faults.silent:
            return
        data = self.meter.datagram(backwards=faults.backwards)
        if faults.truncate:
            data = data[: len(data) // 2]
        self.sock.sendto(data, self.target)
        if faults.duplicate:
            self.sock.sendto(data, self.target)
        if faults.foreign:
            self.sock.sendto(FOREIGN, self.target)
        self.sent += 1

    def _run(self) -> None:
        complained = False
        while not self._stop.wait(self.period):
            try:
                self.send_once()
            except OSError as exc:  # a name not resolvable yet (a container not up), no route
                if not complained:
                    print(f"simulator: cannot send to {self.target[0]}: {exc}", file=sys.stderr)
                complained = True
                continue
            if complained:
                print(f"simulator: sending to {self.target[0]} again", file=sys.stderr)
                complained = False

    def start(self) -> MeterSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.sock.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", default="127.0.0.1", help="unicast address, or a multicast group")
    parser.add_argument("--port", type=int, default=PORT, help=f"destination port ({PORT})")
    parser.add_argument("--multicast", action="store_true", help=f"send to {MULTICAST_GROUP}")
    parser.add_argument("--serial", type=int, default=1901429669, help="the meter's serial")
    parser.add_argument(
        "--layout", choices=sorted(LAYOUTS), default="em2", help="EM 2.0 or SHM 2.0"
    )
    parser.add_argument("--susyid", type=int, help="another SUSyID than the layout's")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between datagrams")
    parser.add_argument("--seed", type=int, default=1, help="household model seed")
    for name in ("truncate", "foreign", "duplicate", "silent", "backwards"):
        parser.add_argument(f"--{name}", action="store_true", help=f"fault: {name}")


def run_from_arguments(args: argparse.Namespace) -> int:
    target = (MULTICAST_GROUP if args.multicast else args.to, args.port)
    faults = Faults(args.truncate, args.foreign, args.duplicate, args.silent, args.backwards)
    meter = Meter(
        Household(seed=args.seed), serial=args.serial, layout=args.layout, susy=args.susyid
    )
    try:
        sender = MeterSender(meter, target, period=args.period, faults=faults).start()
    except OSError as exc:
        print(f"simulator: cannot send: {exc.strerror}", file=sys.stderr)
        return 1
    print(
        f"SMA Energy Meter simulator ({args.layout}, serial {args.serial}) sending to "
        f"{target[0]}:{target[1]} every {args.period:g} s",
        flush=True,
    )
    until_signalled()
    sender.stop()
    return 0
