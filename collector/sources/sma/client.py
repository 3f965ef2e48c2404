"""An asyncio Speedwire client: one UDP socket, requests matched to replies, retries.

- Our identity: SUSyID 125 and a random serial, fixed for the process (SMA devices bind a login
  to it).
- Every request gets a fresh 15-bit packet id (sent with bit 15 set). A reply is accepted only if
  it comes from the address we sent to, from the device we asked (or any device while logging
  in), with our packet id and the request's command | 1. Anything else (a late reply to an
  earlier attempt, a duplicate, an Energy Meter datagram, another device) is dropped and counted.
- A reply may come in fragments (the counter at offset 38 counts down to 0); they are collected.
- Each attempt waits `timeout` seconds; `retries` more attempts follow, each with a new id.
- Errors: 0x0100 is `WrongPassword` (never retried here), 0x0017 `SessionLost` (the caller
  logs in again once), 0x0015 means the value is not on this model (an empty answer).
- IPv4 and IPv6: one socket per address family, the IPv6 one opened when a target first needs
  it. A host name is looked up for both; its IPv4 address is taken where it has one (devices
  speak Speedwire over IPv4 as a rule).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from collector.errors import AuthError, DeviceUnreachable, ProtocolError
from collector.sources.sma import codec
from collector.sources.sma_common import frame
from collector.sources.sma_common.frame import Address, InverterPacket
from collector.sources.sma_common.records import Record
from collector.sources.sma_common.registers import Query

Target = tuple[str, int]  # (host, UDP port): an IP address or a name
RESOLVE_FOR = 300.0  # seconds a host name's address is used before it is looked up again
Builder = Callable[[int], InverterPacket]  # packet id -> request
T = TypeVar("T")


class WrongPassword(AuthError):
    """The device refused the password (error 0x0100): never retried automatically."""

    permanent = True


class SessionLost(ProtocolError):
    """The device no longer knows our login (error 0x0017): log in again."""


@dataclass
class DatagramCounts:
    """What went over the socket: datagrams sent and taken, and the ones thrown away."""

    sent: int = 0
    received: int = 0
    dropped: int = 0  # late, duplicate, foreign or malformed datagrams
    retries: int = 0


@dataclass
class _Pending:
    target: Target
    device: Address | None  # None while logging in to "any device"
    command: int
    done: asyncio.Future[list[InverterPacket]]
    fragments: dict[int, InverterPacket] = field(default_factory=dict)


class _Socket(asyncio.DatagramProtocol):
    """One address family's socket: what arrives goes to the client."""

    def __init__(self, client: SpeedwireClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.client.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        self.client.stats.dropped += 1


class SpeedwireClient:
    def __init__(self, *, timeout: float = 1.0, retries: int = 2) -> None:
        self.timeout = timeout
        self.retries = retries
        self.me = Address(codec.CLIENT_SUSY, random.randint(900_000_000, 999_999_999))
        self.stats = DatagramCounts()
        self._next_id = random.randint(1, 0x7FFF)
        self._pending: dict[int, _Pending] = {}
        self._transports: dict[int, asyncio.DatagramTransport] = {}  # address family -> socket
        self._open = False
        self._addresses: dict[Target, tuple[Target, float]] = {}  # name -> address, until

    # --- socket --------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the IPv4 socket (an IPv6 one follows when a target needs it)."""
        self._open = True
        await self._socket(socket.AF_INET)

    async def _socket(self, family: int) -> asyncio.DatagramTransport:
        transport = self._transports.get(family)
        if transport is None:
            loop = asyncio.get_running_loop()
            anywhere = "::" if family == socket.AF_INET6 else "0.0.0.0"
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Socket(self), local_addr=(anywhere, 0), family=family
            )
            self._transports[family] = transport
        return transport

    def close(self) -> None:
        self._open = False
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.cancel()
        self._pending.clear()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.stats.received += 1
        try:
            packet = codec.decode(data)
        except frame.SpeedwireError:
            self.stats.dropped += 1
            return
        if not isinstance(packet, InverterPacket) or packet.destination != self.me:
            self.stats.dropped += 1
            return
        pending = self._pending.get(packet.pid)
        source = (str(addr[0]), int(addr[1]))
        if (
            pending is None
            or pending.done.done()
            or source != pending.target
            or (pending.device is not None and packet.source != pending.device)
            or packet.command != pending.command | 0x01
        ):
            self.stats.dropped += 1  # late, duplicate, or not ours
            return
        if packet.fragment in pending.fragments:
            self.stats.dropped += 1
            return
        pending.fragments[packet.fragment] = packet
        # Complete when the last fragment (counter 0) and every one before it are here.
        highest = max(pending.fragments)
        if 0 in pending.fragments and len(pending.fragments) == highest + 1:
            ordered = [pending.fragments[n] for n in sorted(pending.fragments, reverse=True)]
            pending.done.set_result(ordered)

    # --- requests --------------------------------------------------------------------------

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 0x7FFF + 1
        while self._next_id in self._pending:
            self._next_id = self._next_id % 0x7FFF + 1
        return self._next_id

    async def exchange(
        self, target: Target, device: Address | None, build: Builder
    ) -> list[InverterPacket]:
        """Send the request `build(packet_id)` makes and wait for its whole reply (retried)."""
        answer = (await self._exchange_all(target, device, [build]))[0]
        if isinstance(answer, DeviceUnreachable):
            raise answer
        return answer

    async def _resolved(self, target: Target) -> Target:
        """The target with its host name resolved: replies come from an address, and are
        matched against it. Looked up again after RESOLVE_FOR seconds (a DHCP lease may move
        the device)."""
        host, port = target
        if _ip_version(host) is not None:
            return target
        cached = self._addresses.get(target)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise DeviceUnreachable(f"cannot resolve {host}: {exc.strerror or exc}") from None
        found.sort(key=lambda entry: entry[0] != socket.AF_INET)  # IPv4 first
        address = (str(found[0][4][0]), int(found[0][4][1]))
        self._addresses[target] = (address, time.monotonic() + RESOLVE_FOR)
        return address

    async def login(self, target: Target, password: str, group: int) -> Address:
        """Log in; returns the device's address (SUSyID and serial) from its reply."""
        now = int(time.time())
        replies = await self.exchange(
            target,
            None,
            lambda pid: codec.login(frame.ANY, self.me, pid, password, group, now),
        )
        reply = replies[0]
        if reply.error == codec.ReplyCode.WRONG_PASSWORD:
            who = "installer" if group == codec.GROUP_INSTALLER else "user"
            raise WrongPassword(
                f"{target[0]} refused the {who} password (error 0x0100): check SMA_PASSWORD and "
                f"SMA_USER_GROUP; not retrying, as SMA devices may lock after wrong passwords"
            )
        if reply.error != codec.ReplyCode.OK:
            raise ProtocolError(f"{target[0]} answered the login with error 0x{reply.error:04x}")
        return reply.source

    def logoff(self, target: Target) -> None:
        """Log off (the device sends no answer)."""
        address = self._addresses.get(target, (target, 0.0))[0]  # a name as last resolved
        transport = self._transports.get(_family(address[0]))
        if transport is not None:
            transport.sendto(
                frame.encode_inverter(codec.logoff(self.me, self._packet_id())), address
            )
            self.stats.sent += 1

    async def query(self, target: Target, device: Address, query: Query) -> list[Record]:
        """The records of one query; [] when the device does not have these values (error 21)."""
        replies = await self.exchange(target, device, self._builder(device, query))
        return self._records(target, query, replies)

    async def yield_log(
        self, target: Target, device: Address, command: int, start: int, end: int
    ) -> list[codec.YieldRecord]:
        """A yield log's records from `start` to `end` (Unix seconds, both included); [] when
        the device keeps no such log (error 21)."""
        replies = await self.exchange(
            target,
            device,
            lambda pid: codec.archive_query(device, self.me, pid, command, start, end),
        )
        if not _answered(target, replies, f"the log query 0x{command:08x}"):
            return []
        return _decoded(target, replies, codec.yield_records)

    def _builder(self, device: Address, query: Query) -> Builder:
        return lambda pid: codec.query(device, self.me, pid, query.command, query.first, query.last)

    @staticmethod
    def _records(target: Target, query: Query, replies: list[InverterPacket]) -> list[Record]:
        if not _answered(target, replies, f"query {query.name}"):
            return []
        return _decoded(target, replies, codec.records)

    async def query_all(
        self, target: Target, device: Address, queries: list[Query], *, pipelined: bool = True
    ) -> dict[str, list[Record] | Exception]:
        """Several queries: all sent at once (pipelined) or one after another."""
        results: dict[str, list[Record] | Exception] = {}
        if pipelined:
            answers = await self._exchange_all(
                target, device, [self._builder(device, query) for query in queries]
            )
            for query, answer in zip(queries, answers, strict=True):
                try:
                    results[query.name] = (
                        answer
                        if isinstance(answer, Exception)
                        else self._records(target, query, answer)
                    )
                except ProtocolError as exc:
                    results[query.name] = exc
            return results
        for query in queries:
            try:
                results[query.name] = await self.query(target, device, query)
            except (DeviceUnreachable, ProtocolError) as exc:
                results[query.name] = exc
        return results

    async def _exchange_all(
        self, target: Target, device: Address | None, builds: list[Builder]
    ) -> list[list[InverterPacket] | DeviceUnreachable]:
        """Several requests at once: all sent, then the unanswered ones again, each up to
        `retries` more times with a new packet id; one wait per attempt, no task per request."""
        if not self._open:
            raise RuntimeError("the client is not open")
        loop = asyncio.get_running_loop()
        address = await self._resolved(target)
        transport = await self._socket(_family(address[0]))
        answers: list[list[InverterPacket] | DeviceUnreachable | None] = [None] * len(builds)
        todo = list(range(len(builds)))
        for attempt in range(self.retries + 1):
            waiting: list[tuple[int, int, _Pending]] = []
            for index in todo:
                pid = self._packet_id()
                request = builds[index](pid)
                pending = _Pending(address, device, request.command, done=loop.create_future())
                self._pending[pid] = pending
                waiting.append((index, pid, pending))
                transport.sendto(frame.encode_inverter(request), address)
                self.stats.sent += 1
                if attempt:
                    self.stats.retries += 1
            try:
                futures = [pending.done for _, _, pending in waiting]
                await asyncio.wait(futures, timeout=self.timeout)
            finally:
                for _, pid, pending in waiting:
                    self._pending.pop(pid, None)
                    if not pending.done.done():
                        pending.done.cancel()
            if not self._open:  # closed meanwhile: the requests are abandoned
                raise asyncio.CancelledError
            todo = []
            for index, _, pending in waiting:
                if pending.done.cancelled():
                    todo.append(index)
                else:
                    answers[index] = pending.done.result()
            if not todo:
                break
        unanswered = DeviceUnreachable(
            f"no answer from {target[0]}:{target[1]} within {self.timeout:g} s "
            f"({self.retries + 1} attempts)"
        )
        return [unanswered if answer is None else answer for answer in answers]


