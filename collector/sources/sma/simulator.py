"""`collector simulate sma`: fake SMA inverters speaking Speedwire on 127.0.0.1.

Built on the collector's own codec. Each inverter listens on its own UDP port, answers the
multicast-style discovery request (sent to it directly), the identify query, login (user and
installer passwords), logoff and the spot-value queries of `registers.QUERIES` from a simulated
household (sun curve, per-string DC values, counters, an optional battery and an optional
energy meter).

Faults, switchable at run time through `inverter.faults`: dropped replies, duplicated replies,
stale replies (the previous answer sent again first), delayed replies, error 0x0017 after N
queries, error 21 for some queries, night (NaN values and status Off, or no answer at all),
replies split into fragments, and foreign datagrams (an Energy Meter packet, a reply from another
device) before each answer.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import math
import random
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from collector.simulators.household import Household
from collector.sources.sma import builders, codec
from collector.sources.sma_common import frame
from collector.sources.sma_common.frame import Address, InverterPacket
from collector.sources.sma_common.inverter import (
    SimulatedInverter,
    SmaFaults,
)
from collector.sources.sma_common.records import Record
from collector.sources.sma_common.registers import (
    QUERIES,
    SOFTWARE_VERSION,
    TYPE_LABEL,
    Query,
)

LOG_RECORDS_PER_PACKET = 80  # 960 bytes of records: a day's log comes in four fragments
LOG_ERROR = 0x0002  # what the simulated device answers a log request with under faults.log


class SmaInverter(SimulatedInverter):
    """The device speaking Speedwire: bytes in, (delay, bytes) out. No sockets here."""

    def __init__(
        self,
        serial: int,
        *,
        user_password: str = "0000",
        installer_password: str = "1111",
        seed: int = 1,
        **inverter: Any,
    ) -> None:
        """`inverter`: SimulatedInverter's (susy, strings, battery, meter, household, …)."""
        super().__init__(serial, seed=seed, **inverter)
        self.passwords = {
            codec.GROUP_USER: user_password,
            codec.GROUP_INSTALLER: installer_password,
        }
        self.sessions: set[Address] = set()
        self.received: list[InverterPacket] = []
        self.answered_queries = 0
        self._previous_reply: bytes | None = None
        self._busy_until = 0.0
        self._rng = random.Random(seed)

    def handle(self, data: bytes, wall: float | None = None) -> list[tuple[float, bytes]]:
        """Replies to one received datagram, each with the delay before it goes out."""
        if frame.is_discovery_request(data):
            return [(0.0, builders.encode_discovery_reply("127.0.0.1"))]
        try:
            packet = codec.decode(data)
        except frame.SpeedwireError:
            return []
        if not isinstance(packet, InverterPacket) or packet.is_reply:
            return []
        if packet.destination not in (self.address, frame.ANY) and packet.destination != Address(
            self.address.susy, frame.ANY_SERIAL
        ):
            return []
        self.received.append(packet)
        faults = self.faults
        if faults.night == "silent":
            return []
        if faults.busy:  # one request at a time: whatever comes while busy is lost
            now = time.monotonic()
            if now < self._busy_until:
                return []
            self._busy_until = now + faults.busy
        replies = self._answer(packet, wall)
        if not replies:
            return []
        if faults.drop_next > 0:
            faults.drop_next -= 1
            return []
        if faults.drop_rate and self._rng.random() < faults.drop_rate:
            return []
        encoded = [frame.encode_inverter(reply) for reply in replies]
        out: list[tuple[float, bytes]] = []
        if faults.foreign:
            out.append((0.0, self._foreign_meter()))
            if packet.command != codec.CMD_LOGIN:  # one IP is one device: logins are not mixed
                other = builders.reply_to(
                    packet, Address(self.address.susy, self.address.serial + 1)
                )
                out.append((0.0, frame.encode_inverter(other)))
        if faults.stale and self._previous_reply is not None:
            out.append((0.0, self._previous_reply))
        for item in encoded:
            out.append((faults.delay + faults.busy, item))
            if faults.duplicate:
                out.append((faults.delay + faults.busy, item))
        self._previous_reply = encoded[-1]
        return out

    def _answer(self, packet: InverterPacket, wall: float | None) -> list[InverterPacket]:
        if packet.command == codec.CMD_LOGOFF:
            self.sessions.discard(packet.source)
            return []
        if packet.command == codec.CMD_LOGIN:
            try:
                login = codec.parse_login(packet)
            except frame.SpeedwireError:
                return []
            expected = self.passwords.get(login.group)
            given = codec.decode_password(login.password, login.group) if expected else None
            ok = expected is not None and given == expected
            if ok:
                self.sessions.add(packet.source)
            error = codec.ReplyCode.OK if ok else codec.ReplyCode.WRONG_PASSWORD
            return [builders.login_reply(packet, self.address, error)]
        if packet.command == codec.CMD_IDENTIFY:
            record = Record(
                0x00000300,
                0,
                struct.pack("<HI", self.address.susy, self.address.serial).ljust(32, b"\x00"),
            )
            return [builders.reply_to(packet, self.address, builders.encode_records([record]))]
        if packet.source not in self.sessions:
            return [
                builders.reply_to(
                    packet, self.address, packet.body[:8], error=codec.ReplyCode.NOT_AUTHENTICATED
                )
            ]
        limit = self.faults.session_lost_after
        if limit is not None and self.answered_queries >= limit:
            self.faults.session_lost_after = None
            self.sessions.discard(packet.source)
            return [
                builders.reply_to(
                    packet, self.address, packet.body[:8], error=codec.ReplyCode.NOT_AUTHENTICATED
                )
            ]
        try:
            first, last = packet.register_range
        except frame.SpeedwireError:
            return []
        if packet.command in (codec.CMD_YIELD_5MIN, codec.CMD_YIELD_DAILY):
            return self._log_reply(packet, first, last)
        wanted = self._query(packet.command, first, last)
        snap = self.snapshot(wall)
        records = self.records_for(wanted, snap) if wanted else []
        records = [r for r in records if first <= r.lri <= last]
        self.answered_queries += 1
        if records and self.faults.odd_records > 0:  # a size no register of this type has
            self.faults.odd_records -= 1
            records = [Record(r.code, r.time, r.data.ljust(32, b"\xff")[:32]) for r in records]
        if not records or (wanted and wanted.name in self.faults.unavailable):
            return [
                builders.reply_to(
                    packet, self.address, packet.body[:8], error=codec.ReplyCode.NOT_AVAILABLE
                )
            ]
        return self._fragments(packet, records)

    @staticmethod
    def _query(command: int, first: int, last: int) -> Query | None:
        for query in (*QUERIES, TYPE_LABEL, SOFTWARE_VERSION):
            if query.command == command and query.first <= first and last <= query.last:
                return query
        for query in (*QUERIES, TYPE_LABEL, SOFTWARE_VERSION):  # a wider range: the first match
            if query.command == command and first <= query.first <= last:
                return query
        return None

    def _fragments(self, packet: InverterPacket, records: list[Record]) -> list[InverterPacket]:
        parts = max(1, min(self.faults.fragments, len(records)))
        size = math.ceil(len(records) / parts)
        return self._in_fragments(packet, records, size, builders.encode_records)

    def _in_fragments(
        self,
        packet: InverterPacket,
        items: list[Any],
        size: int,
        encode: Callable[[list[Any], int], bytes],
    ) -> list[InverterPacket]:
        """The reply to `packet` with `items` in fragments of `size`, counted down to 0."""
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        replies = []
        index = 0
        for number, chunk in enumerate(chunks):
            body = encode(chunk, index)
            index += len(chunk)
            replies.append(
                builders.reply_to(packet, self.address, body, fragment=len(chunks) - 1 - number)
            )
        return replies

    def _log_reply(self, packet: InverterPacket, start: int, end: int) -> list[InverterPacket]:
        """The yield log from `start` to `end`: every 5 minutes (two weeks back), or once a day
        at local midnight (more than a year back), in fragments of at most
        LOG_RECORDS_PER_PACKET records."""
        if self.faults.log == "silent":
            return []
        if self.faults.log == "error":
            return [builders.reply_to(packet, self.address, packet.body[:8], error=LOG_ERROR)]
        items: list[tuple[int, int | None]] = (
            list(self.yield_log.daily(start, end))
            if packet.command == codec.CMD_YIELD_DAILY
            else list(self.yield_log.records(start, end))
        )
        if not items:
            return [
                builders.reply_to(
                    packet, self.address, packet.body[:8], error=codec.ReplyCode.NOT_AVAILABLE
                )
            ]
        return self._in_fragments(
            packet, items, LOG_RECORDS_PER_PACKET, builders.encode_yield_records
        )

    def _foreign_meter(self) -> bytes:
        return frame.encode_meter(frame.MeterPacket(Address(349, 1901429669), 12345, b""))


