"""One WebConnect poll against the simulated inverter over HTTPS: our source against pysma.

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python -m bench.sma_webconnect_poll [--polls 100]

The simulated inverter (`collector.sources.sma_webconnect.simulator`, the Speedwire simulator's
hybrid inverter with a battery and an energy meter) serves HTTPS on 127.0.0.1 in a thread of
this process. CPU is measured with `time.thread_time()` in the event loop's thread, so it is the
client's CPU only. Requests and logins are counted at the device.

Each way makes `--polls` polls after one warm-up poll (which logs in), then logs out:
- ours: `SmaWebConnectSource.poll()`, one kept session, one `getValues` of the keys it learned;
- pysma (PyPI, kellerza): `SMA.read(sensors)` of the sensors `get_sensors()` chose, with its
  session (`new_session` once, `close_session` at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from collector.logging import configure_logging
from collector.sources.sma.simulator import SmaInverter
from collector.sources.sma_webconnect.settings import SmaWebConnectSettings
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from collector.sources.sma_webconnect.source import SmaWebConnectSource


def requests(device: WebConnectDevice) -> int:
    return sum(device.counts.requests.values())


async def measure(
    device: WebConnectDevice, poll: Callable[[], Awaitable[int]], polls: int, logins_before: int
) -> dict[str, float]:
    """Medians per poll (wall ms, CPU ms), requests per poll, values, and sessions opened
    (from `logins_before`, the device's count before the way began)."""
    await poll()  # warm-up: the login, the keys
    walls, cpus = [], []
    before = requests(device)
    values = 0
    for _ in range(polls):
        wall, cpu = time.perf_counter(), time.thread_time()
        values = await poll()
        cpus.append((time.thread_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return {
        "wall_ms": statistics.median(walls),
        "cpu_ms": statistics.median(cpus),
        "requests": (requests(device) - before) / polls,
        "values": values,
        "sessions": device.counts.logins - logins_before,
    }


async def ours(url: str, device: WebConnectDevice, polls: int) -> dict[str, float]:
    logins = device.counts.logins
    settings = SmaWebConnectSettings.model_validate({"url": url, "password": "0000"})
    source = SmaWebConnectSource(settings)

    async def poll() -> int:
        return len((await source.poll()).fields)

    try:
        return await measure(device, poll, polls, logins)
    finally:
        await source.aclose()


async def theirs(url: str, device: WebConnectDevice, polls: int) -> dict[str, float]:
    import aiohttp
    import pysma

    logins = device.counts.logins
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        sma: Any = pysma.SMA(session, url, password="0000", group="user")
        await sma.new_session()
        sensors = await sma.get_sensors()

        async def poll() -> int:
            await sma.read(sensors)
            return sum(1 for sensor in sensors if sensor.value is not None)

        try:
            return await measure(device, poll, polls, logins)
        finally:
            await sma.close_session()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=100)
    args = parser.parse_args()
    configure_logging("warning", "console")
    device = WebConnectDevice(SmaInverter(3010538116, battery=True, meter=True), slots=4)
    simulator = WebConnectSimulator(device).start()
    try:
        results = {
            "ours (one session, getValues of the learned keys)": asyncio.run(
                ours(simulator.url, device, args.polls)
            ),
            "pysma (read of its sensors)": asyncio.run(theirs(simulator.url, device, args.polls)),
        }
    finally:
        simulator.stop()
    print(f"{platform.python_implementation()} {platform.python_version()}, {args.polls} polls")
    print(f"{'way':<52} {'wall ms':>8} {'CPU ms':>7} {'req/poll':>8} {'values':>6} {'logins':>6}")
    for name, r in results.items():
        print(
            f"{name:<52} {r['wall_ms']:>8.2f} {r['cpu_ms']:>7.2f} {r['requests']:>8.2f} "
            f"{r['values']:>6.0f} {r['sessions']:>6.0f}"
        )
    base = results["ours (one session, getValues of the learned keys)"]
    peer = results["pysma (read of its sensors)"]
    print(
        f"pysma / ours: wall {peer['wall_ms'] / base['wall_ms']:.2f}x, "
        f"CPU {peer['cpu_ms'] / base['cpu_ms']:.2f}x"
    )
    print(f"sessions left open at the device: {device.open_sessions}")


if __name__ == "__main__":
    main()
