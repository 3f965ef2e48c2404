"""A client that watches a broker as Home Assistant would: subscribed to everything, keeping the
latest retained or live message of each topic, so that tests can wait for what they expect."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.harness import record_wait


class Watcher:
    def __init__(
        self,
        port: int,
        *,
        topics: tuple[str, ...] = ("#",),
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        self.latest: dict[str, bytes] = {}
        self.messages: list[tuple[str, bytes, bool]] = []  # topic, payload, retained
        self._lock = threading.Lock()
        self._connected = threading.Event()  # answered: connected, or refused
        self._refused = ""
        self._topics = topics
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"watcher-{uuid.uuid4().hex[:8]}",
        )
        if username is not None:
            client.username_pw_set(username, password)
        if ca_file is not None:
            client.tls_set_context(ssl.create_default_context(cafile=str(ca_file)))
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=1)  # a restarted broker: back soon
        self.client = client
        client.connect("127.0.0.1", port)
        client.loop_start()
        if not self._connected.wait(10) or self._refused:
            client.loop_stop()
            raise AssertionError(
                f"the watcher could not connect to the broker on port {port}: {self._refused}"
            )

    def _on_connect(self, client: mqtt.Client, _: Any, __: Any, reason: Any, *___: Any) -> None:
        if reason.is_failure:  # refused (a wrong password): not connected
            self._refused = str(reason)
        else:
            for topic in self._topics:
                client.subscribe(topic, qos=1)
        self._connected.set()

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        with self._lock:
            self.messages.append((message.topic, payload, bool(message.retain)))
            if payload:
                self.latest[message.topic] = payload
            else:
                self.latest.pop(message.topic, None)

    def snapshot(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self.latest)

    def json(self, topic: str) -> Any:
        return json.loads(self.snapshot()[topic])

    def under(self, prefix: str) -> dict[str, bytes]:
        return {t: m for t, m in self.snapshot().items() if t.startswith(prefix)}

    def wait_for(
        self, condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition"
    ) -> None:
        started = time.monotonic()
        while time.monotonic() < started + timeout:
            if condition():
                record_wait(what, time.monotonic() - started, timeout)
                return
            time.sleep(0.05)
        topics = sorted(self.snapshot())
        raise AssertionError(f"timed out waiting for {what}; topics: {topics[:40]}")

    def count(self, topic: str) -> int:
        """How many messages came on a topic (retained and live)."""
        with self._lock:
            return sum(1 for item in self.messages if item[0] == topic)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
