"""What the live view on MQTT costs: the daemon's CPU per reading with and without MQTT_URL, and
the messages it publishes per reading.

`python -m bench.mqtt [--seconds 60] [--rounds 2]` runs the daemon as a process against the
simulated house at 1 s (tests/house.py), writing to VictoriaMetrics, alternately without MQTT
and with MQTT (Debian's mosquitto on 127.0.0.1, discovery on), `--rounds` times each, and prints
each run's CPU per reading and the difference of the means: what MQTT adds per reading.

The peer: paho-mqtt (the library under aiomqtt) publishing the same number of state messages,
QoS 1 and retained, from a plain loop: the least any publisher on paho pays per message.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine
from bench.cost import measure
from tests.house import House
from tests.mqtt_watch import Watcher
from tests.servers import Mosquitto, VictoriaMetrics


def peer_cpu_per_message(port: int, message: bytes, count: int) -> float:
    """CPU seconds per message of a paho-mqtt client publishing `count` retained QoS 1 messages."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="peer")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        started = time.process_time()
        for number in range(count):
            client.publish(
                f"peer/{number % 7}/state", message, qos=1, retain=True
            ).wait_for_publish(10)
        return (time.process_time() - started) / count
    finally:
        client.disconnect()
        client.loop_stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{args.seconds:g} s measured after {args.warmup:g} s, the house at 1 s\n")
    print(
        f"{'daemon':<14} {'readings':>8} {'CPU s':>7} {'ms/reading':>10} {'msgs/reading':>12} "
        f"{'RSS MB':>7}"
    )
    per: dict[bool, list[float]] = {False: [], True: []}
    ratios: list[float] = []
    kinds: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mqtt-") as scratch:
        base = Path(scratch)
        victoria = VictoriaMetrics(base / "victoria")
        victoria.start()
        broker = Mosquitto(base / "broker")
        broker.start()
        try:
            with House(base) as house:
                run = 0
                for _ in range(args.rounds):
                    for mqtt in (False, True):
                        extra: dict[str, dict[str, object]] = (
                            {"mqtt": {"url": broker.url}} if mqtt else {}
                        )
                        stopped: list[dict[str, Any]] = []
                        watcher = Watcher(broker.port) if mqtt else None
                        count, cpu, rss = measure(
                            house,
                            None,
                            victoria,
                            base / f"run-{run}",
                            args.warmup,
                            args.seconds,
                            extra,
                            stopped,
                        )
                        run += 1
                        per[mqtt].append(cpu / count)
                        messages = "-"
                        if watcher is not None and stopped:
                            readings = float(stopped[-1]["readings"])
                            ratio = float(stopped[-1]["published"]) / readings
                            ratios.append(ratio)
                            messages = f"{ratio:.2f}"
                            kinds.append(_by_kind(watcher, readings))
                            watcher.close()
                        label = "with MQTT" if mqtt else "without MQTT"
                        print(
                            f"{label:<14} {count:>8} {cpu:>7.2f} {1000 * cpu / count:>10.2f} "
                            f"{messages:>12} {rss:>7.1f}",
                            flush=True,
                        )
            state = json.dumps({"time": "2026-12-07T10:00:00Z", **_sample_fields()}).encode()
            peer = peer_cpu_per_message(broker.port, state, 2000)
        finally:
            broker.stop()
            victoria.stop()
    added = statistics.mean(per[True]) - statistics.mean(per[False])
    print(f"\nMQTT adds {1000 * added:.2f} ms of CPU per reading (mean of {args.rounds} runs each)")
    print(f"messages per reading: {statistics.mean(ratios):.2f}, the discovery included")
    for line in kinds:
        print(f"  {line}")
    print(f"peer: paho-mqtt alone, {1000 * peer:.3f} ms of CPU per retained QoS 1 message")
    if peer > 0:
        print(f"ours / peer, per reading: {added / peer:.1f}x")
    return 0


def _by_kind(watcher: Watcher, readings: float) -> str:
    """What a run published, by kind of topic, as the broker delivered it to a subscriber."""
    counts = {"state": 0, "discovery": 0, "availability": 0, "status": 0}
    for topic, _, retained in watcher.messages:
        if retained:  # held from an earlier run, sent when the watcher subscribed
            continue
        if topic.startswith("homeassistant/"):
            counts["discovery"] += 1
        elif topic.endswith("/state"):
            counts["state"] += 1
        elif topic.endswith("/availability"):
            counts["availability"] += 1
        elif topic.endswith("/status"):
            counts["status"] += 1
    return (
        f"{readings:.0f} readings: {counts['state']} states "
        f"({counts['state'] / readings:.2f} per reading), {counts['discovery']} discovery "
        f"messages (once), {counts['availability']} availability, {counts['status']} status"
    )


def _sample_fields() -> dict[str, object]:
    """A SENEC-sized state: 26 fields of the kinds a reading has."""
    fields: dict[str, object] = {f"power_{n}": 1000 + n for n in range(16)}
    fields.update({f"voltage_{n}": 230.5 + n for n in range(6)})
    fields.update({"state": "LADEN", "ok": True, "version": "0826", "charge": 55.5})
    return fields


if __name__ == "__main__":
    sys.exit(main())
