"""collector.http: one total deadline per request, httpx's errors as SourceErrors, Retry-After.

Real sockets on 127.0.0.1: a server that trickles its answer (each byte well within httpx's
per-read timeout, the whole far beyond it), one that breaks off, one that is not there.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from collector import http
from collector.errors import DeviceUnreachable, ProtocolError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def synchronous(case: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """A test written as a coroutine, run in its own event loop."""

    @functools.wraps(case)
    def run() -> None:
        asyncio.run(case())

    return run


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


def trickle(gap: float, answered: asyncio.Event) -> Handler:
    """Answers 200 with a body sent a byte every `gap` seconds, forever (until cut off)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        answered.set()
        try:
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(gap)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return handle


@synchronous
async def test_a_trickling_answer_ends_at_the_deadline() -> None:
    answered = asyncio.Event()
    # httpx's own timeout (per read) would never fire: each byte comes within 0.05 s
    async with (
        serving(trickle(0.05, answered)) as url,
        http.new_client(1.0, base_url=url) as client,
    ):
        began = time.monotonic()
        with pytest.raises(DeviceUnreachable) as caught:
            await http.send(client, "GET", "/", deadline=0.5, what="test device")
        took = time.monotonic() - began
    assert answered.is_set()
    assert "test device: no answer from" in str(caught.value)
    assert "within 0.5 s" in str(caught.value)
    assert took < 5.0  # far from never; the bound is generous for a slow machine


@synchronous
async def test_an_answer_broken_off_is_a_protocol_error() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"a":')
        await writer.drain()
        writer.close()

    async with serving(handle) as url, http.new_client(2.0, base_url=url) as client:
        with pytest.raises(ProtocolError) as caught:
            await http.send(client, "GET", "/values", deadline=2.0)
    assert f"{url}/values broke off its answer" in str(caught.value)


@synchronous
async def test_nobody_listening_is_unreachable_with_the_kinds_words() -> None:
    async with serving(trickle(1.0, asyncio.Event())) as url:
        pass  # closed: nothing listens on that port now
    async with http.new_client(2.0, base_url=url) as client:
        with pytest.raises(DeviceUnreachable) as plain:
            await http.send(client, "GET", "/x", deadline=2.0)
        with pytest.raises(DeviceUnreachable) as worded:
            await http.send(
                client, "GET", "/x", deadline=2.0, explain=lambda where, exc: f"{where} sleeps"
            )
    assert str(plain.value).startswith(f"cannot connect to {url}/x: ")
    assert str(worded.value) == f"{url}/x sleeps"


@synchronous
async def test_the_client_says_who_it_is_and_follows_no_redirect() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with serving(handle) as url, http.new_client(2.0, base_url=url) as client:
        response = await http.send(client, "GET", "/", deadline=2.0)
    assert response.status_code == 302
    assert len(seen) == 1
    assert f"user-agent: {http.USER_AGENT}".encode() in seen[0].lower()


@synchronous
async def test_json_of_says_what_came_instead() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<html>oh!")
        await writer.drain()
        writer.close()

    async with serving(handle) as url, http.new_client(2.0, base_url=url) as client:
        response = await http.send(client, "GET", "/", deadline=2.0)
    with pytest.raises(ProtocolError, match=r"the device answered no JSON \(9 bytes\)"):
        http.json_of(response, "the device")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-3", None),
        ("nan", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not an HTTP date
    ],
)
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    assert http.retry_after(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC).timestamp()
    later = format_datetime(datetime(2026, 12, 7, 12, 2, 30, tzinfo=UTC), usegmt=True)
    earlier = format_datetime(datetime(2026, 12, 7, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert http.retry_after(later, now=lambda: now) == 150.0
    assert http.retry_after(earlier, now=lambda: now) == 0.0


def test_device_tls_checks_the_chain_not_the_name(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    context = http.device_tls(tmp_path / "ca.pem")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is False
    assert http.device_tls(None) is False
    assert http.tls_note("http://x", None, "X_CA_FILE") == ""
    assert http.tls_note("https://x", None, "X_CA_FILE") == (
        ", certificate not verified (self-signed)"
    )
