"""TLS towards devices on the LAN, which mostly have self-signed certificates."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from collector import __version__


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


def device_client(
    url: str,
    ca_file: Path | None,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An HTTP client for a device's web API at `url` (JSON answers, no redirects)."""
    return httpx.AsyncClient(
        base_url=url,
        verify=device_tls(ca_file),
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": f"energy-collector/{__version__}", "Accept": "application/json"},
        transport=transport,
        follow_redirects=False,
    )


def tls_note(url: str, ca_file: Path | None, variable: str) -> str:
    """How the connection to a device is secured, for the start banner."""
    if not url.startswith("https://"):
        return ""
    if ca_file is not None:
        return f", certificate checked against {variable}"
    return ", certificate not verified (self-signed)"
