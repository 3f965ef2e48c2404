"""`collector discover`: find SMA Speedwire devices and say what they are.

1. The 20-byte discovery request goes to the multicast group 239.12.255.254:9522 (TTL 1, so it
   stays on the LAN) and to every address given; devices answer with their IP address.
2. Each device found gets the identify query (0x00000200), whose answer carries its SUSyID and
   serial number in the source address.
3. With a password (SMA_PASSWORD, default 0000), each device is logged in to and asked for its
   type label and software version; without a working password those stay unknown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from dataclasses import dataclass
from typing import Any

from collector.errors import SourceError
from collector.settings import parse_address
from collector.sources.sma import codec
from collector.sources.sma.client import SpeedwireClient
from collector.sources.sma_common import frame
from collector.sources.sma_common.frame import Address, DiscoveryReply, InverterPacket
from collector.sources.sma_common.registers import (
    DEVICE_CLASSES,
    LRI_DEVICE_CLASS,
    LRI_DEVICE_TYPE,
    LRI_SOFTWARE_VERSION,
    SOFTWARE_VERSION,
    TYPE_LABEL,
)


@dataclass
class Found:
    ip: str
    port: int
    device: Address | None = None
    device_class: str | None = None
    device_type: int | None = None
    version: str | None = None
    note: str | None = None

    def line(self) -> str:
        parts = [f"{self.ip}:{self.port}"]
        if self.device is not None:
            parts.append(f"serial {self.device.serial}")
            parts.append(f"SUSyID {self.device.susy}")
        else:
            parts.append("serial unknown (no answer to the identify query)")
        if self.device_class:
            parts.append(self.device_class)
        if self.device_type is not None:
            parts.append(f"type {self.device_type}")
        if self.version:
            parts.append(f"software {self.version}")
        if self.note:
            parts.append(f"({self.note})")
        return "  ".join(parts)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.ips: dict[tuple[str, int], str] = {}  # UDP source -> the IP the device reports
        self.devices: dict[tuple[str, int], Address] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        source = (str(addr[0]), int(addr[1]))
        try:
            packet = codec.decode(data)
        except frame.SpeedwireError:
            return
        if isinstance(packet, DiscoveryReply):
            self.ips[source] = packet.ip
        elif isinstance(packet, InverterPacket) and packet.command == codec.CMD_IDENTIFY | 1:
            self.devices[source] = packet.source


async def discover(
    addresses: list[tuple[str, int]],
    *,
    multicast: bool = True,
    wait: float = 2.0,
    password: str | None = "0000",
    group: int = codec.GROUP_USER,
) -> list[Found]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.bind(("0.0.0.0", 0))
    transport, listener = await loop.create_datagram_endpoint(_Listener, sock=sock)
    me = Address(codec.CLIENT_SUSY, 912_000_000 + (id(sock) % 1_000_000))

    def identify(target: tuple[str, int], pid: int) -> None:
        request = codec.query(frame.ANY, me, pid, codec.CMD_IDENTIFY, 0, 0)
        transport.sendto(frame.encode_inverter(request), target)

    try:
        if multicast:
            with contextlib.suppress(OSError):  # no route for multicast: unicast still works
                transport.sendto(frame.DISCOVERY_REQUEST, (frame.MULTICAST_GROUP, frame.PORT))
        for pid, target in enumerate(addresses, 1):
            transport.sendto(frame.DISCOVERY_REQUEST, target)
            identify(target, pid)
        await asyncio.sleep(wait)
        missing = [s for s in listener.ips if s not in listener.devices]
        for pid, source in enumerate(missing, 100):
            identify(source, pid)
        if missing:
            await asyncio.sleep(min(wait, 1.0))
    finally:
        transport.close()

    sources = sorted(set(listener.ips) | set(listener.devices))
    found: list[Found] = []
    seen: dict[int, Found] = {}
    for source in sources:
        device = listener.devices.get(source)
        if device is not None and device.serial in seen:  # one device, two addresses
            first = seen[device.serial]
            first.note = f"also answers at {source[0]}:{source[1]}"
            continue
        item = Found(ip=source[0], port=source[1], device=device)
        if device is not None:
            seen[device.serial] = item
        found.append(item)
    if password is not None:
        for item in found:
            if item.device is not None:
                await _describe(item, password, group)
    return found


async def _describe(item: Found, password: str, group: int) -> None:
    client = SpeedwireClient(timeout=1.0, retries=1)
    await client.open()
    target = (item.ip, item.port)
    try:
        device = await client.login(target, password, group)
        for query in (TYPE_LABEL, SOFTWARE_VERSION):
            for record in await client.query(target, device, query):
                if record.lri == LRI_DEVICE_CLASS and (code := record.status()) is not None:
                    item.device_class = DEVICE_CLASSES.get(code, f"class {code}")
                elif record.lri == LRI_DEVICE_TYPE:
                    item.device_type = record.status()
                elif record.lri == LRI_SOFTWARE_VERSION:
                    item.version = record.version()
        client.logoff(target)
    except SourceError as exc:
        unknown = f"type and version unknown: {exc}"
        item.note = f"{item.note}; {unknown}" if item.note else unknown
    finally:
        client.close()


# --- the command line ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "addresses",
        nargs="*",
        metavar="ADDRESS[:PORT]",
        help="ask these addresses directly (unicast) too",
    )
    parser.add_argument(
        "--no-multicast",
        action="store_true",
        help="only the given addresses (no multicast to 239.12.255.254)",
    )
    parser.add_argument("--wait", type=float, default=2.0, help="seconds to wait for answers (2)")
    parser.add_argument(
        "--web-port",
        type=int,
        default=443,
        help="HTTPS port to ask for WebConnect and ennexOS at the given addresses (443)",
    )
    parser.add_argument(
        "--meter-port",
        type=int,
        default=frame.PORT,
        help="UDP port to hear Energy Meters on meanwhile (9522)",
    )


async def listen_for_meters(
    port: int, group: str, wait: float
) -> tuple[dict[int, Any], str | None]:
    """The Energy Meters and Home Managers heard within `wait` seconds (serial -> its first
    datagram), and why none could be listened for, if so."""
    from collector.logging import get_logger
    from collector.sources.sma_common.meter_socket import meter_socket
    from collector.sources.sma_em.codec import Dropped, decode_datagram

    heard: dict[int, Any] = {}

    class Meters(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            with contextlib.suppress(Dropped):
                datagram = decode_datagram(data)
                heard.setdefault(datagram.serial, datagram)

    try:
        sock = meter_socket(port, group, "", get_logger(source="discover"))
    except OSError as exc:
        return heard, f"cannot listen for meters on UDP port {port}: {exc.strerror or exc}"
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Meters, sock=sock)
    try:
        await asyncio.sleep(wait)
    finally:
        transport.close()
    return heard, None


@dataclass
class Protocols:
    """Which of the three SMA protocols answer at one given address."""

    host: str
    speedwire: Found | None
    webconnect: str | None  # the URL it answers at
    ennexos: tuple[str, int] | None  # URL and product tag

    def line(self) -> str:
        speedwire = "no answer"
        if self.speedwire is not None:
            serial = self.speedwire.device.serial if self.speedwire.device else "?"
            speedwire = f"answers (serial {serial})"
        webconnect = f"answers at {self.webconnect}" if self.webconnect else "no answer"
        ennexos = "no answer"
        if self.ennexos is not None:
            ennexos = f"answers at {self.ennexos[0]} (product tag {self.ennexos[1]})"
        kinds = self.kinds()
        advice = "configure " + " or ".join(kinds) if kinds else "no SMA protocol answers here"
        return (
            f"{self.host}  Speedwire: {speedwire}  WebConnect: {webconnect}  "
            f"ennexOS: {ennexos}  -> {advice}"
        )

    def kinds(self) -> list[str]:
        kinds = []
        if self.speedwire is not None:
            port = self.speedwire.port
            address = self.host if port == frame.PORT else f"{self.host}:{port}"
            kinds.append(f"kind sma (SMA_HOST={address})")
        if self.webconnect is not None:
            kinds.append(f"kind sma-webconnect (SMA_WEBCONNECT_URL={self.webconnect})")
        if self.ennexos is not None:
            kinds.append(f"kind sma-ennexos (SMA_ENNEXOS_URL={self.ennexos[0]})")
        return kinds


async def web_protocols(
    targets: list[tuple[str, int]], found: list[Found], web_port: int, wait: float
) -> list[Protocols]:
    """For each given address: Speedwire (from what discovery found), WebConnect and ennexOS
    (one HTTPS request each, no login)."""
    from collector.sources.sma_ennexos.client import probe as ennexos_probe
    from collector.sources.sma_webconnect.client import probe as webconnect_probe

    async def one(host: str, port: int) -> Protocols:
        name = f"[{host}]" if ":" in host else host
        url = f"https://{name}" if web_port == 443 else f"https://{name}:{web_port}"
        webconnect, tag = await asyncio.gather(
            webconnect_probe(url, wait), ennexos_probe(url, wait)
        )
        speedwire = next((item for item in found if item.ip == host and item.port == port), None)
        if speedwire is None:  # found under the address it reports, or another port
            speedwire = next((item for item in found if item.ip == host), None)
        return Protocols(
            host, speedwire, url if webconnect else None, (url, tag) if tag is not None else None
        )

    return list(await asyncio.gather(*(one(host, port) for host, port in targets)))


def run_from_arguments(args: argparse.Namespace) -> int:
    """Print what answers; exit 1 if nothing did. Uses SMA_PASSWORD for type and version."""
    from collector.config import env_values
    from collector.sources.sma.settings import SmaSettings

    try:
        targets = [parse_address(item, frame.PORT) for item in args.addresses]
    except ValueError as exc:
        print(f"discover: {exc} (give addresses as ADDRESS or ADDRESS:PORT)", file=sys.stderr)
        return 2
    ipv6 = [host for host, _ in targets if ":" in host]
    if ipv6:  # discovery is IPv4 multicast; the collector itself reads IPv6 addresses
        print(
            f"discover: asks over IPv4 only, give an IPv4 address instead of {ipv6[0]} "
            "(SMA_HOST may be an IPv6 address)",
            file=sys.stderr,
        )
        return 2
    raw, problems = env_values(SmaSettings, "SMA_")
    for problem in problems:
        print(f"discover: {problem}", file=sys.stderr)
    password = str(raw.get("password") or "0000")
    group = codec.GROUP_INSTALLER if raw.get("user_group") == "installer" else codec.GROUP_USER
    multicast = not args.no_multicast

    async def both() -> tuple[list[Found], tuple[dict[int, Any], str | None], list[Protocols]]:
        meter_group = frame.MULTICAST_GROUP if multicast else "none"
        wait, meter_port = float(args.wait), int(args.meter_port)
        devices, heard = await asyncio.gather(
            discover(targets, multicast=multicast, wait=wait, password=password, group=group),
            listen_for_meters(meter_port, meter_group, wait),
        )
        protocols = await web_protocols(targets, devices, int(args.web_port), wait)
        return devices, heard, protocols

    found, (meters, meter_problem), protocols = asyncio.run(both())
    if meter_problem:
        print(f"discover: {meter_problem}", file=sys.stderr)
    for serial, datagram in sorted(meters.items()):
        from collector.sources.sma_em.codec import model_of

        model = model_of(datagram.susy) or f"meter (SUSyID {datagram.susy})"
        print(
            f"energy meter  serial {serial}  SUSyID {datagram.susy}  {model}  "
            f"software {datagram.version or 'unknown'}  (set SMA_EM_SERIAL)"
        )
    web = [address for address in protocols if address.webconnect or address.ennexos]
    for item in found:
        print(item.line())
    for address in protocols:
        print(address.line())
    if not found and not meters and not web:
        where = "on the LAN" if multicast else "at the given addresses"
        print(
            f"no SMA device answered {where} within {args.wait:g} s (Speedwire"
            + (f"; WebConnect and ennexOS on port {args.web_port}" if targets else "")
            + ")",
            file=sys.stderr,
        )
        return 1
    if found:
        print(
            f"{len(found)} Speedwire device{'s' if len(found) != 1 else ''}; set SMA_HOST to the "
            "inverters' addresses (comma-separated)",
            file=sys.stderr,
        )
    return 0