class SmaSimulator:
    """Inverters on UDP sockets of 127.0.0.1 (or of ::1), served by one thread."""

    def __init__(
        self,
        inverters: list[SmaInverter],
        *,
        host: str = "127.0.0.1",
        ports: list[int] | None = None,
    ) -> None:
        self.inverters = inverters
        self.sockets: list[socket.socket] = []
        ipv6 = ":" in host  # ::1: the inverters answer over IPv6
        for index, _ in enumerate(inverters):
            sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host, ports[index] if ports else 0))
            sock.setblocking(False)
            self.sockets.append(sock)
        self.host = host
        shown = f"[{host}]" if ipv6 else host
        self._addresses = [f"{shown}:{sock.getsockname()[1]}" for sock in self.sockets]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sma-simulator", daemon=True)
        self._pending: list[tuple[float, int, int, bytes, tuple[str, int]]] = []
        self._counter = itertools.count()

    @property
    def addresses(self) -> list[str]:
        """`host:port` of each inverter (known from the start, also after stop())."""
        return list(self._addresses)

    def start(self) -> SmaSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()

    def _serve(self) -> None:
        import select

        while not self._stop.is_set():
            timeout = 0.05
            if self._pending:
                timeout = max(0.0, min(timeout, self._pending[0][0] - time.monotonic()))
            readable, _, _ = select.select(self.sockets, [], [], timeout)
            for sock in readable:
                index = self.sockets.index(sock)
                with contextlib.suppress(BlockingIOError, ConnectionError):
                    data, peer = sock.recvfrom(2048)
                    for delay, reply in self.inverters[index].handle(data):
                        heapq.heappush(
                            self._pending,
                            (time.monotonic() + delay, next(self._counter), index, reply, peer),
                        )
            now = time.monotonic()
            while self._pending and self._pending[0][0] <= now:
                _, _, index, reply, peer = heapq.heappop(self._pending)
                with contextlib.suppress(OSError):
                    self.sockets[index].sendto(reply, peer)


