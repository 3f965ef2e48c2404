"""The Dockerfile and the compose file, checked offline (no Docker engine here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT


def _tool(name: str) -> str:
    candidates = [Path(sys.executable).parent / name, shutil.which(name)]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise AssertionError(f"{name} is not installed (scripts/test installs it)")


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "\nUSER 10001\n" in text
    assert "HEALTHCHECK" in text
    assert '"collector", "healthcheck"' in text


def compose_config(directory: Path, env: str) -> str:
    """`docker-compose config` for the repository's compose file with `env` as its .env (which
    the collector service reads with env_file, as after `cp .env.example .env`)."""
    shutil.copy(ROOT / "docker-compose.yml", directory / "docker-compose.yml")
    (directory / ".env").write_text(env)
    result = subprocess.run(
        [_tool("docker-compose"), "config"],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def collector_environment(config: str) -> dict[str, str]:
    """The collector service's environment from `docker-compose config`'s output (its block is
    `KEY: value` lines, a value quoted when YAML needs it; no YAML library needed for that)."""
    lines = config.splitlines()
    start = lines.index("  collector:")
    block = lines.index("    environment:", start)
    environment: dict[str, str] = {}
    for line in lines[block + 1 :]:
        if not line.startswith("      "):
            break
        key, _, value = line.strip().partition(": ")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1].replace("''", "'")
        environment[key] = value
    return environment


def services_of(config: str) -> dict[str, str]:
    """Each service's block of `docker-compose config`'s output, by name."""
    lines = config.splitlines()
    start = lines.index("services:")
    blocks: dict[str, list[str]] = {}
    name = ""
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        if line.startswith("  ") and not line.startswith("   ") and line.endswith(":"):
            name = line.strip()[:-1]
            blocks[name] = []
        elif name:
            blocks[name].append(line)
    return {name: "\n".join(block) for name, block in blocks.items()}


DEMO = ["senec-sim", "senec-cloud-sim", "sma-sim", "meter-sim"]


def test_compose_file_validates_with_the_example_environment(tmp_path: Path) -> None:
    """`.env.example` copied unchanged: the demo, with the collector reading the simulators."""
    example = (ROOT / ".env.example").read_text()
    config = compose_config(tmp_path, example)
    assert "condition: service_healthy" in config
    assert "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: change-me-to-a-long-random-token" in config
    environment = collector_environment(config)
    assert environment["COLLECTOR_CONFIG"] == "/demo/collector.toml"
    assert environment.get("SENEC_HOST", "") == ""  # no device of its own beside the demo
    assert environment["BUFFER_MAX_AGE"] == "30d"
    assert environment["BUFFER_MAX_MB"] == "500"
    assert (environment["INFLUX_HOST"], environment["DATA_DIR"]) == ("influxdb", "/data")
    assert "- 127.0.0.1:8086:8086/tcp" in config  # InfluxDB only for this machine by default
    assert "INFLUXDB_LISTEN=127.0.0.1\n" in example
    opened = compose_config(
        tmp_path, example.replace("INFLUXDB_LISTEN=127.0.0.1", "INFLUXDB_LISTEN=0.0.0.0")
    )
    assert "- 0.0.0.0:8086:8086/tcp" in opened
    assert "- collector-data:/data" in config or "source: collector-data" in config
    services = services_of(config)
    assert set(services) == {"collector", "grafana", "influxdb", "mosquitto", *DEMO}
    assert "restart: unless-stopped" in services["collector"]
    assert "max-size: 10m" in services["collector"]


def test_the_demo_profile_is_on_in_the_example_and_serves_what_the_demo_reads(
    tmp_path: Path,
) -> None:
    """COMPOSE_PROFILES=demo in .env.example starts the simulators (docker compose reads it from
    .env); every host the demo's collector.toml names is a demo service listening there; the
    simulators run from the collector's own image, without its health check."""
    import tomllib

    example = (ROOT / ".env.example").read_text()
    assert "\nCOMPOSE_PROFILES=demo\n" in example
    services = services_of(compose_config(tmp_path, example))
    for name in DEMO:
        assert "profiles:\n    - demo" in services[name], name
        assert "target: collector" in services[name], name
        assert "image: energy-collector:latest" in services[name]
        # the image's health check is the collector's: off (compose 1.x writes test: [NONE])
        assert re.search(r"healthcheck:\n\s+(disable: true|test:\n\s+- NONE)", services[name])
    for name in ("collector", "grafana", "influxdb"):
        assert "profiles" not in services[name], name
    assert "target: collector" in services["collector"]
    assert "/demo:ro" in services["collector"] or "target: /demo" in services["collector"]

    demo = tomllib.loads((ROOT / "deploy/demo/collector.toml").read_text())
    listening = {
        name: " ".join(
            line.strip()[2:].strip("'") for line in block.splitlines() if line.startswith("    - ")
        )
        for name, block in services.items()
        if name in DEMO
    }
    for source in demo["source"]:
        for address in source.get("host", "").split(","):
            if not address:
                continue
            host, port = address.split(":")
            assert host in DEMO, address
            command = listening[host]
            first = int(command.split("--port ")[1].split()[0])
            count = int(command.split("--count ")[1].split()[0]) if "--count" in command else 1
            assert first <= int(port) < first + count, (address, command)
            assert "--host 0.0.0.0" in command
        for key in ("cloud_sso_url", "cloud_systems_url"):
            if key in source:
                assert source[key].startswith("http://senec-cloud-sim:8081/")
                assert "--port 8081" in listening["senec-cloud-sim"]
    assert "--to collector" in listening["meter-sim"]  # unicast to the collector's port 9522


