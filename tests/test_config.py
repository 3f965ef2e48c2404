"""Configuration from the environment, a .env file and a TOML file: values, origins, errors."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from collector.config import Config, load_config, secret_keys, variable_of
from collector.errors import ConfigError
from collector.settings import PolledSettings, parse_address
from collector.sources import load_kinds
from collector.sources.senec.settings import SenecSettings
from tests.harness import run_collector

MINIMAL = {
    "SENEC_HOST": "192.0.2.10",
    "INFLUX_HOST": "influxdb",
    "INFLUX_ORG": "home",
    "INFLUX_BUCKET": "solar",
    "INFLUX_TOKEN": "t0ken",
}
INFLUX = {k: v for k, v in MINIMAL.items() if k.startswith("INFLUX_")}


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in MINIMAL.items() if k != name}


def load(env: dict[str, str], cwd: Path, **kwargs: Any) -> Config:
    return load_config(environ=env, cwd=cwd, **kwargs)


def problems(env: dict[str, str], cwd: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(env, cwd)
    return caught.value.problems


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            without("SENEC_HOST"),
            "no source configured: set SENEC_HOST, SENEC_ADAPTER=cloud, SENEC_CONNECT_KEY, "
            "SMA_HOST, SMA_EM_SERIAL, SMA_ENNEXOS_URL, SMA_WEBCONNECT_URL, or name a TOML",
        ),
        ({**MINIMAL, "SENEC_HOST": "https://192.0.2.10"}, "SENEC_HOST: give only the host name"),
        (
            {**MINIMAL, "SENEC_HOST": "192.0.2.10:http"},
            "SENEC_HOST: the port in '192.0.2.10:http' must be a number from 1 to 65535",
        ),
        ({**MINIMAL, "SENEC_SCHEMA": "ftp"}, "SENEC_SCHEMA: must be 'https' or 'http'"),
        ({**MINIMAL, "SENEC_INTERVAL": "0.5"}, "SENEC_INTERVAL: must be greater than or equal"),
        ({**MINIMAL, "SENEC_INTERVAL": "often"}, "SENEC_INTERVAL: must be a valid number"),
        ({**MINIMAL, "SENEC_INTERVAL": "inf"}, "SENEC_INTERVAL: must be a finite number"),
        (
            {**MINIMAL, "SENEC_INTERVAL": "5", "SENEC_TIMEOUT": "5"},
            "SENEC_TIMEOUT: 5 s must fit into the interval (5 s)",
        ),
        ({**MINIMAL, "SENEC_LANGUAGE": "fr"}, "SENEC_LANGUAGE: must be 'de', 'en' or 'it'"),
        ({**MINIMAL, "SENEC_IGNORE": "house_power,bogus"}, "SENEC_IGNORE: unknown field bogus"),
        ({**MINIMAL, "SENEC_CA_FILE": "/nonexistent/ca.pem"}, "SENEC_CA_FILE: no such file"),
        (
            {**MINIMAL, "SENEC_SCHEMA": "http", "SENEC_CA_FILE": "/etc/hostname"},
            "SENEC_CA_FILE: only makes sense with https",
        ),
        (
            {**MINIMAL, "SENEC_ADAPTER": "cloud", "SENEC_PASSWORD": "pw"},
            "SENEC_USERNAME: is required",
        ),
        (
            {**INFLUX, "SENEC_ADAPTER": "cloud", "SENEC_USERNAME": "me", "SENEC_PASSWORD": "x"},
            "SENEC_USERNAME: must be the e-mail address you log in to mein-senec.de with",
        ),
        ({**MINIMAL, "SENEC_ADAPTER": "clod"}, "SENEC_ADAPTER: 'clod' is none of local, cloud"),
        (without("INFLUX_HOST"), "INFLUX_HOST: is required (or give the whole INFLUX_URL)"),
        ({**MINIMAL, "INFLUX_URL": "influxdb:8086"}, "INFLUX_URL: must look like http://"),
        ({**MINIMAL, "INFLUX_URL": "http://u:p@influxdb:8086"}, "INFLUX_URL: must not contain"),
        ({**MINIMAL, "INFLUX_PORT": "99999"}, "INFLUX_PORT: must be less than or equal to 65535"),
        (without("INFLUX_BUCKET"), "INFLUX_BUCKET: is required"),
        (without("INFLUX_ORG"), "INFLUX_ORG: is required with INFLUX_API=v2"),
        ({**MINIMAL, "INFLUX_API": "v3"}, "INFLUX_API: must be 'v2' or 'v1'"),
        (
            {**MINIMAL, "INFLUX_API": "v1"},
            "INFLUX_TOKEN: with INFLUX_API=v1 it must be user:password",
        ),
        (
            {**MINIMAL, "INFLUX_API": "v1", "INFLUX_TOKEN": "change-me-to-a-long-random-token"},
            "INFLUX_TOKEN: is still the example's placeholder; with INFLUX_API=v1 put user:pass",
        ),
        ({**MINIMAL, "INFLUX_TIMEOUT": "-1"}, "INFLUX_TIMEOUT: must be greater than 0"),
        ({**MINIMAL, "LOG_LEVEL": "loud"}, "LOG_LEVEL: must be 'debug', 'info', 'warning' or"),
        ({**MINIMAL, "LOG_FORMAT": "xml"}, "LOG_FORMAT: must be 'console' or 'json'"),
        ({**MINIMAL, "BUFFER_MAX_AGE": "soon"}, "BUFFER_MAX_AGE: must be a duration"),
        (
            {**without("INFLUX_TOKEN"), "INFLUX_TOKEN_FILE": "/nonexistent/token"},
            "INFLUX_TOKEN_FILE: cannot read /nonexistent/token",
        ),
        (
            {**MINIMAL, "INFLUX_TOKEN_FILE": "/etc/hostname"},
            "INFLUX_TOKEN: set either INFLUX_TOKEN or INFLUX_TOKEN_FILE, not both",
        ),
        ({**MINIMAL, "SMA_HOST": "http://192.168.1.5"}, "SMA_HOST: give only the host name"),
        ({**MINIMAL, "SMA_HOST": "192.168.1.5:70000"}, "SMA_HOST: the port in '192.168.1.5:70000'"),
        (
            {**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_PASSWORD": "x" * 13},
            "SMA_PASSWORD: a Speedwire",
        ),
        ({**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_USER_GROUP": "admin"}, "SMA_USER_GROUP: must be"),
        (
            {**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_INTERVAL": "inf"},
            "SMA_INTERVAL: must be a finite",
        ),
        (
            {**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_INTERVAL": "2", "SMA_TIMEOUT": "1"},
            "SMA_TIMEOUT: 3 attempts of 1 s must fit into the interval (2 s)",
        ),
        (
            {**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_PASSWORD_FILE": "/nonexistent/pw"},
            "SMA_PASSWORD_FILE: cannot read /nonexistent/pw",
        ),
        (
            {**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_MEASUREMENT": "SENEC"},
            "senec and sma would write the same series (measurement 'SENEC', no tags)",
        ),
        ({**MINIMAL, "COLLECTOR_CONFIG": "/nonexistent.toml"}, "COLLECTOR_CONFIG: no such file"),
    ],
)
def test_each_variable_problem_is_one_line(tmp_path: Path, env: dict[str, str], line: str) -> None:
    found = problems(env, tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith(line), found


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    found = problems({"SENEC_INTERVAL": "0", "INFLUX_API": "v3", "LOG_FORMAT": "xml"}, tmp_path)
    assert len(found) == 3, found  # the interval is moot without a host; no source configured


def test_configuration_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    result = run_collector(tmp_path, {**MINIMAL, "SENEC_INTERVAL": "0", "LOG_FORMAT": "xml"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "configuration error: LOG_FORMAT: must be 'console' or 'json' (got 'xml')",
        "configuration error: SENEC_INTERVAL: must be greater than or equal to 1 (got '0')",
    ]
    assert result.stdout == ""


# --- defaults that follow from each other -------------------------------------------------


@pytest.mark.parametrize("interval", ["1", "2", "3", "5", "60"])
def test_every_interval_is_accepted_without_a_timeout(tmp_path: Path, interval: str) -> None:
    config = load(
        {**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_INTERVAL": interval, "SENEC_INTERVAL": interval},
        tmp_path,
    )
    for instance in config.instances:
        settings = instance.settings
        assert isinstance(settings, PolledSettings)
        assert settings.effective_timeout * settings.attempts < settings.interval


def test_variables_at_their_defaults_configure_no_instance(tmp_path: Path) -> None:
    """docker compose passes every variable, most at their defaults: only SMA runs here."""
    env = {**INFLUX, "SENEC_ADAPTER": "local", "SENEC_SCHEMA": "https", "SMA_HOST": "10.0.0.9"}
    config = load(env, tmp_path)
    assert [instance.kind for instance in config.instances] == ["sma"]


def test_sma_timeout_defaults_to_one_second_at_the_default_interval(tmp_path: Path) -> None:
    config = load({**INFLUX, "SMA_HOST": "10.0.0.9"}, tmp_path)
    settings = config.instances[0].settings
    assert isinstance(settings, PolledSettings)
    assert settings.effective_timeout == 1.0


def test_a_low_senec_interval_is_a_warning(tmp_path: Path) -> None:
    config = load({**MINIMAL, "SENEC_INTERVAL": "2"}, tmp_path)
    assert config.warnings == [
        "SENEC_INTERVAL: 2 s: polling a SENEC device more often than every 5 s may stop its "
        "cloud sync or make it restart"
    ]


def test_influx_measurement_is_the_senec_measurement(tmp_path: Path) -> None:
    config = load({**MINIMAL, "INFLUX_MEASUREMENT": "house"}, tmp_path)
    assert config.instances[0].settings.measurement == "house"
    assert config.origins["senec"].of("measurement") == "environment INFLUX_MEASUREMENT"


# --- secrets --------------------------------------------------------------------------------


KIND_NAMES = ", ".join(load_kinds())  # every kind registered, in the order errors list them
CLOUD = {"SENEC_ADAPTER": "cloud", "SENEC_USERNAME": "me@example.com", "SENEC_PASSWORD": "pw"}


def secret_variables() -> list[tuple[str, str]]:
    """(variable, its kind or table) of every secret there is."""
    from collector.config import TABLES

    found = [
        (variable_of(kind.settings, kind.env_prefix, key), kind.name)
        for kind in load_kinds().values()
        for key in secret_keys(kind.settings)
    ]
    found += [
        (variable_of(table.model, table.prefix, key), table.name)
        for table in TABLES
        for key in secret_keys(table.model)
    ]
    return found


@pytest.mark.parametrize(("variable", "owner"), secret_variables())
def test_no_secret_appears_in_any_output(
    tmp_path: Path, variable: str, owner: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from collector.cli import _print_config

    secret = "Zq9" * 7  # too long for a short password, no user:password for a v1 token
    base = {**MINIMAL, "SMA_HOST": "10.0.0.9", "SMA_MEASUREMENT": "SMA"}
    valid, invalid = secret[:12], secret + "é"
    wrong: dict[str, str] | None = None  # a setting that is refused; `variable` names it
    if owner == "senec-connect":  # any key may be one: another setting is refused beside it
        base = {**without("SENEC_HOST"), variable: secret}
        wrong, variable = {"SENEC_CONNECT_URL": "ftp://x"}, "SENEC_CONNECT_URL"
    elif owner == "mqtt":  # any password is one a broker may accept: the URL is refused
        base = {**base, "MQTT_URL": "mqtt://broker:1883", variable: secret}
        wrong, variable = {"MQTT_URL": "ftp://x"}, "MQTT_URL"
    elif owner == "senec-cloud":
        base = {**without("SENEC_HOST"), **CLOUD}
        if variable == "SENEC_TOTP_URI":  # a secret in a URI: the whole URI is secret
            valid = f"otpauth://totp/SENEC:me?secret={'JBSWY3DPEHPK3PXP' * 2}&x={secret[:12]}"
            invalid = f"otpauth://totp/SENEC:me?secret={secret}é"
        else:
            invalid = ""  # (any other password is one SENEC may accept)
    elif owner in ("sma-webconnect", "sma-ennexos"):
        prefix = variable.removesuffix("PASSWORD")
        base = {**base, f"{prefix}URL": "https://10.0.0.10", f"{prefix}MEASUREMENT": owner}
        if owner == "sma-ennexos":
            base[f"{prefix}USERNAME"] = "me"
        invalid = ""  # (any other password is one the device may accept)
    wrong = wrong or {variable: invalid}
    # valid enough to load: the secret shown by `collector config` as ***
    given = {} if owner in ("senec-connect", "mqtt") else {variable: valid}
    config = load({**base, **given}, tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _print_config(config)
    assert secret[:12] not in out.getvalue() + repr(config) + str(config.warnings)
    assert "***" in out.getvalue()
    # invalid: the problem names the variable, never the value
    bad = {**base, **wrong, "INFLUX_API": "v1"}
    with pytest.raises(ConfigError) as caught:
        load(bad, tmp_path)
    assert any(problem.startswith(variable) for problem in caught.value.problems)
    assert secret not in str(caught.value.problems)
    result = run_collector(tmp_path, bad, "config")
    assert secret not in result.stdout + result.stderr


def test_a_placeholder_secret_is_named_at_start(tmp_path: Path) -> None:
    config = load({**MINIMAL, "INFLUX_TOKEN": "change-me-to-a-long-random-token"}, tmp_path)
    assert config.warnings == [
        "INFLUX_TOKEN is still the example's placeholder: put your InfluxDB API token "
        "(with INFLUX_API=v1: user:password, or nothing) there"
    ]


# --- the environment and .env ---------------------------------------------------------------


def test_a_dotenv_file_is_read_named_and_overridden_by_the_environment(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SENEC_HOST=127.0.0.1:1\nSENEC_INTERVAL=7\nINFLUX_ORG=x\n")
    config = load({**without("SENEC_HOST"), "INFLUX_ORG": "home"}, tmp_path)
    assert config.files == [str((tmp_path / ".env").resolve())]
    settings = config.instances[0].settings
    assert isinstance(settings, PolledSettings)
    assert settings.interval == 7
    assert config.origins["senec"].of("interval") == ".env SENEC_INTERVAL"
    assert config.influx is not None
    assert config.influx.org == "home"


def test_a_misspelt_variable_is_named_with_the_closest(tmp_path: Path) -> None:
    config = load({**MINIMAL, "SENEC_INTERVALL": "7"}, tmp_path)
    assert config.warnings == [
        "SENEC_INTERVALL is not a setting of any source kind; did you mean SENEC_INTERVAL?"
    ]
    found = problems({**without("SENEC_HOST"), "SENEC_HSOT": "192.0.2.10"}, tmp_path)
    assert found[0].endswith(
        "(SENEC_HSOT is not a setting of any source kind; did you mean SENEC_HOST?)"
    )


# --- the TOML file --------------------------------------------------------------------------

HOUSEHOLD = """
[influx]
api = "v1"
url = "http://127.0.0.1:8086"
bucket = "solar"