def _answered(target: Target, replies: list[InverterPacket], what: str) -> bool:
    """Whether the device answered with values: False when it has none of them (error 21);
    SessionLost when the session is gone (0x0017), ProtocolError for any other error."""
    error = replies[0].error
    if error == codec.ReplyCode.NOT_AUTHENTICATED:
        raise SessionLost(f"{target[0]}: the session is gone (error 0x0017)")
    if error == codec.ReplyCode.NOT_AVAILABLE:
        return False
    if error != codec.ReplyCode.OK:
        raise ProtocolError(f"{target[0]} answered {what} with error 0x{error:04x}")
    return True


def _decoded(
    target: Target, replies: list[InverterPacket], decode: Callable[[InverterPacket], list[T]]
) -> list[T]:
    """The items of every fragment of a reply; ProtocolError when one cannot be read."""
    items: list[T] = []
    try:
        for reply in replies:
            items.extend(decode(reply))
    except frame.SpeedwireError as exc:
        raise ProtocolError(f"{target[0]}: {exc}") from None
    return items


@functools.lru_cache(maxsize=256)
def _ip_version(host: str) -> int | None:
    """4 or 6 for an IP address (with or without a zone), None for a name (asked at every
    exchange, so remembered)."""
    try:
        return ipaddress.ip_address(host.split("%")[0]).version
    except ValueError:
        return None


def _family(host: str) -> int:
    """The address family of an IP address (a name counts as IPv4: it is resolved first)."""
    return socket.AF_INET6 if _ip_version(host) == 6 else socket.AF_INET
