"""Source kinds and their instances: the one interface between the core and every protocol.

A **kind** is one protocol in one folder below this one; it describes itself with a `SourceKind`
and is registered through the `collector.sources` entry-point group (pyproject.toml), the way a
third-party package registers its own kind. An **instance** is one configured device or account
of a kind. The core (config, daemon, cli, health, writer) knows kinds only through this module.

Every instance is run the same way, `await instance.run(emit, stop)`, until `stop` is set:

- a polled kind asks its device on a schedule: it implements `Poller` and is wrapped in
  `collector.loop.PollLoop`, which does the scheduling, back-off and logging;
- a pushed kind (a device that sends on its own) listens, and emits one reading per interval
  from what arrived; it implements `Instance` itself. Its first window must be a whole
  interval: one that closes just after the socket opened has heard nothing, which is no failure.

`emit(reading, done)` hands a reading to the queue without waiting; `done(on_disk)` is called
once it is stored (on disk, or only in memory when DATA_DIR cannot be written), which is when
the reading counts as collected and may be logged.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol

from collector.reading import Catalogue, Reading
from collector.settings import SourceSettings

ENTRY_POINT_GROUP = "collector.sources"

Done = Callable[[bool], None]
Emit = Callable[[Reading, Done], None]


@dataclass
class InstanceStatus:
    """What the health check and the final log line know of one running instance."""

    readings: int = 0
    failed_polls: int = 0
    last_reading_at: float | None = None  # wall clock
    last_error: str | None = None
    unchanged: int = 0  # polls answered with nothing new (see Poller.poll)
    polls: int = 0  # polls made, and the seconds they took together (the self-report's mean)
    poll_seconds: float = 0.0
    stopped: str | None = None  # why it stopped for good (it is not asked again)
    asleep_since: float | None = None  # wall clock: silent as it is expected to be (at night)
    listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def collected(self, log: Any, summary: dict[str, Any], on_disk: bool) -> None:
        """A reading is on disk (or, when the queue cannot be written, held in memory:
        `on_disk` False): counted, and logged as `reading` with its headline values."""
        self.readings += 1
        self.last_reading_at = time.time()
        if on_disk:
            log.info("reading", **summary)
        else:
            log.info("reading", **summary, on_disk=False)
        self.changed()

    def changed(self) -> None:
        for listener in self.listeners:
            listener()


class Instance(Protocol):
    """One running device of a kind (an instance may run several, e.g. one per inverter)."""

    name: str  # the instance's name from the configuration
    device: str  # which of the instance's devices, when it has several; else ""
    status: InstanceStatus

    @property
    def interval(self) -> float:
        """Seconds between readings (the health check allows a few of them to pass)."""
        ...

    def banner(self) -> dict[str, Any]:
        """Where it reads from, its interval and timeout, for the start banner (no secrets)."""
        ...

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        """Produce readings until `stop` is set; return early only when stopped for good."""
        ...

    async def aclose(self) -> None: ...


class Poller(Protocol):
    """A polled device: one request, one reading. `PollLoop` runs it."""

    timeout: float

    @property
    def interval(self) -> float:
        """Seconds between polls; a poller may lengthen it (an inverter at night)."""
        ...

    def describe(self) -> str:
        """Where it reads from, for the start banner (no secrets)."""
        ...

    async def poll(self) -> Reading | list[Reading] | None:
        """Ask the device once; raise a SourceError when no reading can be made. None: the
        device answered, but has nothing new since the last poll (a cloud that updates less
        often than it is asked); counted, not written, no failure. A list: one reading for each
        of several devices one request answers for (a cloud account's systems, told apart by
        their readings' tags); an empty list counts as None."""
        ...

    def summary(self, reading: Reading) -> dict[str, Any]:
        """Headline values of a reading for its log line."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class InstanceConfig:
    """One configured instance: validated settings, its name, and the tags of its points."""

    kind: str
    name: str
    settings: SourceSettings
    tags: Mapping[str, str] = field(default_factory=dict)
    # A folder of its own in DATA_DIR for what it keeps across restarts (a cloud login's
    # tokens); made by the kind when it first writes there. None: keep nothing.
    state_dir: Path | None = None
    # Other instances (of this kind or another with the same `series_tag`) write the same
    # measurement with the same tags: this one's points must carry its series tag.
    shared: bool = False


@dataclass(frozen=True)
class KindCommand:
    """A sub-command a kind adds: `collector simulate <kind>`, or one of its own (discover)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]

    @classmethod
    def lazy(cls, name: str, help: str, module: str) -> KindCommand:
        """A command whose module (with `add_arguments` and `run_from_arguments`) is imported
        only when the command line is built or the command runs."""

        def add_arguments(parser: argparse.ArgumentParser) -> None:
            import_module(module).add_arguments(parser)

        def run(args: argparse.Namespace) -> int:
            result: int = import_module(module).run_from_arguments(args)
            return result

        return cls(name, help, add_arguments, run)


@dataclass(frozen=True)
class SourceKind:
    """A kind's description for the registry."""

    name: str  # as in `kind = "..."` of a [[source]] table
    description: str
    env_prefix: str  # its environment variables start with this, e.g. "XY_"
    settings: type[SourceSettings]
    fields: Catalogue
    build: Callable[[list[InstanceConfig]], list[Instance]]  # all instances of the kind at once
    # Keys whose environment variable, when set, configures an instance from the environment.
    env_triggers: tuple[str, ...] = ("host",)
    # For kinds that share a prefix (SENEC_ADAPTER=local or cloud): (key, value, default). The
    # environment configures this kind only when the key's variable says `value`, or is unset
    # and `default` is True. A value no kind claims is an error.
    env_selector: tuple[str, str, bool] | None = None
    # A tag its points carry when several of its devices write one measurement (so that two
    # instances with the same measurement and tags are still told apart), e.g. a serial.
    series_tag: str | None = None
    simulator: KindCommand | None = None
    commands: tuple[KindCommand, ...] = ()
    # What Home Assistant shows of its devices (MQTT discovery): the maker, the model (default:
    # the description), and a field whose text is the device's firmware version, if any.
    manufacturer: str = ""
    model: str = ""
    version_field: str | None = None

    @property
    def default_measurement(self) -> str:
        default = self.settings.model_fields["measurement"].default
        return str(default)


class KindLoadError(Exception):
    """A registered kind could not be loaded (a broken plugin package)."""


def load_kinds() -> dict[str, SourceKind]:
    """Every kind registered in the entry-point group, by name."""
    from importlib.metadata import entry_points

    kinds: dict[str, SourceKind] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"{point.value} (package {point.dist.name if point.dist else '?'})"
        try:
            kind = point.load()
        except Exception as exc:  # a plugin's bug must not hide as a traceback
            raise KindLoadError(f"source kind {point.name!r} from {where}: {exc}") from exc
        if not isinstance(kind, SourceKind):
            raise KindLoadError(f"source kind {point.name!r} from {where} is not a SourceKind")
        if kind.name != point.name:
            raise KindLoadError(
                f"source kind {point.name!r} from {where} calls itself {kind.name!r}"
            )
        if kind.name in kinds:
            continue  # the same distribution seen twice on sys.path
        kinds[kind.name] = kind
    return dict(sorted(kinds.items()))
