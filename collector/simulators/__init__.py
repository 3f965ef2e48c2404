"""Fake devices and clouds for tests, demos and development. They speak on 127.0.0.1 by default."""
