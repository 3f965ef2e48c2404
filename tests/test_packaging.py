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


def test_compose_file_validates_with_the_example_environment() -> None:
    result = subprocess.run(
        [_tool("docker-compose"), "--env-file", ".env.example", "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    config = result.stdout
    assert "condition: service_healthy" in config
    assert "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: change-me-to-a-long-random-token" in config
    assert "SENEC_HOST: 192.168.178.29" in config
    assert "BUFFER_MAX_AGE: 30d" in config
    assert "BUFFER_MAX_MB: '500'" in config
    assert "- collector-data:/data" in config or "source: collector-data" in config


def test_compose_file_accepts_an_sma_only_setup(tmp_path: Path) -> None:
    env = tmp_path / "env"
    lines = [
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if not line.startswith(("SENEC_HOST=", "SMA_HOST="))
    ]
    env.write_text("\n".join([*lines, "SMA_HOST=192.168.178.40,192.168.178.41"]))
    result = subprocess.run(
        [_tool("docker-compose"), "--env-file", str(env), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "SMA_HOST: 192.168.178.40,192.168.178.41" in result.stdout
    assert "SENEC_HOST: ''" in result.stdout


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
