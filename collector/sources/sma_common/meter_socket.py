"""The socket that hears SMA Energy Meters and Home Managers: UDP 9522, the multicast group.

Used by the `sma-em` kind's source and by `collector discover`, which lists the meters heard.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any


def meter_socket(port: int, group: str, interface: str, log: Any) -> socket.socket:
    """A UDP socket on the port that meters send to, shared with other listeners on this host
    (SO_REUSEADDR, SO_REUSEPORT), in the multicast group unless `group` is "none"; a group that
    cannot be joined is one warning, and unicast still arrives."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        _prepare(sock, port, group, interface, log)
    except BaseException:
        sock.close()  # a port taken, no permission: the socket is not left open
        raise
    return sock


def _prepare(sock: socket.socket, port: int, group: str, interface: str, log: Any) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):  # other listeners on this host keep working
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("", port))
    if group != "none":
        interface = interface or "0.0.0.0"
        membership = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        except OSError as exc:  # no multicast route, interface not up: unicast still works
            log.warning(
                "multicast group not joined",
                group=group,
                interface=interface,
                error=exc.strerror or str(exc),
                note="only datagrams sent to this machine's address arrive; set "
                "SMA_EM_INTERFACE to the address of the network the meter is in",
            )
    sock.setblocking(False)
