"""Collects live readings from home-energy devices and writes them to InfluxDB."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("energy-collector")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
