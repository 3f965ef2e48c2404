"""What the simulators share: an HTTP server in a thread, JSON answers, waiting for a signal."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self


def until_signalled() -> None:
    """Block until SIGTERM or SIGINT (docker stop, Ctrl-C)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()


def tls_missing(name: str) -> bool:
    """True, with one line on stderr, when trustme (which makes the certificates) is not
    installed, as in the collector's image."""
    if importlib.util.find_spec("trustme") is not None:
        return False
    print(
        f"simulator: HTTPS needs a certificate, made with trustme, which the collector's image "
        f"leaves out: install the simulators' extra (pip install 'energy-collector[demo]'), "
        f"or serve plain HTTP with --http{name}",
        file=sys.stderr,
    )
    return True


class OddAnswers:
    """Answers put in place of a simulator's own, for tests of what a collector makes of an odd
    answer: the next request whose path starts with a prefix gets the body given (HTTP 200),
    once per body, in the order they were added. Any HTTP simulator has them (`odd`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, bytes]] = []

    def add(self, prefix: str, body: bytes, count: int = 1) -> None:
        with self._lock:
            self._waiting.extend([(prefix, body)] * count)

    def take(self, path: str) -> bytes | None:
        with self._lock:
            for index, (prefix, body) in enumerate(self._waiting):
                if path.startswith(prefix):
                    del self._waiting[index]
                    return body
        return None

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)


class JsonHandler(BaseHTTPRequestHandler):
    """A simulator's request handler: HTTP/1.1, quiet unless asked, JSON answers."""

    protocol_version = "HTTP/1.1"
    quiet = True
    odd: OddAnswers | None = None  # the server's (set per server by HttpSimulator)

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold the body back some 40 ms on every answer
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
        instead = self.odd.take(self.path) if self.odd is not None else None
        if instead is not None:
            status, body, content_type = 200, instead, "application/json"
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

    def abort(self) -> None:
        """End this connection with a TCP reset once the handler is done (SO_LINGER 0 and no
        orderly shutdown): the peer's next read fails with "connection reset"."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server = self.server
        if isinstance(server, RestartableServer):
            server.aborted.add(self.connection)


class RestartableServer(ThreadingHTTPServer):
    """Keeps its open connections, so that stopping ends them as a device that restarts does
    (a client's kept-alive connection would else go on being served)."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()
        self.aborted: set[socket.socket] = set()  # closed without shutdown: a reset (abort())
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self.connections.discard(request)
            aborted = request in self.aborted
            self.aborted.discard(request)
        if aborted:
            self.close_request(request)  # no FIN first: SO_LINGER 0 makes the close a reset
            return
        super().shutdown_request(request)

    def end_connections(self) -> None:
        with self._connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class HttpSimulator:
    """An HTTP simulator on a socket (a subclass may wrap it in TLS): `start()` returns at once,
    a thread serves. `stop()` ends the open connections too, as a device that restarts."""

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
        self.odd = OddAnswers()
        served = type("Handler", (handler,), {**state, "quiet": quiet, "odd": self.odd})
        self.server = RestartableServer((host, port), served)
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)
        self.tls = False
        self.ca_pem: bytes | None = None  # with TLS: the CA certificate, for clients that verify

    def use_tls(self, organization: str, *names: str) -> None:
        """Serve HTTPS with a certificate for 127.0.0.1, localhost, ::1 and `names`, issued by
        a CA made now (as a device's self-signed one); its certificate goes to `ca_pem`."""
        import trustme

        ca = trustme.CA(organization_name=organization)
        certificate = ca.issue_cert("127.0.0.1", "localhost", "::1", *names)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certificate.configure_cert(context)
        self.server.socket = context.wrap_socket(
            self.server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.tls = True
        self.ca_pem = bytes(ca.cert_pem.bytes())

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    def write_ca(self, path: Path | None, default_name: str) -> str:
        """With TLS, write the CA certificate to `path` (or `default_name` in the temporary
        directory); the note for the start line that says where."""
        if self.ca_pem is None:
            return ""
        target = path or Path(tempfile.gettempdir()) / default_name
        target.write_bytes(self.ca_pem)
        return f" (CA certificate: {target})"

    @property
    def origin(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.end_connections()
        self.server.server_close()