def test_the_mqtt_profile_runs_the_broker_the_collector_publishes_to(tmp_path: Path) -> None:
    """COMPOSE_PROFILES=demo,mqtt and the MQTT lines of .env.example as it says: a broker with
    the password of .env, whose port is open to the network, and the collector publishing to
    it (its configuration loads with that environment)."""
    example = (ROOT / ".env.example").read_text()
    env = (
        example.replace("\nCOMPOSE_PROFILES=demo\n", "\nCOMPOSE_PROFILES=demo,mqtt\n")
        .replace("\nMQTT_URL=\n", "\nMQTT_URL=mqtt://mosquitto:1883\n")
        .replace("# MQTT_USERNAME=collector", "MQTT_USERNAME=collector")
        .replace("# MQTT_PASSWORD=change-me-for-mqtt", "MQTT_PASSWORD=pw-of-the-house")
    )
    assert env.count("MQTT_") > example.count("\n# MQTT_")
    config = compose_config(tmp_path, env)
    broker = services_of(config)["mosquitto"]
    assert "profiles:\n    - mqtt" in broker
    assert "image: eclipse-mosquitto:2.0.20" in broker
    assert "MQTT_PASSWORD: pw-of-the-house" in broker
    assert "MQTT_USERNAME: collector" in broker
    assert "0.0.0.0:1883:1883" in broker
    assert "/setup/start.sh" in broker
    environment = collector_environment(config)
    assert environment["MQTT_URL"] == "mqtt://mosquitto:1883"
    from collector.config import load_config

    settings = {k: v for k, v in environment.items() if not k.startswith("INFLUX_URL")}
    settings["COLLECTOR_CONFIG"] = str(ROOT / "deploy/demo/collector.toml")
    loaded = load_config(environ=settings, cwd=tmp_path)
    assert loaded.mqtt is not None
    assert (loaded.mqtt.host, loaded.mqtt.port, loaded.mqtt.username) == (
        "mosquitto",
        1883,
        "collector",
    )
    assert loaded.influx is not None  # the compose stack writes to its InfluxDB as well


def test_without_the_demo_lines_the_collector_reads_the_devices_of_env(tmp_path: Path) -> None:
    """The README's switch to real devices: delete the two demo lines, set an address."""
    lines = [
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if not line.startswith(("COMPOSE_PROFILES=", "COLLECTOR_CONFIG=", "SENEC_HOST="))
    ]
    env = "\n".join([*lines, "SENEC_HOST=192.168.178.29"])
    environment = collector_environment(compose_config(tmp_path, env))
    assert environment["SENEC_HOST"] == "192.168.178.29"
    assert environment.get("COLLECTOR_CONFIG", "") == ""


