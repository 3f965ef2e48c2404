"""TLS towards devices on the LAN, which mostly have self-signed certificates."""

from __future__ import annotations

import ssl
from pathlib import Path


def device_tls(ca_file: Path | None) -> ssl.SSLContext | bool:
    """What httpx's `verify` gets for a device: without a CA file the connection is encrypted
    but the certificate is not checked (a self-signed one cannot be); with one, the chain is
    checked against it. Not the name: devices issue their certificates to a fixed name
    ("senecGuiSelf") or to an address they no longer have."""
    if ca_file is None:
        return False
    context = ssl.create_default_context(cafile=str(ca_file))
    context.check_hostname = False
    return context
