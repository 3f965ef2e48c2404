"""The command line: configuration errors one by one, check, simulate, healthcheck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.sources.senec.simulator import SenecDevice, SenecSimulator
from tests.harness import clean_environment, run_collector, senec_settings


@pytest.fixture
def simulator() -> Iterator[SenecSimulator]:
    sim = SenecSimulator(SenecDevice(), tls=True).start()
    yield sim
    sim.stop()


def test_check_prints_line_protocol_and_exits_0(tmp_path: Path, simulator: SenecSimulator) -> None:
    result = run_collector(tmp_path, {**senec_settings(simulator), "LOG_FORMAT": "json"}, "check")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    assert line.startswith('SENEC application_version="0826",')
    assert "house_power=" in line
    assert "current_state=" in line
    assert '"event": "reading"' in result.stderr  # logs go to stderr in check mode


def test_check_writes_to_the_configured_measurement(
    tmp_path: Path, simulator: SenecSimulator
) -> None:
    result = run_collector(
        tmp_path, {**senec_settings(simulator), "INFLUX_MEASUREMENT": "house"}, "check"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('house application_version="0826",')


def test_one_daemon_per_data_dir_and_the_queue_beside_it(
    tmp_path: Path, simulator: SenecSimulator
) -> None:
    from tests.harness import Collector

    env = {
        **senec_settings(simulator),
        "INFLUX_URL": "http://127.0.0.1:9",  # nothing listens: the readings stay queued
        "INFLUX_ORG": "-",
        "INFLUX_BUCKET": "solar",
        "SENEC_INTERVAL": "1",
        "DATA_DIR": str(tmp_path / "data"),
    }
    first = Collector(tmp_path / "first", env)
    try:
        first.wait_events("reading", 2)
        second = run_collector(tmp_path, env)
        assert second.returncode == 2
        assert second.stderr == (
            f"collector: another collector (process {first.process.pid}) is running with "
            f"DATA_DIR {tmp_path / 'data'}: stop it first, or give this one another DATA_DIR\n"
        )
        queue = run_collector(tmp_path, env, "queue")
        assert queue.returncode == 0, queue.stderr
        assert f"queue     {tmp_path / 'data' / 'queue.sqlite3'}" in queue.stdout
        assert "pending   " in queue.stdout
    finally:
        assert first.stop() == 0
    assert "Traceback" not in first.text()


def test_check_exits_1_when_a_source_does_not_answer(tmp_path: Path) -> None:
    from tests.servers import free_port

    result = run_collector(tmp_path, {"SENEC_HOST": f"127.0.0.1:{free_port()}"}, "check")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "poll failed" in result.stderr
    assert "cannot connect" in result.stderr


def test_check_says_when_the_certificate_does_not_match_the_ca(
    tmp_path: Path, simulator: SenecSimulator
) -> None:
    other = SenecSimulator(SenecDevice(), tls=True)  # a different CA
    ca = tmp_path / "other-ca.pem"
    ca.write_bytes(other.ca_pem or b"")
    other.server.server_close()
    result = run_collector(tmp_path, {**senec_settings(simulator, ca)}, "check")
    assert result.returncode == 1
    assert "TLS handshake" in result.stderr
    assert "SENEC_CA_FILE" in result.stderr


def test_simulate_command_serves_plain_http(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector",
            "simulate",
            "senec",
            "--http",
            "--port",
            "0",
            "--utc-offset",
            "-300",
        ],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("SENEC simulator listening on http://127.0.0.1:")
        address = banner.split("http://", 1)[1].split()[0]
        before = int(time.time())
        result = run_collector(tmp_path, {"SENEC_HOST": address, "SENEC_SCHEMA": "http"}, "check")
        assert result.returncode == 0, result.stderr
        stamp = int(result.stdout.strip().rsplit(" ", 1)[1])
        assert before - 1 <= stamp <= int(time.time()) + 1  # negative UTC offset handled
    finally:
        process.terminate()
        assert process.wait(10) == 0


def test_healthcheck(tmp_path: Path) -> None:
    from collector.health import QueueHealth, SourceHealth, check_health, write_health

    queue = QueueHealth(pending=0, on_disk=True, error=None, growing_since=None, write_error=None)

    data = tmp_path / "data"
    result = run_collector(tmp_path, {"DATA_DIR": str(data)}, "healthcheck")
    assert result.returncode == 1
    assert "not running" in result.stderr
    data.mkdir()
    now = time.time()
    write_health(data, now - 100, [SourceHealth("senec-local", 5, now - 2)], queue, 600, 10)
    result = run_collector(tmp_path, {"DATA_DIR": str(data)}, "healthcheck")
    assert result.returncode == 0, result.stderr
    write_health(data, now - 100, [SourceHealth("senec-local", 5, now - 95)], queue, 600, 10)
    assert check_health(data, now) == ["senec-local: no reading for 95 s (limit 60 s)"]
    assert check_health(data, now + 200)[0].startswith("the collector has not updated")
    # a stopped instance is reported at once, with its cause
    stopped = SourceHealth("roof", 5, None, "the inverter refused the password")
    write_health(data, now, [stopped], queue, 600, 10)
    assert check_health(data, now) == ["roof: stopped: the inverter refused the password"]
    # a daemon that has exited: at once, by its process id, or by its last word
    write_health(data, now, [SourceHealth("senec", 5, now)], queue, 600, 10, exited=True)
    assert check_health(data, now) == [f"the collector (process {os.getpid()}) has stopped"]
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    document = json.loads((data / "health.json").read_text())
    document.update(pid=int(gone.stdout), exited=False)
    (data / "health.json").write_text(json.dumps(document))
    assert check_health(data, now) == [
        f"the collector (process {int(gone.stdout)}) is not running any more"
    ]


def test_check_reads_sma_inverters_without_any_senec(tmp_path: Path) -> None:
    from collector.sources.sma.simulator import SmaInverter, SmaSimulator

    simulator = SmaSimulator([SmaInverter(3010538116), SmaInverter(3010538117, seed=2)]).start()
    try:
        result = run_collector(
            tmp_path,
            {"SMA_HOST": ",".join(simulator.addresses), "SMA_TIMEOUT": "0.5"},
            "check",
        )
    finally:
        simulator.stop()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("SMA,serial=3010538116 ")
    assert lines[1].startswith("SMA,serial=3010538117 ")
    assert all(",ac_power=" in line and 'device_status="Ok"' in line for line in lines)


def test_discover_finds_simulated_inverters_by_unicast(tmp_path: Path) -> None:
    from collector.sources.sma.simulator import SmaInverter, SmaSimulator

    devices = [SmaInverter(3010538116), SmaInverter(3010538117, battery=True, seed=2)]
    simulator = SmaSimulator(devices).start()
    try:
        found = run_collector(
            tmp_path, {}, "discover", "--no-multicast", "--wait", "0.5", *simulator.addresses
        )
        wrong = run_collector(
            tmp_path,
            {"SMA_PASSWORD": "9999"},
            "discover",
            "--no-multicast",
            "--wait",
            "0.5",
            simulator.addresses[0],
        )
    finally:
        simulator.stop()
    assert found.returncode == 0, found.stderr
    lines = device_lines(found.stdout)
    assert len(lines) == 2
    by_serial = {line.split("  ")[1]: line for line in lines}  # sorted by address, not serial
    first, second = by_serial["serial 3010538116"], by_serial["serial 3010538117"]
    assert first.startswith(f"{simulator.addresses[0]}  serial 3010538116  SUSyID 378")
    assert "PV inverter  type 9345  software 03.10.10.R" in first
    assert second.startswith(f"{simulator.addresses[1]}  serial 3010538117")
    assert "hybrid inverter" in second
    assert "2 Speedwire devices; set SMA_HOST" in found.stderr
    assert wrong.returncode == 0
    assert "serial 3010538116" in wrong.stdout
    assert "type and version unknown: " in wrong.stdout
    assert "refused the user password" in wrong.stdout


def device_lines(stdout: str) -> list[str]:
    """discover's lines of Speedwire devices (not those of the protocols per given address)."""
    return [line for line in stdout.strip().splitlines() if "  Speedwire: " not in line]


