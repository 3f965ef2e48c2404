"""Two source kinds that exist only in the test suite, registered the way a third-party package
registers its own (an entry point in `collector.sources`; see `plugin_path`).

- `counter` is polled: every poll returns the next number (PollLoop does the scheduling).
- `listener` is pushed: it listens on a UDP port of 127.0.0.1 for datagrams `power=<watts>` and
  emits one reading per interval from what arrived: gauges averaged, counters the last value,
  as its catalogue says. Nothing arrived in an interval: no reading, one warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from collector.errors import ProtocolError
from collector.logging import get_logger
from collector.loop import PollLoop
from collector.reading import Aggregation, FieldSpec, FieldValue, Reading, catalogue
from collector.settings import PolledSettings, SourceSettings
from collector.sources import Emit, Instance, InstanceConfig, InstanceStatus, SourceKind

# --- counter: polled ---------------------------------------------------------------------------


class CounterSettings(PolledSettings):
    start: int = 0
    fail_at: int | None = None  # this poll raises a ProtocolError (once)
    interval: float = Field(1.0, ge=0.1)
    measurement: str = "counter"


COUNTER_FIELDS = catalogue(
    [
        FieldSpec("count", int, "", "polls so far", Aggregation.LAST),
        FieldSpec("response_duration", int, "ms", "how long the device took to answer the poll"),
    ]
)


class CounterPoller:
    def __init__(self, settings: CounterSettings) -> None:
        self.settings = settings
        self.interval = settings.interval
        self.timeout = settings.effective_timeout
        self.count = settings.start

    def describe(self) -> str:
        return f"a counter from {self.settings.start}"

    async def poll(self) -> Reading:
        self.count += 1
        if self.count == self.settings.fail_at:
            raise ProtocolError(f"poll {self.count} fails on purpose")
        now = datetime.fromtimestamp(int(time.time()), UTC)
        fields: dict[str, FieldValue] = {"count": self.count, "response_duration": 0}
        return Reading(now, self.settings.measurement, fields)

    def summary(self, reading: Reading) -> dict[str, Any]:
        return {"time": reading.time.strftime("%Y-%m-%dT%H:%M:%SZ"), **reading.fields}

    async def aclose(self) -> None:
        pass


def build_counters(configs: list[InstanceConfig]) -> list[Instance]:
    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, CounterSettings)
        instances.append(PollLoop(config.name, CounterPoller(config.settings)))
    return instances


COUNTER = SourceKind(
    name="counter",
    description="counts (tests only)",
    env_prefix="COUNTER_",
    settings=CounterSettings,
    fields=COUNTER_FIELDS,
    build=build_counters,
    env_triggers=("start",),
)


# --- listener: pushed -------------------------------------------------------------------------


class ListenerSettings(SourceSettings):
    port: int = Field(ge=1, le=65535)
    interval: float = Field(1.0, gt=0)
    measurement: str = "meter"


LISTENER_FIELDS = catalogue(
    [
        FieldSpec("power", float, "W", "mean power over the interval"),
        FieldSpec("packets", int, "", "datagrams received in the interval", Aggregation.LAST),
        FieldSpec("last_power", float, "W", "the interval's last value", Aggregation.LAST),
    ]
)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.values: list[float] = []
        self.malformed = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        name, _, value = data.decode("ascii", "replace").partition("=")
        try:
            number = float(value)
        except ValueError:
            self.malformed += 1
            return
        if name == "power" and math.isfinite(number):
            self.values.append(number)


class Listener:
    """An Instance: listens, and emits one reading per interval (on interval boundaries)."""

    def __init__(self, name: str, settings: ListenerSettings) -> None:
        self.name = name
        self.device = ""
        self.settings = settings
        self.status = InstanceStatus()
        self._log = get_logger(source=name)
        self._silent = False

    @property
    def interval(self) -> float:
        return self.settings.interval

    def banner(self) -> dict[str, Any]:
        return {"device": f"udp://127.0.0.1:{self.settings.port}", "interval_s": self.interval}

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        transport, receiver = await loop.create_datagram_endpoint(
            _Receiver, local_addr=("127.0.0.1", self.settings.port)
        )
        try:
            # The first window is a whole interval at least: one that closes just after the
            # socket opened has heard nothing yet, which is no failure.
            end = (math.floor(time.time() / self.interval) + 2) * self.interval
            while not stop.is_set():
                now = time.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=end - now)
                values, receiver.values = receiver.values, []
                if stop.is_set():
                    return
                self._emit(values, end, emit)
                end = (math.floor(time.time() / self.interval) + 1) * self.interval
        finally:
            transport.close()

    def _emit(self, values: list[float], end: float, emit: Emit) -> None:
        if not values:
            self.status.failed_polls += 1
            self.status.last_error = "nothing arrived"
            if not self._silent:
                self._log.warning("nothing arrived", interval_s=self.interval)
            self._silent = True
            self.status.changed()
            return
        self._silent = False
        fields: dict[str, FieldValue] = {}
        for spec in LISTENER_FIELDS.values():
            if spec.name == "packets":
                fields["packets"] = len(values)
            elif spec.aggregate is Aggregation.MEAN:
                fields[spec.name] = round(sum(values) / len(values), 3)
            else:
                fields[spec.name] = values[-1]
        moment = datetime.fromtimestamp(int(end), UTC)
        reading = Reading(moment, self.settings.measurement, fields)

        def done(on_disk: bool) -> None:
            self.status.readings += 1
            self.status.last_reading_at = time.time()
            self._log.info("reading", time=moment.strftime("%Y-%m-%dT%H:%M:%SZ"), **fields)
            self.status.changed()

        emit(reading, done)

    async def aclose(self) -> None:
        pass


def build_listeners(configs: list[InstanceConfig]) -> list[Instance]:
    instances: list[Instance] = []
    for config in configs:
        assert isinstance(config.settings, ListenerSettings)
        instances.append(Listener(config.name, config.settings))
    return instances


LISTENER = SourceKind(
    name="listener",
    description="listens for power datagrams (tests only)",
    env_prefix="LISTENER_",
    settings=ListenerSettings,
    fields=LISTENER_FIELDS,
    build=build_listeners,
    env_triggers=("port",),
)


def plugin_path(directory: Path) -> Path:
    """A directory that, on PYTHONPATH, registers these kinds like an installed package."""
    info = directory / "collector_test_kinds-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: collector-test-kinds\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[collector.sources]\ncounter = tests.kinds:COUNTER\nlistener = tests.kinds:LISTENER\n"
    )
    return directory
