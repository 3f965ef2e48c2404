"""The connection to the broker: what is new goes out, the latest only, never a backlog.

`offer` (from the daemon's emit) and `refresh` (availability) only note the latest message of a
topic and wake the publishing task: they never wait, so a broker that is slow or away delays no
poll and no write to InfluxDB. Every message is retained. After a (re)connection everything is
published again, so the broker holds the current state, not what it had before the outage.

- `<prefix>/status` is `online` once connected, and `offline` at shutdown or, as the last will,
  when the collector dies;
- when Home Assistant comes back (`homeassistant/status` = `online`), the discovery and the
  states are published again;
- a retained discovery message of ours whose instance is no longer configured is removed (an
  empty retained message on its topic, its state and its availability), so no ghosts stay.

An outage of the broker is said once (`MQTT broker away`), and its end once (`MQTT broker
back`); reconnecting backs off exponentially (tenacity), at most MAX_BACKOFF seconds apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from collector.health import STALE_INTERVALS, STALE_MINIMUM
from collector.logging import get_logger
from collector.mqtt.discovery import device_of, discovery_messages, instance_of_config
from collector.mqtt.settings import MqttSettings
from collector.mqtt.topics import (
    OFFLINE,
    ONLINE,
    Node,
    availability_topic,
    level,
    state_message,
    status_topic,
)
from collector.reading import Reading
from collector.sources import InstanceStatus, SourceKind

MAX_BACKOFF = 30.0
LOST_PAUSE = 1.0  # seconds between a lost connection and the next try
REFRESH_EVERY = 5.0  # seconds between two looks at the instances' availability
TIMEOUT = 10.0  # seconds the broker may take to acknowledge a connection or a message


@dataclass
class Member:
    """A running instance (one device of it) as the live view knows it."""

    name: str
    kind: SourceKind
    status: InstanceStatus
    interval: float


def answers(member: Member, now: float) -> bool:
    """Whether the member's device counts as answering: it has given a reading recently (the
    health check's measure), and is neither stopped nor asleep (an inverter at night)."""
    status = member.status
    if status.stopped is not None or status.asleep_since is not None:
        return False
    if status.last_reading_at is None:
        return False
    return now - status.last_reading_at <= max(STALE_INTERVALS * member.interval, STALE_MINIMUM)


@dataclass
class _Topics:
    """The latest message of every topic, and which are still to be published (in order)."""

    latest: dict[str, bytes] = field(default_factory=dict)
    due: dict[str, None] = field(default_factory=dict)
    clear: dict[str, None] = field(default_factory=dict)  # to be emptied (removed instances)

    def set(self, topic: str, message: bytes) -> bool:
        if self.latest.get(topic) == message:
            return False
        self.latest[topic] = message
        self.due[topic] = None
        return True

    def all_due(self) -> None:
        self.due.update(dict.fromkeys(self.latest))


_UNSEEN = object()  # a node's firmware version before its first reading


@dataclass
class _Known:
    """A node as published so far: its state topic, the firmware version and the fields its
    discovery announced."""

    node: Node
    state_topic: str
    version: object = _UNSEEN
    fields: set[str] = field(default_factory=set)