def test_discover_tells_which_protocol_answers_at_each_address(tmp_path: Path) -> None:
    """Speedwire and WebConnect at one address, ennexOS at another (on the same web port)."""
    from collector.sources.sma.simulator import SmaInverter, SmaSimulator
    from collector.sources.sma_ennexos.simulator import EnnexosSimulator
    from collector.sources.sma_webconnect.simulator import WebConnectSimulator

    speedwire = SmaSimulator([SmaInverter(3010538116)]).start()
    webconnect = WebConnectSimulator().start()
    port = int(webconnect.url.rsplit(":", 1)[1])
    ennexos = EnnexosSimulator(host="127.0.0.2", port=port).start()
    udp = int(speedwire.addresses[0].rsplit(":", 1)[1])
    try:
        result = run_collector(
            tmp_path,
            {},
            "discover",
            "--no-multicast",
            "--wait",
            "0.5",
            "--web-port",
            str(port),
            f"127.0.0.1:{udp}",
            f"127.0.0.2:{udp}",
        )
    finally:
        for simulator in (speedwire, webconnect, ennexos):
            simulator.stop()
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "  Speedwire: " in line]
    assert lines == [
        f"127.0.0.1  Speedwire: answers (serial 3010538116)  WebConnect: answers at "
        f"https://127.0.0.1:{port}  ennexOS: no answer  -> configure kind sma "
        f"(SMA_HOST=127.0.0.1:{udp}) or kind sma-webconnect "
        f"(SMA_WEBCONNECT_URL=https://127.0.0.1:{port})",
        f"127.0.0.2  Speedwire: no answer  WebConnect: no answer  ennexOS: answers at "
        f"https://127.0.0.2:{port} (product tag 9491)  -> configure kind sma-ennexos "
        f"(SMA_ENNEXOS_URL=https://127.0.0.2:{port})",
    ]
    assert webconnect.device.state()["logins"] == 0  # asked without a session


