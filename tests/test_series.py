"""Two instances of one kind in one measurement, without tags (issue 19.2): every registered kind.

A kind with a `series_tag` (a serial, a SENEC system) may share a measurement: the daemon
writes two instances of it, each against its own simulated device, and InfluxDB holds two
series told apart by that tag. A kind without one cannot tell its instances apart, so the
configuration refuses two of them in one series. A kind added later without an entry in
`PAIRS` fails here until it has one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.config import load_config
from collector.errors import ConfigError
from collector.sources import load_kinds
from collector.sources.senec_cloud.simulator import SenecCloud, SenecCloudSimulator
from collector.sources.senec_connect.simulator import KEY, SenecConnect, SenecConnectSimulator
from collector.sources.sma.simulator import SmaInverter, SmaSimulator
from collector.sources.sma_em.simulator import Meter, MeterSender
from collector.sources.sma_ennexos.simulator import EnnexosDevice, EnnexosSimulator
from collector.sources.sma_webconnect.simulator import WebConnectDevice, WebConnectSimulator
from tests.harness import Collector, toml_file, unique
from tests.servers import InfluxDB1, free_port

KINDS = load_kinds()
Settings = dict[str, object]
# kind -> the settings of two instances, each against a device of its own (started here)
Pair = Callable[[contextlib.ExitStack, Path], tuple[Settings, Settings]]


def _ca(simulator: WebConnectSimulator | EnnexosSimulator, path: Path) -> str:
    path.write_bytes(simulator.ca_pem or b"")
    return str(path)


def _sma(stack: contextlib.ExitStack, tmp: Path) -> tuple[Settings, Settings]:
    simulator = SmaSimulator([SmaInverter(3010538201, seed=1), SmaInverter(3010538202)]).start()
    stack.callback(simulator.stop)
    first, second = simulator.addresses
    return {"host": first, "interval": 1}, {"host": second, "interval": 1}


def _sma_em(stack: contextlib.ExitStack, tmp: Path) -> tuple[Settings, Settings]:
    port = free_port(udp=True)
    for serial in (1001, 1002):
        sender = MeterSender(Meter(serial=serial), ("127.0.0.1", port), period=0.2).start()
        stack.callback(sender.stop)
    common: Settings = {"group": "none", "port": port, "interval": 1}
    return {"serial": "1001", **common}, {"serial": "1002", **common}


def _webconnect(stack: contextlib.ExitStack, tmp: Path) -> tuple[Settings, Settings]:
    pair = []
    for index, serial in enumerate((3010538211, 3010538212)):
        simulator = WebConnectSimulator(WebConnectDevice(SmaInverter(serial))).start()
        stack.callback(simulator.stop)
        ca = _ca(simulator, tmp / f"webconnect{index}.pem")
        pair.append({"url": simulator.url, "password": "0000", "ca_file": ca, "interval": 1})
    return pair[0], pair[1]


def _ennexos(stack: contextlib.ExitStack, tmp: Path) -> tuple[Settings, Settings]:
    pair = []
    for index, serial in enumerate((3016259221, 3016259222)):
        simulator = EnnexosSimulator(EnnexosDevice(SmaInverter(serial))).start()
        stack.callback(simulator.stop)
        ca = _ca(simulator, tmp / f"ennexos{index}.pem")
        login = {"username": "collector", "password": "secret"}
        pair.append({"url": simulator.url, **login, "ca_file": ca, "interval": 1})
    return pair[0], pair[1]


def _senec_cloud(stack: contextlib.ExitStack, tmp: Path) -> tuple[Settings, Settings]:
    cloud = SenecCloud(systems=2)
    simulator = SenecCloudSimulator(cloud).start()
    stack.callback(simulator.stop)
    login = {"username": cloud.account.username, "password": cloud.account.password}
    common: Settings = {**login, **simulator.settings()}
    first, second = cloud.systems
    return {"system_id": first, **common}, {"system_id": second, **common}


def _senec_connect(stack: contextlib.ExitStack, tmp: Path) -> tuple[Settings, Settings]:
    simulator = SenecConnectSimulator(SenecConnect(systems=2)).start()
    stack.callback(simulator.stop)
    common: Settings = {"key": KEY, "url": simulator.url, "interval": 10}
    first, second = "S4H1-SIM-0001", "S4H1-SIM-0002"
    return {"system_id": first, **common}, {"system_id": second, **common}


PAIRS: dict[str, Pair] = {
    "sma": _sma,
    "sma-em": _sma_em,
    "sma-webconnect": _webconnect,
    "sma-ennexos": _ennexos,
    "senec-cloud": _senec_cloud,
    "senec-connect": _senec_connect,
}
TAGGED = [kind for kind in KINDS.values() if kind.series_tag]
UNTAGGED = [kind for kind in KINDS.values() if not kind.series_tag]


def test_every_kind_with_a_series_tag_has_a_pair_of_devices_here() -> None:
    assert sorted(kind.name for kind in TAGGED) == sorted(PAIRS)


@pytest.fixture
def pairs(tmp_path: Path) -> Iterator[dict[str, tuple[Settings, Settings]]]:
    with contextlib.ExitStack() as stack:
        yield {kind.name: PAIRS[kind.name](stack, tmp_path) for kind in TAGGED}


@pytest.mark.servers
def test_two_instances_of_every_kind_in_one_measurement_are_two_series(
    influxdb1: InfluxDB1, pairs: dict[str, tuple[Settings, Settings]], tmp_path: Path
) -> None:
    database = unique("series")
    influxdb1.create_database(database)
    measurement = {kind: unique(kind.replace("-", "_")) for kind in pairs}
    sources: list[Settings] = []
    for kind, (first, second) in pairs.items():
        for suffix, settings in (("a", first), ("b", second)):
            name = f"{kind}-{suffix}"
            sources.append({"kind": kind, "name": name, "measurement": measurement[kind]})
            sources[-1].update(settings)
    tables: dict[str, Settings] = {
        "influx": {"api": "v1", "url": influxdb1.url, "bucket": database}
    }
    config = tmp_path / "collector.toml"
    config.write_text(toml_file(sources, tables), encoding="utf-8")
    names = [str(source["name"]) for source in sources]
    collector = Collector(tmp_path / "c", {"COLLECTOR_CONFIG": str(config)})

    def written(name: str) -> bool:
        return any(event.get("source") == name for event in collector.named("reading"))

    collector.wait_for(
        lambda: all(written(name) for name in names), timeout=30, what="a reading of each"
    )
    assert collector.stop() == 0
    assert collector.named("reading not written: it has no series tag") == []
    for kind, name in measurement.items():
        tag = KINDS[kind].series_tag
        result = influxdb1.query(f'SHOW SERIES FROM "{name}"', database)["results"][0]
        series = sorted(row[0] for row in result["series"][0]["values"])
        assert len(series) == 2, (kind, series)
        values = {part.split("=", 1)[1] for key in series for part in key.split(",")[1:]}
        assert all(f",{tag}=" in key for key in series), (kind, series)
        assert len(values) == 2, (kind, series)  # two devices, two values of the tag


@pytest.mark.parametrize("kind", [kind.name for kind in UNTAGGED])
def test_two_instances_of_a_kind_without_a_series_tag_are_refused(
    kind: str, tmp_path: Path
) -> None:
    key = KINDS[kind].env_triggers[0]  # the setting that makes an instance (senec: host)
    config = tmp_path / "collector.toml"
    config.write_text(
        f"""
[influx]
api = "v1"
url = "http://127.0.0.1:1"
bucket = "b"

[[source]]
kind = "{kind}"
name = "one"
{key} = "127.0.0.1"

[[source]]
kind = "{kind}"
name = "two"
{key} = "127.0.0.2"
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"COLLECTOR_CONFIG": str(config)}, cwd=tmp_path)
    assert any(
        problem.startswith("one and two would write the same series")
        for problem in refused.value.problems
    ), refused.value.problems
