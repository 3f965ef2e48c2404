"""What the simulators share: an HTTP server in a thread, JSON answers, waiting for a signal."""

from __future__ import annotations

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def until_signalled() -> None:
    """Block until SIGTERM or SIGINT (docker stop, Ctrl-C)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


class JsonHandler(BaseHTTPRequestHandler):
    """A simulator's request handler: HTTP/1.1, quiet unless asked, JSON answers."""

    protocol_version = "HTTP/1.1"
    quiet = True

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            sys.stderr.write(f"simulator: {format % args}\n")

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(
        self,
        status: int,
        data: Any,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send(status, json.dumps(data).encode(), content_type, headers)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class HttpSimulator:
    """An HTTP simulator on a socket (a subclass may wrap it in TLS): `start()` returns at once,
    a thread serves."""

    def __init__(
        self,
        handler: type[JsonHandler],
        state: dict[str, Any],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
        name: str = "simulator",
    ) -> None:
        served = type("Handler", (handler,), {**state, "quiet": quiet})
        self.server = ThreadingHTTPServer((host, port), served)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