def test_discover_says_when_nothing_answers(tmp_path: Path) -> None:
    from tests.servers import free_port

    result = run_collector(
        tmp_path, {}, "discover", "--no-multicast", "--wait", "0.3", f"127.0.0.1:{free_port()}"
    )
    assert result.returncode == 1
    assert (
        "no SMA device answered at the given addresses within 0.3 s (Speedwire; WebConnect and "
        "ennexOS on port 443)" in result.stderr
    )
    [line] = result.stdout.splitlines()
    assert line.endswith("-> no SMA protocol answers here")


def test_discover_lists_a_device_with_two_addresses_once(tmp_path: Path) -> None:
    from collector.sources.sma.simulator import SmaInverter, SmaSimulator

    device = SmaInverter(3010538116)
    simulator = SmaSimulator([device, device]).start()  # the same inverter on LAN and WLAN
    try:
        result = run_collector(
            tmp_path, {}, "discover", "--no-multicast", "--wait", "0.5", *simulator.addresses
        )
    finally:
        simulator.stop()
    assert result.returncode == 0, result.stderr
    lines = device_lines(result.stdout)
    assert len(lines) == 1
    assert "serial 3010538116" in lines[0]
    other = sorted(simulator.addresses, key=lambda a: int(a.rsplit(":", 1)[1]))[1]
    assert f"also answers at {other}" in lines[0]


def test_library_log_records_are_rendered_like_ours(tmp_path: Path) -> None:
    """influxdb-client and urllib3 log through the standard library: JSON stays JSON."""
    code = (
        "import io, json, logging\n"
        "from collector.logging import configure_logging\n"
        "out = io.StringIO()\n"
        "configure_logging('info', 'json', out)\n"
        "logging.getLogger('urllib3.connectionpool').warning('Retrying %s', 'x')\n"
        "logging.getLogger('urllib3').info('not shown')\n"
        "print(out.getvalue(), end='')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=clean_environment(),
    )
    [line] = result.stdout.splitlines()
    event = json.loads(line)
    assert event["event"] == "Retrying x"
    assert event["level"] == "warning"
    assert event["logger"] == "urllib3.connectionpool"
    assert event["timestamp"].endswith("Z")


def test_discover_lists_the_meters_it_hears(tmp_path: Path) -> None:
    from collector.sources.sma_em.simulator import Meter, MeterSender
    from tests.servers import free_port

    port = free_port(udp=True)
    sender = MeterSender(Meter(serial=3014930442, layout="shm2"), ("127.0.0.1", port), period=0.05)
    sender.start()
    try:
        result = run_collector(
            tmp_path, {}, "discover", "--no-multicast", "--wait", "1", "--meter-port", str(port)
        )
    finally:
        sender.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [
        "energy meter  serial 3014930442  SUSyID 372  Sunny Home Manager 2.0  "
        "software 2.3.4.R  (set SMA_EM_SERIAL)"
    ]
