"""One full Speedwire read cycle against the simulated inverter: our client against pysma-plus.

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python -m bench.sma_cycle [--cycles 20]

The simulated inverter (`collector.sources.sma.simulator`, 2 strings, no battery) listens on
127.0.0.5:9522, because pysma-plus always talks to port 9522. It runs in a thread of this
process; CPU is measured with `time.thread_time()` in the event loop's thread, so it is the
client's CPU only. Packets are counted at the device (requests received per cycle).

Ways, each for `--cycles` cycles after one warm-up cycle:
- ours, pipelined: one session kept, a cycle's 14 queries sent at once (the daemon's way);
- ours, sequential: the same queries one after another;
- ours, login and logoff every cycle, pipelined (what pysma-plus does each cycle);
- pysma-plus 0.5 (`SMAspeedwireINV`, its Speedwire mode): `read()` of all its sensors.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from collections.abc import Awaitable, Callable

from collector.logging import configure_logging
from collector.sources.sma import codec
from collector.sources.sma.client import SpeedwireClient
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma.source import fields_from
from collector.sources.sma_common import frame
from collector.sources.sma_common.registers import QUERIES

HOST = "127.0.0.5"
TARGET = (HOST, frame.PORT)


async def measure(
    inverter: SmaInverter, cycle: Callable[[], Awaitable[int]], cycles: int
) -> tuple[float, float, float, int]:
    """(wall ms, CPU ms, packets, values) per cycle, medians."""
    await cycle()  # warm-up
    walls, cpus, packets = [], [], []
    values = 0
    for _ in range(cycles):
        before = len(inverter.received)
        wall, cpu = time.perf_counter(), time.thread_time()
        values = await cycle()
        cpus.append((time.thread_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        packets.append(len(inverter.received) - before)
    return statistics.median(walls), statistics.median(cpus), statistics.median(packets), values


async def ours(
    inverter: SmaInverter, cycles: int, *, pipelined: bool, relogin: bool
) -> tuple[float, float, float, int]:
    client = SpeedwireClient(timeout=1.0, retries=2)
    await client.open()
    device = await client.login(TARGET, "0000", codec.GROUP_USER)

    async def cycle() -> int:
        nonlocal device
        if relogin:
            device = await client.login(TARGET, "0000", codec.GROUP_USER)
        results = await client.query_all(TARGET, device, list(QUERIES), pipelined=pipelined)
        if relogin:
            client.logoff(TARGET)
        records = [r for value in results.values() if isinstance(value, list) for r in value]
        return len(fields_from(records))

    try:
        return await measure(inverter, cycle, cycles)
    finally:
        client.logoff(TARGET)
        client.close()


async def pysma_plus(inverter: SmaInverter, cycles: int) -> tuple[float, float, float, int]:
    from pysmaplus.device_speedwire import SMAspeedwireINV

    device = SMAspeedwireINV(host=HOST, password="0000", group="user")
    if not await device.new_session():
        raise RuntimeError("pysma-plus could not log in to the simulated inverter")
    sensors = await device.get_sensors()

    async def cycle() -> int:
        await device.read(sensors)
        return sum(1 for sensor in sensors if sensor.value is not None)

    try:
        return await measure(inverter, cycle, cycles)
    finally:
        await device.close_session()


def main() -> None:
    parser = argparse.ArgumentParser(description="Speedwire read cycle: ours against pysma-plus")
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    configure_logging("warning")
    inverter = SmaInverter(3010538116, strings=2)
    simulator = SmaSimulator([inverter], host=HOST, ports=[frame.PORT]).start()
    print(
        f"machine: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}; simulated inverter on {HOST}:{frame.PORT}; "
        f"{args.cycles} cycles each, medians\n"
    )
    try:
        rows = {
            "ours, pipelined, session kept": asyncio.run(
                ours(inverter, args.cycles, pipelined=True, relogin=False)
            ),
            "ours, sequential, session kept": asyncio.run(
                ours(inverter, args.cycles, pipelined=False, relogin=False)
            ),
            "ours, pipelined, login+logoff each cycle": asyncio.run(
                ours(inverter, args.cycles, pipelined=True, relogin=True)
            ),
            "pysma-plus 0.5 (SMAspeedwireINV.read)": asyncio.run(pysma_plus(inverter, args.cycles)),
        }
    finally:
        simulator.stop()
    print(f"{'':44} {'wall ms':>8} {'CPU ms':>7} {'packets':>8} {'values':>7}")
    for label, (wall, cpu, packets, values) in rows.items():
        print(f"{label:44} {wall:8.1f} {cpu:7.2f} {packets:8.0f} {values:7d}")
    base = rows["ours, pipelined, session kept"]
    peer = rows["pysma-plus 0.5 (SMAspeedwireINV.read)"]
    sequential = rows["ours, sequential, session kept"]
    print(
        f"\npysma-plus / ours (pipelined): wall {peer[0] / base[0]:.1f}x, CPU "
        f"{peer[1] / base[1]:.1f}x, packets {peer[2] / base[2]:.1f}x"
    )
    print(f"sequential / pipelined (ours): wall {sequential[0] / base[0]:.1f}x")


if __name__ == "__main__":
    main()
