"""The `senec` kind's field catalogue: every SENEC field (SOLECTRUS names, units and types)."""

from __future__ import annotations

from collector.sources.senec_common.fields import SENEC_FIELDS

FIELDS = SENEC_FIELDS
