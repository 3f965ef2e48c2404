"""Sources: one per device or cloud account. A source turns device answers into Readings."""

from __future__ import annotations

from typing import Any, Protocol

from collector.reading import Reading


class Source(Protocol):
    """What the poll loop needs from a source."""

    name: str
    interval: float
    timeout: float

    async def poll(self) -> Reading:
        """Ask the device once; raise a SourceError when no reading can be made."""
        ...

    async def aclose(self) -> None: ...

    def describe(self) -> str:
        """Where the source reads from, for the start banner (no secrets)."""
        ...

    def summary(self, reading: Reading) -> dict[str, Any]:
        """Headline values of a reading for its log line."""
        ...
