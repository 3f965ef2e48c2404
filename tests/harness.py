"""The collector as a subprocess, and helpers to read its JSON log lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from collector.sources import SourceKind
from collector.sources.senec.simulator import SenecSimulator
from tests.servers import InfluxDB1

ROOT = Path(__file__).resolve().parent.parent


def _setting_prefixes() -> tuple[str, ...]:
    """Every prefix of a collector setting: each kind's (found as the daemon finds them, so a
    new kind's cannot be forgotten), every core variable, and COLLECTOR_CONFIG."""
    from collector.config import TABLES, keys_of, variable_of
    from collector.environment import CONFIG_VARIABLE
    from collector.sources import load_kinds

    kinds = load_kinds().values()
    prefixes = {kind.env_prefix for kind in kinds}
    names = {  # the kinds' own (SENEC's INFLUX_MEASUREMENT) and the core's
        *(variable_of(k.settings, k.env_prefix, key) for k in kinds for key in keys_of(k.settings)),
        *(variable_of(t.model, t.prefix, key) for t in TABLES for key in keys_of(t.model)),
    }
    return tuple(sorted(prefixes | names | {CONFIG_VARIABLE}))


# An exported setting must not leak into the tests' collectors.
SETTING_PREFIXES = _setting_prefixes()
INFLUX_TYPES = {int: "integer", float: "float", bool: "boolean", str: "string"}


def clean_environment(**values: str) -> dict[str, str]:
    """The process environment without any collector setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


def run_collector(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`python -m collector [args]` to the end, with only `env`'s settings."""
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        cwd=cwd,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def queue_figures(data_dir: Path) -> dict[str, Any]:
    """`collector queue --json` for this DATA_DIR."""
    result = run_collector(data_dir.parent, {"DATA_DIR": str(data_dir)}, "queue", "--json")
    assert result.returncode == 0, result.stderr
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def senec_settings(simulator: SenecSimulator, ca_file: Path | None = None) -> dict[str, str]:
    settings = {
        "SENEC_HOST": simulator.address,
        "SENEC_SCHEMA": "https" if simulator.tls else "http",
    }
    if ca_file is not None:
        settings["SENEC_CA_FILE"] = str(ca_file)
    return settings


def record_wait(what: str, waited: float, limit: float) -> None:
    """With TEST_WAITS_LOG set, each wait's time and limit go there (how close to flaky?)."""
    path = os.environ.get("TEST_WAITS_LOG")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        entry = {"test": test, "what": what, "waited": round(waited, 3), "limit": limit}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


class Collector:
    """`python -m collector [args]` in a working directory of its own, logging JSON.

    Every one started is stopped after its test, passed or failed (conftest.py)."""

    running: ClassVar[list[Collector]] = []

    def __init__(self, workdir: Path, env: dict[str, str], *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "collector.log"
        # INFLUX_FLUSH_INTERVAL=0: each reading is written at once, so that tests need not
        # wait for the default second (test_batching.py runs the default). BACKFILL_DAYS=0:
        # a first start fills no week from the simulators' logs, so that the points in the
        # database are the logged readings (test_backfill.py turns it on)
        full_env = clean_environment(
            LOG_FORMAT="json",
            DATA_DIR=str(workdir / "data"),
            INFLUX_FLUSH_INTERVAL="0",
            BACKFILL_DAYS="0",
        )
        full_env.update(env)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector", *args],
            cwd=workdir,
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        Collector.running.append(self)

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and "event" in item:
                events.append(item)
        return events

    def named(self, event: str) -> list[dict[str, Any]]:
        return [item for item in self.events() if item["event"] == event]

    def wait_for(
        self, condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
    ) -> None:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if condition():
                record_wait(what, time.monotonic() - started, timeout)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.text()[-4000:]}")

    def wait_events(self, event: str, count: int = 1, timeout: float = 20.0) -> None:
        self.wait_for(lambda: len(self.named(event)) >= count, timeout, f"{count} x {event!r}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (like a power cut, as far as the process knows)."""
        self.process.kill()
        self.process.wait(10)
        self._log.close()

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()
        return code


def logged_stamps(collector: Collector) -> Counter[int]:
    """How many readings were logged as collected, per second of their (device) time."""
    from datetime import datetime

    return Counter(
        int(datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp())
        for event in collector.named("reading")
    )


def reading_seconds(collector: Collector) -> set[int]:
    """The device seconds of the logged readings. At a 1 s interval two polls can fall into the
    same device second; they are the same point (same series and time), so points are counted
    against distinct seconds."""
    return set(logged_stamps(collector))


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def v1_settings(server: InfluxDB1, database: str, measurement: str) -> dict[str, str]:
    return {
        "INFLUX_API": "v1",
        "INFLUX_URL": server.url,
        "INFLUX_BUCKET": database,
        "INFLUX_MEASUREMENT": measurement,
        "SENEC_INTERVAL": "1",
    }


def stop_leftover_collectors() -> None:
    """Kill the daemons a test left running (it failed before stopping them)."""
    while Collector.running:
        collector = Collector.running.pop()
        if collector.process.poll() is None:
            collector.kill()


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def toml_file(sources: list[dict[str, object]], tables: dict[str, dict[str, object]]) -> str:
    lines = []
    for source in sources:
        lines.append("[[source]]")
        lines += [f"{key} = {toml_value(value)}" for key, value in source.items()]
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def kind_folder(kind: SourceKind) -> Path:
    """The folder of a registered kind's package (its page, README.md, and sample.toml)."""
    from importlib import import_module
    from importlib.metadata import entry_points

    (point,) = [p for p in entry_points(group="collector.sources") if p.name == kind.name]
    module = import_module(point.module)
    assert module.__file__ is not None
    return Path(module.__file__).parent
