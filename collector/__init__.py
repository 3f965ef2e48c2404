"""Collects live readings from home-energy devices and writes them to InfluxDB."""

from typing import Any


def __getattr__(name: str) -> Any:
    # The version is looked up only when asked for: `collector healthcheck` must start fast.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("energy-collector")
        except PackageNotFoundError:  # running from a source tree that is not installed
            return "0.0.0+unknown"
    raise AttributeError(name)
