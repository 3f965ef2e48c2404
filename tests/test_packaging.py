"""The Dockerfile and the compose file, checked offline (no Docker engine here)."""

from __future__ import annotations

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


def test_compose_file_validates_with_the_example_environment(tmp_path: Path) -> None:
    config = compose_config(tmp_path, (ROOT / ".env.example").read_text())
    assert "condition: service_healthy" in config
    assert "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: change-me-to-a-long-random-token" in config
    environment = collector_environment(config)
    assert environment["SENEC_HOST"] == "192.168.178.29"
    assert environment["BUFFER_MAX_AGE"] == "30d"
    assert environment["BUFFER_MAX_MB"] == "500"
    assert (environment["INFLUX_HOST"], environment["DATA_DIR"]) == ("influxdb", "/data")
    assert "- 127.0.0.1:8086:8086/tcp" in config  # InfluxDB only for this machine by default
    example = (ROOT / ".env.example").read_text()
    assert "INFLUXDB_LISTEN=127.0.0.1\n" in example
    opened = compose_config(
        tmp_path, example.replace("INFLUXDB_LISTEN=127.0.0.1", "INFLUXDB_LISTEN=0.0.0.0")
    )
    assert "- 0.0.0.0:8086:8086/tcp" in opened
    assert "- collector-data:/data" in config or "source: collector-data" in config


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


def test_env_example_and_readme_document_every_setting() -> None:
    from collector.config import TABLES, keys_of, secret_keys, variable_of
    from collector.sources import load_kinds

    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    models = [(table.model, table.prefix) for table in TABLES]
    models += [(kind.settings, kind.env_prefix) for kind in load_kinds().values()]
    for model, prefix in models:
        for key in keys_of(model):
            variable = variable_of(model, prefix, key)
            assert variable in example, variable
            assert f"`{variable}`" in readme, variable
            if key in secret_keys(model):
                assert f"`{variable}_FILE`" in readme, variable
