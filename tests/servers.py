"""Real database servers for the tests, started on 127.0.0.1 with data in a temporary directory.

InfluxDB 1.x (Debian package `influxdb`) and VictoriaMetrics (Debian `victoria-metrics`). A
missing binary is an error that says what to install, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx


def free_port(udp: bool = False) -> int:
    """A port on 127.0.0.1 that nothing listens on right now (TCP, or UDP)."""
    with socket.socket(type=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"{name} not found: the integration tests need it (apt-get install -y {package}; "
            f"scripts/test does this when run as root)"
        )
    return path


class Server:
    name = "server"
    health_path = "/ping"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / f"{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        """It answers (its health path, for an HTTP server)."""
        try:
            return httpx.get(self.url + self.health_path, timeout=1).status_code < 300
        except httpx.HTTPError:
            return False

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            if self.ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class InfluxDB1(Server):
    name = "influxdb1"

    def __init__(self, directory: Path, *, auth: bool = False) -> None:
        super().__init__(directory)
        self.rpc_port = free_port()
        self.auth = auth

    def command(self) -> list[str]:
        config = self.directory / "influxdb.conf"
        config.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.directory}/meta"
  logging-enabled = false
[data]
  dir = "{self.directory}/data"
  wal-dir = "{self.directory}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = {str(self.auth).lower()}
  log-enabled = false
  pprof-enabled = false
[continuous_queries]
  enabled = false
""")
        return [binary("influxd", "influxdb"), "-config", str(config)]

    def query(
        self, q: str, database: str | None = None, auth: tuple[str, str] | None = None
    ) -> Any:
        params = {"q": q, "epoch": "s"}
        if database:
            params["db"] = database
        response = httpx.post(self.url + "/query", params=params, timeout=10, auth=auth)
        response.raise_for_status()
        return response.json()

    def create_database(self, name: str) -> None:
        result = self.query(f'CREATE DATABASE "{name}"')
        assert "error" not in result["results"][0], result

    def points(self, database: str, measurement: str) -> list[dict[str, Any]]:
        result = self.query(f'SELECT * FROM "{measurement}"', database)["results"][0]
        if "series" not in result:
            return []
        series = result["series"][0]
        return [dict(zip(series["columns"], row, strict=True)) for row in series["values"]]

    def field_types(self, database: str, measurement: str) -> dict[str, str]:
        result = self.query(f'SHOW FIELD KEYS FROM "{measurement}"', database)["results"][0]
        if "series" not in result:
            return {}
        return {name: kind for name, kind in result["series"][0]["values"]}


class VictoriaMetrics(Server):
    name = "victoria-metrics"
    health_path = "/health"

    def command(self) -> list[str]:
        return [
            binary("victoria-metrics", "victoria-metrics"),
            f"-storageDataPath={self.directory}/data",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=ERROR",
        ]

    def write_requests(self) -> int:
        """How many InfluxDB line-protocol write requests it has taken (its own /metrics)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith('vm_http_requests_total{path="/influx/write"'):
                return int(line.rsplit(" ", 1)[1])
        raise AssertionError("VictoriaMetrics' /metrics has no count of /influx/write requests")

    def series(self, measurement: str) -> dict[str, dict[int, float]]:
        """field -> {unix second: value} for every `<measurement>_<field>` series."""
        result: dict[str, dict[int, float]] = {}
        for field, samples in self.samples(measurement).items():
            result[field] = dict(samples)
        return result

    def samples(self, measurement: str) -> dict[str, list[tuple[int, float]]]:
        """field -> every raw (unix second, value) sample, duplicates included."""
        httpx.get(self.url + "/internal/force_flush", timeout=10)
        response = httpx.get(
            self.url + "/api/v1/export",
            # every sample, also those stamped ahead of this machine's clock (a daemon whose
            # clock was stepped forward): the export ends at "now" unless told otherwise
            params={
                "match[]": f'{{__name__=~"{measurement}_.*"}}',
                "start": "0",
                "end": str(int(time.time()) + 2 * 86400),
            },
            timeout=10,
        )
        response.raise_for_status()
        result: dict[str, list[tuple[int, float]]] = {}
        for line in response.text.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            field = item["metric"]["__name__"][len(measurement) + 1 :]
            result.setdefault(field, []).extend(
                (stamp // 1000, value)
                for value, stamp in zip(item["values"], item["timestamps"], strict=True)
            )
        return result


class Mosquitto(Server):
    """Debian's mosquitto broker on 127.0.0.1: anonymous, or with a password file (`users`), or
    over TLS (`tls`: a trustme CA's certificate for 127.0.0.1 and localhost). No persistence:
    a restarted broker has lost its retained messages, as one whose disk was wiped would."""

    name = "mosquitto"

    def __init__(
        self,
        directory: Path,
        *,
        users: dict[str, str] | None = None,
        tls: Any = None,  # a trustme.CA
    ) -> None:
        super().__init__(directory)
        self.users = users
        self.tls = tls
        self.ca_path = directory / "mqtt-ca.pem"

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls is not None else 'mqtt'}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stdout"]
        if os.getuid() == 0:  # started as root it would become `mosquitto`, who cannot read here
            lines.append("user root")
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            passwords = self.directory / "passwords"
            passwords.write_text("")
            tool = binary("mosquitto_passwd", "mosquitto")
            for user, password in self.users.items():
                subprocess.run([tool, "-b", str(passwords), user, password], check=True)
            passwords.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        if self.tls is not None:
            cert = self.tls.issue_cert("127.0.0.1", "localhost")
            key_path = self.directory / "mqtt-key.pem"
            chain_path = self.directory / "mqtt-chain.pem"
            cert.private_key_pem.write_to_path(str(key_path))
            cert.cert_chain_pems[0].write_to_path(str(chain_path))
            self.tls.cert_pem.write_to_path(str(self.ca_path))
            lines += [f"certfile {chain_path}", f"keyfile {key_path}", f"cafile {self.ca_path}"]
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return [binary("mosquitto", "mosquitto"), "-c", str(config)]

    def ready(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0