def test_the_demo_configuration_loads_with_the_example_environment(tmp_path: Path) -> None:
    """What the demo's collector reads: .env.example and deploy/demo/collector.toml, checked by
    `collector config` as in the container (the file at its repository path)."""
    from tests.harness import run_collector

    example = (ROOT / ".env.example").read_text()
    (tmp_path / ".env").write_text(
        example.replace("/demo/collector.toml", str(ROOT / "deploy/demo/collector.toml"))
    )
    result = run_collector(tmp_path, {}, "config")
    assert result.returncode == 0, result.stderr
    for name in ("[[source]] senec (kind senec)", "senec-cloud (kind senec-cloud)"):
        assert name in result.stdout
    assert "[[source]] sma (kind sma)" in result.stdout
    assert "[[source]] meter (kind sma-em)" in result.stdout
    assert "sma-sim:9522,sma-sim:9523" in result.stdout
    assert "SENEC_CLOUD" in result.stdout


def test_the_stack_pulls_pinned_images() -> None:
    """InfluxDB 2.7.x and Grafana 11.x by full version: `docker compose pull` moves nothing by
    surprise (README "Updating" says how to move them on)."""
    compose = (ROOT / "docker-compose.yml").read_text()
    images = re.findall(r"^\s+image: (\S+)$", compose, re.MULTILINE)
    pulled = [image for image in images if not image.startswith("energy-collector")]
    assert sorted(pulled) == sorted(set(pulled))
    assert any(re.fullmatch(r"influxdb:2\.7\.\d+", image) for image in pulled), pulled
    assert any(re.fullmatch(r"grafana/grafana-oss:11\.\d+\.\d+", image) for image in pulled)
    assert any(re.fullmatch(r"eclipse-mosquitto:2\.0\.\d+", image) for image in pulled)
    assert len(pulled) == 3
    assert "FROM python:3.12-slim AS build" in (ROOT / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    for image in pulled:
        assert image in readme, image


def test_every_setting_in_env_reaches_the_collector(tmp_path: Path) -> None:
    """Whatever a kind or a core table declares, set in .env, is in the collector's environment
    (a list of forwarded variables in the compose file once lost SENEC_CA_FILE and *_FILE)."""
    from collector.config import TABLES, keys_of, secret_keys, variable_of
    from collector.sources import load_kinds

    models = [(table.model, table.prefix) for table in TABLES]
    models += [(kind.settings, kind.env_prefix) for kind in load_kinds().values()]
    variables = set()
    for model, prefix in models:
        for key in keys_of(model):
            variable = variable_of(model, prefix, key)
            variables.add(variable)
            if key in secret_keys(model):
                variables.add(f"{variable}_FILE")
    fixed = {"INFLUX_URL", "INFLUX_HOST", "INFLUX_PORT", "DATA_DIR"}  # set by the compose file
    env = "\n".join(
        [
            "INFLUX_ADMIN_PASSWORD=x",  # (the influxdb and grafana services require these)
            "GRAFANA_PASSWORD=x",
            *(f"{name}=from-env-{number}" for number, name in enumerate(sorted(variables))),
        ]
    )
    environment = collector_environment(compose_config(tmp_path, env))
    for number, name in enumerate(sorted(variables)):
        if name not in fixed:
            assert environment.get(name) == f"from-env-{number}", name
    assert environment["INFLUX_HOST"] == "influxdb"


def test_compose_file_accepts_an_sma_only_setup(tmp_path: Path) -> None:
    lines = [
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if not line.startswith(("SENEC_HOST=", "SMA_HOST="))
    ]
    env = "\n".join([*lines, "SMA_HOST=192.168.178.40,192.168.178.41"])
    environment = collector_environment(compose_config(tmp_path, env))
    assert environment["SMA_HOST"] == "192.168.178.40,192.168.178.41"
    assert environment.get("SENEC_HOST", "") == ""  # not set: no SENEC instance


def test_env_example_and_the_pages_document_every_setting() -> None:
    """The core's settings in README.md, each kind's on its own page; all in .env.example."""
    from collector.config import TABLES, keys_of, secret_keys, variable_of
    from collector.sources import load_kinds
    from tests.harness import kind_folder

    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    models = [(table.model, table.prefix, readme) for table in TABLES]
    models += [
        (kind.settings, kind.env_prefix, (kind_folder(kind) / "README.md").read_text())
        for kind in load_kinds().values()
    ]
    for model, prefix, page in models:
        for key in keys_of(model):
            variable = variable_of(model, prefix, key)
            assert variable in example, variable
            assert f"`{variable}`" in page, variable
            if key in secret_keys(model):
                assert f"`{variable}_FILE`" in page, variable
