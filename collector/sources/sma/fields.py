"""The `sma` kind's field catalogue: an inverter's fields, as every SMA kind names them."""

from __future__ import annotations

from collector.sources.sma_common.fields import INVERTER_FIELDS

FIELDS = INVERTER_FIELDS
