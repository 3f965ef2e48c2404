"""What the daemon's memory is made of: the RSS each dependency adds when imported.

`python -m bench.memory` starts a fresh interpreter per step and imports, one after another,
what the daemon imports (the standard library's asyncio and sqlite3, then each dependency, then
the collector's core and its kinds, and the MQTT publisher that MQTT_URL adds), printing the
RSS after each step and what the step added.
The last step imports influxdb-client, which the daemon used until 2026-12 (for the v2 write
and the line protocol), to show what leaving it out saved. A running daemon's RSS is in
bench/soak and bench/cost; the difference is its data: buffers, the queue's connection, the
instances.
"""

from __future__ import annotations

import subprocess
import sys

STEPS = [
    ("python itself", ""),
    ("asyncio, sqlite3, json, ssl", "import asyncio, sqlite3, json, ssl"),
    ("pydantic", "import pydantic"),
    ("pydantic-settings (and python-dotenv)", "import pydantic_settings"),
    ("httpx (and httpcore, h11, anyio, certifi)", "import httpx"),
    ("structlog", "import structlog"),
    ("tenacity", "import tenacity"),
    ("pyotp", "import pyotp"),
    ("the collector's core", "import collector.daemon, collector.config, collector.queue"),
    ("the sinks", "import collector.sinks.influx, collector.sinks.line_protocol"),
    (
        "the seven kinds",
        "from collector.sources import load_kinds; load_kinds()",
    ),
    # imported only when MQTT_URL is set
    ("the live view on MQTT (aiomqtt, paho-mqtt)", "import collector.mqtt.publisher"),
    # not the daemon's any more: what it cost when the v2 sink and the line protocol used it
    ("influxdb-client (gone from the daemon)", "import influxdb_client"),
]

MEASURE = """
import sys
{imports}
for line in open('/proc/self/status'):
    if line.startswith('VmRSS:'):
        print(int(line.split()[1]))
"""


def rss_after(statements: list[str]) -> float:
    code = MEASURE.format(imports="\n".join(s for s in statements if s))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> int:
    print(f"Python {sys.version.split()[0]}; RSS after each step, in a fresh interpreter\n")
    print(f"{'step':<44} {'RSS MB':>7} {'added':>7}")
    done: list[str] = []
    before = 0.0
    for name, statement in STEPS:
        done.append(statement)
        runs = sorted(rss_after(done) for _ in range(3))
        rss = runs[1]  # the median of three
        print(f"{name:<44} {rss:>7.1f} {rss - before:>+7.1f}")
        before = rss
    return 0


if __name__ == "__main__":
    sys.exit(main())