# --- the command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=9522,
        help="UDP port of the first inverter; the others take the next ones",
    )
    parser.add_argument("--count", type=int, default=1, help="number of inverters (1)")
    parser.add_argument("--serial", type=int, default=3010538116, help="first serial number")
    parser.add_argument("--password", default="0000", help="user password (0000)")
    parser.add_argument("--installer-password", default="1111", help="installer password")
    parser.add_argument("--strings", type=int, default=2, help="PV strings per inverter (2)")
    parser.add_argument("--battery", action="store_true", help="a battery inverter (SOC, power)")
    parser.add_argument("--meter", action="store_true", help="an energy meter on the inverter")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (60: an hour per minute)",
    )
    parser.add_argument("--night", choices=["nan", "silent"], help="behave as at night")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of replies dropped")
    parser.add_argument("--duplicate", action="store_true", help="send every reply twice")
    parser.add_argument("--stale", action="store_true", help="resend the previous reply first")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--session-lost-after", type=int, help="error 0x0017 after N queries")
    parser.add_argument(
        "--unavailable", default="", help="comma-separated query names answered with error 21"
    )
    parser.add_argument("--fragments", type=int, default=1, help="split replies into N packets")
    parser.add_argument(
        "--busy",
        type=float,
        default=0.0,
        help="seconds per request; requests arriving meanwhile are dropped",
    )


def run_from_arguments(args: argparse.Namespace) -> int:
    inverters = []
    for index in range(args.count):
        inverter = SmaInverter(
            args.serial + index,
            user_password=args.password,
            installer_password=args.installer_password,
            strings=args.strings,
            battery=args.battery,
            meter=args.meter,
            # each inverter its own roof: a smaller peak for every further one
            household=Household(seed=index + 1, speed=args.speed, peak_pv=8000.0 - 1500.0 * index),
            seed=index + 1,
        )
        inverter.faults = SmaFaults(
            drop_rate=args.drop_rate,
            duplicate=args.duplicate,
            stale=args.stale,
            delay=args.delay,
            session_lost_after=args.session_lost_after,
            unavailable={name.strip() for name in args.unavailable.split(",") if name.strip()},
            night=args.night,
            fragments=args.fragments,
            busy=args.busy,
        )
        inverters.append(inverter)
    ports = [args.port + index if args.port else 0 for index in range(args.count)]
    try:
        simulator = SmaSimulator(inverters, host=args.host, ports=ports).start()
    except OSError as exc:
        print(
            f"simulator: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    for inverter, address in zip(inverters, simulator.addresses, strict=True):
        print(
            f"SMA inverter serial {inverter.address.serial} (SUSyID {inverter.address.susy}) "
            f"on udp://{address}, user password {args.password!r}",
            flush=True,
        )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0