class LivePublisher:
    """`memory`: a file (in DATA_DIR) that keeps the instances this collector has announced, so
    that it removes the entities of those among them no longer configured, and never those of
    another collector on the same broker and prefix."""

    def __init__(
        self, settings: MqttSettings, members: list[Member], memory: Path | None = None
    ) -> None:
        self.settings = settings
        self.prefix = settings.topic
        self.members = members
        self.published = 0  # messages the broker acknowledged
        self._by_name: dict[str, list[Member]] = {}
        self._availability: dict[str, str] = {}  # each instance's availability topic
        for member in members:
            self._by_name.setdefault(member.name, []).append(member)
            self._availability[member.name] = availability_topic(self.prefix, member.name)
            # a reading collected, a failed poll: the instance's availability may change
            member.status.listeners.append(functools.partial(self._refresh_one, member.name))
        self._memory = memory
        self._remembered = _recall(memory)  # instances announced before (theirs are ours)
        self._topics = _Topics()
        self._known: dict[tuple[str, str | None], _Known] = {}  # by instance and series
        self._configured = {level(member.name) for member in members}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._log = get_logger(component="mqtt")
        self._down_since: float | None = None
        self._connected_once = False
        self._removed: set[str] = set()  # instances whose ghosts were found (said once each)

    def banner(self) -> dict[str, object]:
        """Where it publishes, for the start banner (no secrets)."""
        settings = self.settings
        scheme = "mqtts" if settings.tls else "mqtt"
        context: dict[str, object] = {
            "broker": f"{scheme}://{self._where()}",
            "topic": self.prefix,
            "qos": settings.qos,
            "discovery": settings.discovery_prefix if settings.discovery else "off",
            "client_id": settings.effective_client_id,
        }
        if settings.username:
            context["user"] = settings.username
        return context

    # --- what the daemon calls: never waits ------------------------------------------------

    def offer(self, member: Member, reading: Reading) -> None:
        """A reading of `member` as it goes to the queue: its state, and the discovery of the
        fields its node has not announced yet (all again after a new firmware version)."""
        kind = member.kind
        series = reading.tags.get(kind.series_tag) if kind.series_tag else None
        known = self._known.get((member.name, series))
        if known is None:
            node = Node(member.name, series)
            known = self._known[(member.name, series)] = _Known(node, node.state_topic(self.prefix))
        if self.settings.discovery:
            version = reading.fields.get(kind.version_field) if kind.version_field else None
            if version != known.version or not known.fields.issuperset(reading.fields):
                self._announce(known, kind, reading, version)
        if self._topics.set(known.state_topic, state_message(reading)):
            self._wake.set()

    def refresh(self) -> None:
        """Each instance's availability as it is now."""
        for name in self._by_name:
            self._refresh_one(name)

    def _refresh_one(self, name: str) -> None:
        """An instance's availability: online when any of its devices answers."""
        now = time.time()
        up = any(answers(member, now) for member in self._by_name[name])
        if self._topics.set(self._availability[name], ONLINE if up else OFFLINE):
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _announce(self, known: _Known, kind: SourceKind, reading: Reading, version: object) -> None:
        node = known.node
        self._remember(level(node.instance))
        known.version = version
        known.fields.update(reading.fields)
        device = device_of(kind, node, reading)
        for topic, message in discovery_messages(
            self.settings, node, device, kind, sorted(known.fields)
        ):
            self._topics.set(topic, message)  # the ones announced already are unchanged
        self._wake.set()

    # --- the connection ---------------------------------------------------------------------

    def client(self) -> aiomqtt.Client:
        settings = self.settings
        context = None
        if settings.tls:
            context = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None
            )
        quiet = logging.getLogger("collector.mqtt.paho")
        return aiomqtt.Client(
            settings.host,
            settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            identifier=settings.effective_client_id,
            will=aiomqtt.Will(status_topic(self.prefix), OFFLINE, settings.qos, retain=True),
            tls_context=context,
            timeout=TIMEOUT,
            logger=quiet,
        )

    async def run(self) -> None:
        """Publish until `stop()`: connect, publish what is due, reconnect after a loss."""
        while not self._stop.is_set():
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(aiomqtt.MqttError),
                wait=wait_exponential_jitter(initial=1, max=MAX_BACKOFF, jitter=1),
                sleep=self._pause,
                stop=lambda _: self._stop.is_set(),
                before_sleep=self._unreachable,
                reraise=True,
            )
            with contextlib.suppress(aiomqtt.MqttError):  # stopped while the broker is away
                async for attempt in retrying:
                    with attempt:
                        await self._session(self.client())
            # A connection lost: again at once, but not in a loop with a broker that drops
            # every connection (another client with the same MQTT_CLIENT_ID takes it over).
            await self._pause(LOST_PAUSE)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    def _unreachable(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self._away(error)

    def _away(self, error: BaseException | None) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self._log.warning(
            "MQTT broker away",
            broker=self._where(),
            error=_explain(error),
            note="the live view waits; InfluxDB is not affected; retrying, with back-off up "
            f"to {MAX_BACKOFF:g} s, and not logged again until it answers",
        )

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def _session(self, client: aiomqtt.Client) -> None:
        """One connection: returns when it was lost (said) or the collector stops."""
        async with client:
            self._back()
            try:
                await self._publish_all(client)
            except aiomqtt.MqttError as exc:
                self._away(exc)
                return
        self._log.debug("MQTT disconnected")

    def _back(self) -> None:
        if self._down_since is not None:
            self._log.info(
                "MQTT broker back",
                broker=self._where(),
                after_s=round(time.monotonic() - self._down_since),
            )
            self._down_since = None
        elif not self._connected_once:
            self._log.info("MQTT connected", broker=self._where(), topic=self.prefix)
        self._connected_once = True

    async def _publish_all(self, client: aiomqtt.Client) -> None:
        qos = self.settings.qos
        await client.publish(status_topic(self.prefix), ONLINE, qos, retain=True)
        self.refresh()
        self._topics.all_due()  # the broker may have lost what it held: all of it again
        listening: asyncio.Task[None] | None = None
        if self.settings.discovery:
            prefix = self.settings.discovery_prefix
            await client.subscribe(f"{prefix}/status", qos)
            await client.subscribe(f"{prefix}/+/+/+/config", qos)
            listening = asyncio.create_task(self._listen(client), name="mqtt-listen")
        try:
            while not self._stop.is_set():
                self._wake.clear()  # before: what comes while publishing wakes the wait below
                await self._publish_due(client)
                if listening is not None and listening.done():
                    listening.result()  # the connection is gone: MqttError
                try:  # a timeout context, not wait_for: no task for each wait
                    async with asyncio.timeout(REFRESH_EVERY):
                        await self._wake.wait()
                except TimeoutError:
                    self.refresh()  # a device that fell silent: its status did not change
            await self._publish_due(client)
            await client.publish(status_topic(self.prefix), OFFLINE, qos, retain=True)
        finally:
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await listening

    async def _publish_due(self, client: aiomqtt.Client) -> None:
        """Publish what is due, each acknowledged (QoS 1 and 2) within TIMEOUT: one deadline
        moved on after each message, cheaper than aiomqtt's own per message (a task each)."""
        topics = self._topics
        qos = self.settings.qos
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(loop.time() + TIMEOUT) as deadline:
                while topics.clear:
                    topic = next(iter(topics.clear))
                    await client.publish(topic, b"", qos, retain=True, timeout=math.inf)
                    del topics.clear[topic]
                    deadline.reschedule(loop.time() + TIMEOUT)
                while topics.due:
                    topic = next(iter(topics.due))
                    del topics.due[topic]
                    try:
                        message = topics.latest[topic]
                        await client.publish(topic, message, qos, retain=True, timeout=math.inf)
                    except BaseException:
                        topics.due[topic] = None  # again after the reconnection
                        raise
                    self.published += 1
                    deadline.reschedule(loop.time() + TIMEOUT)
        except TimeoutError:
            raise aiomqtt.MqttError(
                f"the broker acknowledged no message within {TIMEOUT:g} s"
            ) from None

    async def _listen(self, client: aiomqtt.Client) -> None:
        prefix = self.settings.discovery_prefix
        async for message in client.messages:
            topic = str(message.topic)
            raw = message.payload
            payload = bytes(raw) if isinstance(raw, bytes | bytearray) else b""
            if topic == f"{prefix}/status":
                if payload.strip().lower() == ONLINE:
                    self._log.info("Home Assistant online: discovery published again")
                    self._topics.all_due()
                    self._wake.set()
            elif payload:
                self._forget_if_removed(topic, payload)

    def _forget_if_removed(self, topic: str, payload: bytes) -> None:
        instance = instance_of_config(payload, self.prefix)
        if instance is None or instance in self._configured or instance not in self._remembered:
            return  # not ours, or still configured
        if instance not in self._removed:
            self._removed.add(instance)
            self._log.info(
                "removing Home Assistant entities of an instance no longer configured",
                instance=instance,
            )
        topics = self._topics
        topics.clear[topic] = None
        topics.clear[availability_topic(self.prefix, instance)] = None
        state = json.loads(payload).get("state_topic")  # readable: instance_of_config read it
        if isinstance(state, str):
            topics.clear[state] = None
        self._wake.set()

    def _remember(self, instance: str) -> None:
        if instance in self._remembered or self._memory is None:
            return
        self._remembered.add(instance)
        try:
            self._memory.write_text(json.dumps(sorted(self._remembered)) + "\n")
        except OSError as exc:
            self._log.warning(
                "cannot keep the announced instances",
                path=str(self._memory),
                error=str(exc),
                note="an instance removed from the configuration may leave its entities",
            )


def _recall(memory: Path | None) -> set[str]:
    """The instances a file of `_remember` names (none when it is missing or unreadable)."""
    if memory is None:
        return set()
    try:
        names = json.loads(memory.read_text())
    except (OSError, ValueError):
        return set()
    return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()


def _explain(error: BaseException | None) -> str:
    """An aiomqtt error in words, with what to do where it is clear."""
    if error is None:
        return "unknown"
    text = str(error) or type(error).__name__
    if "not authori" in text.lower() or "bad user name or password" in text.lower():
        return f"{text} (check MQTT_USERNAME and MQTT_PASSWORD)"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"{text} (give the broker's CA in MQTT_CA_FILE)"
    return text
