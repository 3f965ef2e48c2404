"""The whole simulated house, for the benchmarks that run the daemon against it (soak, cost).

A SENEC, SENEC's cloud, two Speedwire inverters in one instance, WebConnect, ennexOS and an
Energy Meter, each with a household of its own seed whose clock runs `speed` times as fast from
`start`. `sources` is the `[[source]]` tables for a daemon that reads them all (or the names in
`only`), each at `interval` where the kind allows it (the cloud keeps its 60 s, the meter sends
every second).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from collector.simulators.household import Household
from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_em.simulator import Meter, MeterSender
from collector.sources.sma_ennexos.simulator import EnnexosDevice, EnnexosSimulator
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from tests.servers import free_port

# instance name: (measurement, a field every reading of it has, to count its points by)
MEASUREMENTS = {
    "senec": ("SENEC", "house_power"),
    "senec-cloud": ("SENEC_CLOUD", "house_power"),
    "sma": ("SMA", "ac_power"),
    "webconnect": ("SMA_WEB", "ac_power"),
    "ennexos": ("SMA_X", "ac_power"),
    "meter": ("SMA_EM", "grid_power_plus"),
}


# the daemon as users run it: the tests' harness sets INFLUX_FLUSH_INTERVAL=0, blank is unset
DEFAULTS = {"INFLUX_FLUSH_INTERVAL": ""}


def rss_and_cpu(pid: int) -> tuple[float, float]:
    """A process's resident set (MB) and CPU time so far (s, user and system)."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


class House:
    """The simulators, started on entry and stopped on exit."""

    def __init__(
        self,
        scratch: Path,
        *,
        speed: float = 1.0,
        start: float | None = None,
        interval: float = 1.0,
    ) -> None:
        self.scratch = scratch
        self.interval = interval

        def household(seed: int) -> Household:
            return Household(seed=seed, speed=speed, start=start)

        self.senec = SenecSimulator(SenecDevice(household(5)), tls=False)
        self.cloud = SenecCloudSimulator(SenecCloud(household=household(6)))
        self.speedwire = SmaSimulator(
            [
                SmaInverter(3010538001, strings=2, seed=1, household=household(1)),
                SmaInverter(3010538002, strings=3, battery=True, seed=2, household=household(2)),
            ]
        )
        self.webconnect = WebConnectSimulator(
            WebConnectDevice(SmaInverter(3010538003, seed=3, household=household(3)))
        )
        self.ennexos = EnnexosSimulator(
            EnnexosDevice(SmaInverter(3016259004, strings=3, seed=4, household=household(4)))
        )
        self.meter_port = free_port(udp=True)
        self.meter = MeterSender(
            Meter(household(7), serial=1900000007), ("127.0.0.1", self.meter_port), period=1.0
        )

    def __enter__(self) -> House:
        for simulator in (self.senec, self.cloud, self.speedwire, self.webconnect, self.ennexos):
            simulator.start()
        self.meter.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for simulator in (self.senec, self.cloud, self.speedwire, self.webconnect, self.ennexos):
            simulator.stop()
        self.meter.stop()

    def sources(self, only: frozenset[str] | None = None) -> list[dict[str, object]]:
        cas = {}
        for name, simulator in (("webconnect", self.webconnect), ("ennexos", self.ennexos)):
            cas[name] = self.scratch / f"{name}.pem"
            cas[name].write_bytes(simulator.ca_pem or b"")
        account = self.cloud.cloud.account
        sources: list[dict[str, object]] = [
            {"kind": "senec", "name": "senec", "host": self.senec.address, "schema": "http"},
            {
                "kind": "senec-cloud",
                "name": "senec-cloud",
                "username": account.username,
                "password": account.password,
                **self.cloud.settings(),
            },
            {"kind": "sma", "name": "sma", "host": ",".join(self.speedwire.addresses)},
            {
                "kind": "sma-webconnect",
                "name": "webconnect",
                "url": self.webconnect.url,
                "password": "0000",
                "ca_file": str(cas["webconnect"]),
            },
            {
                "kind": "sma-ennexos",
                "name": "ennexos",
                "url": self.ennexos.url,
                "username": "collector",
                "password": "secret",
                "ca_file": str(cas["ennexos"]),
            },
            {
                "kind": "sma-em",
                "name": "meter",
                "serial": "1900000007",
                "group": "none",
                "port": self.meter_port,
            },
        ]
        for source in sources:
            source["measurement"] = MEASUREMENTS[str(source["name"])][0]
            if source["kind"] not in ("senec-cloud", "sma-em"):
                source["interval"] = self.interval
        return [s for s in sources if only is None or s["name"] in only]


def unknown_names(names: list[str]) -> str | None:
    """The problem with `--only` names, or None."""
    unknown = sorted(set(names) - set(MEASUREMENTS))
    if unknown:
        return f"unknown instance {', '.join(unknown)}: choose from {', '.join(MEASUREMENTS)}"
    return None