[log]
format = "json"

[runtime]
shutdown_grace = 2

[[source]]
kind = "senec"
host = "192.0.2.10"
schema = "http"

[[source]]
kind = "sma"
name = "roof"
host = "192.0.2.21"
password = "roof-pw"
tags = { side = "south" }

[[source]]
kind = "sma"
host = "192.0.2.22"
password_file = "{password_file}"
interval = 1
"""


def household(tmp_path: Path, text: str = HOUSEHOLD) -> Path:
    secret = tmp_path / "garage.pw"
    secret.write_text("garage-pw\n")
    path = tmp_path / "collector.toml"
    path.write_text(text.replace("{password_file}", str(secret)))
    return path


def test_a_file_with_many_instances(tmp_path: Path) -> None:
    path = household(tmp_path)
    config = load({"COLLECTOR_CONFIG": str(path)}, tmp_path)
    assert [(i.kind, i.name, dict(i.tags)) for i in config.instances] == [
        ("senec", "senec", {}),
        ("sma", "roof", {"side": "south"}),
        ("sma", "sma", {}),
    ]
    passwords = [getattr(i.settings, "password", None) for i in config.instances[1:]]
    assert [p.get_secret_value() for p in passwords if isinstance(p, SecretStr)] == [
        "roof-pw",
        "garage-pw",
    ]
    assert config.origins["sma"].of("password") == f"file {path} (password_file)"
    assert config.influx is not None
    assert config.influx.api == "v1"
    assert config.log.format == "json"
    assert config.runtime.shutdown_grace == 2
    assert config.files == [str(path)]


def test_environment_overrides_the_file_and_adds_an_instance(tmp_path: Path) -> None:
    path = household(tmp_path)
    config = load(
        {
            "COLLECTOR_CONFIG": str(path),
            "INFLUX_BUCKET": "other",
            "LOG_FORMAT": "console",
            "SHUTDOWN_GRACE": "9",
            "SENEC_HOST": "192.0.2.99",
            "SENEC_SCHEMA": "http",
            "INFLUX_MEASUREMENT": "second",
        },
        tmp_path,
    )
    assert config.influx is not None
    assert config.influx.bucket == "other"
    assert config.origins["influx"].of("bucket") == "environment INFLUX_BUCKET"
    assert config.origins["influx"].of("api") == f"file {path}"
    assert config.log.format == "console"
    assert config.runtime.shutdown_grace == 9
    assert [i.name for i in config.instances] == ["senec", "roof", "sma", "senec-2"]
    settings = config.instances[3].settings
    assert isinstance(settings, SenecSettings)
    assert settings.host == "192.0.2.99"


FILE_PROBLEMS = [
    (
        '[[source]]\nkind = "senec"\nhost = "192.0.2.10"\nschema = "ftp"\n',
        "[[source]] #1:schema: must be 'https' or 'http' (got 'ftp')",
    ),
    (
        '[[source]]\nkind = "senec"\nname = "home"\nhost = "a b"\n',
        "[[source]] #1 (home):host: 'a b' is not a host name or address",
    ),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\npassword = "1234567890123"\n',
        "[[source]] #1:password: a Speedwire password is at most 12 ASCII characters",
    ),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\ninterval = 2\ntimeout = 1\n',
        "[[source]] #1:timeout: 3 attempts of 1 s must fit into the interval (2 s)",
    ),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\npasword = "x"\n',
        "[[source]] #1:pasword: unknown key (did you mean password?) (known: kind, name, tags, "
        "host, password, user_group, interval, timeout, measurement, password_file)",
    ),
    (
        '[[source]]\nkind = "senek"\nhost = "x"\n',
        "[[source]] #1:kind: unknown kind 'senek' (did you mean senec?) "
        f"(known kinds: {KIND_NAMES})",
    ),
    (
        '[[source]]\nhost = "x"\n',
        f"[[source]] #1: kind is missing (known kinds: {KIND_NAMES})",
    ),
    ('[[source]]\nkind = "sma"\n', "[[source]] #1:host: is required"),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\ntags = { site = 3 }\n',
        "[[source]] #1:tags: must be an inline table of texts",
    ),
    (
        '[[source]]\nkind = "sma"\nname = "a b"\nhost = "192.0.2.21"\n',
        "[[source]] #1 (a b):name: must be letters, digits",
    ),
    (
        '[[source]]\nkind = "sma"\nname = "x"\nhost = "192.0.2.21"\n'
        '[[source]]\nkind = "sma"\nname = "x"\nhost = "192.0.2.22"\n',
        "[[source]] #2 (x):name: 'x' is already the name of",
    ),
    (
        '[[source]]\nkind = "senec"\nhost = "192.0.2.10"\n'
        '[[source]]\nkind = "senec"\nhost = "192.0.2.11"\n',
        "senec and senec-2 would write the same series (measurement 'SENEC', no tags)",
    ),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\n[influx]\nport = "x"\n',
        "[influx]:port: must be a valid integer",
    ),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\n[influx]\nmeasurement = "x"\n',
        "[influx]:measurement: unknown key",
    ),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\n[runtime]\nbuffer_max_age = "soon"\n',
        "[runtime]:buffer_max_age: must be a duration",
    ),
    ('[[source]]\nkind = "sma"\nhost = "192.0.2.21"\n[sources]\n', ": unknown table [sources]"),
    ('[source]\nkind = "sma"\n', ": sources are [[source]] tables (double brackets)"),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\npassword = "x"\npassword_file = "/x"\n',
        "[[source]] #1:password_file: set either password or password_file, not both",
    ),
    (
        '[[source]]\nkind = "sma"\nhost = "192.0.2.21"\npassword_file = "/nonexistent/pw"\n',
        "[[source]] #1:password_file: cannot read /nonexistent/pw",
    ),
    ('[[source]\nkind = "sma"\n', ": not valid TOML: "),
]


@pytest.mark.parametrize(("text", "line"), FILE_PROBLEMS)
def test_each_file_problem_is_one_line_naming_its_place(
    tmp_path: Path, text: str, line: str
) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(text)
    found = problems({**INFLUX, "COLLECTOR_CONFIG": str(path)}, tmp_path)
    assert len(found) == 1, found
    expected = f"{path}:{line}" if line.startswith("[") else line
    expected = f"{path}{line}" if line.startswith(":") else expected
    assert found[0].startswith(expected), found


def test_a_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text('[[source]]\nkind = "sma"\nhost = 192.0.2.21\n')
    found = problems({**INFLUX, "COLLECTOR_CONFIG": str(path)}, tmp_path)
    assert len(found) == 1
    assert re.fullmatch(
        rf"{re.escape(str(path))}: not valid TOML: .+ \(at line 3, column \d+\)", found[0]
    )


def test_file_problems_exit_2_from_the_command(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text('[[source]]\nkind = "sma"\nname = "garage"\nhost = "192.0.2.21"\ntimeout = 0\n')
    result = run_collector(tmp_path, {**INFLUX, "COLLECTOR_CONFIG": str(path)}, "check")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"configuration error: {path}:[[source]] #1 (garage):timeout: must be greater than 0 "
        "(got '0')"
    ]


def test_collector_config_shows_every_value_with_its_origin(tmp_path: Path) -> None:
    path = household(tmp_path)
    result = run_collector(
        tmp_path, {"COLLECTOR_CONFIG": str(path), "INFLUX_TIMEOUT": "3"}, "config"
    )
    assert result.returncode == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert lines[0] == f"settings from: environment, {path}"
    assert "[[source]] roof (kind sma, tags side=south)" in lines
    assert f"host 192.0.2.21 file {path}" in lines
    assert "password *** file " + str(path) in lines
    assert f"password *** file {path} (password_file)" in lines
    assert "timeout 1 default (80 % of the interval over 3 attempts, at most 1 s)" in lines
    assert "timeout 0.267 default (80 % of the interval over 3 attempts, at most 1 s)" in lines
    assert "timeout 3 environment INFLUX_TIMEOUT" in lines
    assert "measurement SMA default" in lines
    assert "roof-pw" not in result.stdout
    assert "garage-pw" not in result.stdout


def test_addresses_are_parsed_in_one_place() -> None:
    assert parse_address("[fe80::1]:9523", 9522) == ("fe80::1", 9523)
    assert parse_address("fe80::1", 9522) == ("fe80::1", 9522)
    assert parse_address("inverter.local", 9522) == ("inverter.local", 9522)
    with pytest.raises(ValueError, match="port"):
        parse_address("[fe80::1]:x", 9522)


def test_the_sma_kinds_share_their_measurement_told_apart_by_serial(tmp_path: Path) -> None:
    """An old inverter over Speedwire and a Tripower X over ennexOS, both into "SMA": allowed,
    and each instance is told to tag its points with the serial. A kind without a series tag
    next to them is still refused."""
    env = {
        **INFLUX,
        "SMA_HOST": "192.0.2.20",
        "SMA_WEBCONNECT_URL": "https://192.0.2.21",
        "SMA_WEBCONNECT_PASSWORD": "pw",
        "SMA_ENNEXOS_URL": "https://192.0.2.22",
        "SMA_ENNEXOS_USERNAME": "me",
        "SMA_ENNEXOS_PASSWORD": "pw",
    }
    config = load(env, tmp_path)
    by_kind = {instance.kind: instance for instance in config.instances}
    assert set(by_kind) == {"sma", "sma-webconnect", "sma-ennexos"}
    assert all(instance.settings.measurement == "SMA" for instance in by_kind.values())
    assert all(instance.shared for instance in by_kind.values())
    alone = load({**env, "SMA_ENNEXOS_MEASUREMENT": "TRIPOWER_X"}, tmp_path)
    assert {i.kind: i.shared for i in alone.instances} == {
        "sma": True,
        "sma-webconnect": True,
        "sma-ennexos": False,
    }
    [problem] = problems({**env, "SENEC_HOST": "192.0.2.10", "INFLUX_MEASUREMENT": "SMA"}, tmp_path)
    assert "would write the same series (measurement 'SMA', no tags)" in problem
