"""The `sma-webconnect` kind's catalogue: the Speedwire kind's fields, plus what an inverter's
web interface reports beyond them (its energy meter's counters and the house's consumption).
Names it shares with other kinds mean the same there."""

from __future__ import annotations

from collector.sources.sma_common.fields import WEB_FIELDS

FIELDS = WEB_FIELDS
