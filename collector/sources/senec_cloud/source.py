"""One SENEC account's system, read through SENEC's app API: a Poller (see collector.sources)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from collector.errors import AuthError, ProtocolError
from collector.house_fields import ENERGY_SUFFIX
from collector.logging import get_logger
from collector.queue.drops import iso
from collector.reading import Reading
from collector.sources.senec_cloud.client import Forbidden, SenecCloudClient, masked
from collector.sources.senec_cloud.codec import dashboard_fields, energy_intervals, timestamp_of
from collector.sources.senec_cloud.fields import LIVE
from collector.sources.senec_cloud.settings import SenecCloudSettings
from collector.sources.senec_common import headline

STALE_INTERVALS = 3  # SENEC's timestamp older than this many intervals: its data is stale


@dataclass(frozen=True)
class System:
    id: str
    product: str
    city: str
    wallbox_ids: tuple[str, ...]

    @classmethod
    def from_answer(cls, item: Any) -> System:
        if not isinstance(item, dict) or item.get("id") is None:
            raise ProtocolError("SENEC's system list has an entry without an id")
        product = item.get("product")
        product = product if isinstance(product, dict) else {}
        wallboxes = item.get("wallboxIds")
        wallboxes = wallboxes if isinstance(wallboxes, list) else []
        return cls(
            str(item["id"]),
            str(product.get("name") or product.get("systemType") or "?"),
            str(item.get("city") or "?"),
            tuple(sorted(str(wallbox) for wallbox in wallboxes)),
        )


LOG_STEP = 300  # SENEC's finest resolution of its measurements: FIVE_MINUTES


class SenecCloudSource:
    """A Poller: the dashboard of one system (and its wallboxes, and in full mode its details).
    And a DeviceLog (collector.backfill): SENEC's 5-minute energies of the system, written to
    `<measurement>_ENERGY`, one point per interval at its start."""

    log_step = float(LOG_STEP)
    log_span = 86400.0  # a day of intervals (288) per request
    log_covers = float(LOG_STEP)  # a point is the energy of the five minutes from its time on
    # SENEC sums its intervals up on its servers; how late is not known (its dashboard's time
    # lags by minutes): an interval is asked for once a quarter of an hour has passed
    log_settle = 900.0

    def __init__(
        self,
        settings: SenecCloudSettings,
        name: str = "senec-cloud",
        state_dir: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Any = time.time,
        shared: bool = False,
    ) -> None:
        self.settings = settings
        self.name = name
        # another instance writes the same measurement and tags: tag the points with `system`
        self.shared = shared
        self.interval = settings.interval
        self.timeout = settings.effective_timeout
        self.measurement = settings.measurement
        ignored = set(settings.ignored_fields)
        self.fields = [name for name in LIVE if name not in ignored]
        self.clock = clock
        token_file = None if state_dir is None else state_dir / "tokens.json"
        self.client = SenecCloudClient(
            settings, token_file, name=name, transport=transport, clock=clock
        )
        self.system: System | None = None
        self._known_ids: tuple[str, ...] = ()  # the account's systems
        self._last_stamp: int | None = None
        self._stale = False
        self._problems: tuple[str, ...] = ()
        self._log = get_logger(source=name)

    def describe(self) -> str:
        mode = self.settings.request_mode
        return f"SENEC cloud, account {masked(self.settings.username)}, {mode} mode"

    def summary(self, reading: Reading) -> dict[str, Any]:
        return headline(reading, len(self.fields)) | {"system": self._system_id}

    @property
    def _system_id(self) -> str:
        return self.system.id if self.system else "?"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- polling -------------------------------------------------------------------------

    async def poll(self) -> Reading | None:
        settings = self.settings
        system = self.system or await self._choose_system()
        base = settings.cloud_measurements_url
        dashboard = await self._get(
            f"{base}/systems/{system.id}/dashboard", "SENEC_CLOUD_MEASUREMENTS_URL"
        )
        stamp = timestamp_of(dashboard)
        self._check_stale(stamp)
        if stamp == self._last_stamp:  # not moved on: the poll loop counts it as unchanged
            return None
        wallboxes = None
        if system.wallbox_ids:
            wallboxes = [
                await self._get(
                    f"{settings.cloud_wallbox_url}/systems/{system.id}/wallboxes/{wallbox}",
                    "SENEC_CLOUD_WALLBOX_URL",
                )
                for wallbox in system.wallbox_ids
            ]
        details = None
        if settings.request_mode == "full":
            details = await self._get(
                f"{settings.cloud_systems_url}/{system.id}/details", "SENEC_CLOUD_SYSTEMS_URL"
            )
        fields, problems = dashboard_fields(dashboard, wallboxes, details)
        fields["measure_time"] = stamp
        self._report(problems)
        self._last_stamp = stamp
        wanted = {name: fields[name] for name in self.fields if name in fields}
        tags = {"system": system.id} if self.shared else {}
        return Reading(datetime.fromtimestamp(stamp, UTC), self.measurement, wanted, tags)

    async def _get(self, url: str, setting: str) -> Any:
        try:
            return await self.client.get(url, setting)
        except Forbidden:
            ids = ", ".join(f"{s}" for s in self._known_ids) or "none"
            raise AuthError(
                f"SENEC refuses system {self._system_id} for this account (HTTP 403); "
                f"its systems: {ids}; set SENEC_SYSTEM_ID to one of them or leave it empty",
                permanent=True,
            ) from None

    async def _choose_system(self) -> System:
        answer = await self.client.get(self.settings.cloud_systems_url, "SENEC_CLOUD_SYSTEMS_URL")
        if not isinstance(answer, list):
            raise ProtocolError("SENEC's system list is not a list")
        systems = [System.from_answer(item) for item in answer]
        self._known_ids = tuple(system.id for system in systems)
        if not systems:
            raise AuthError("this SENEC account has no systems", permanent=True)
        for system in systems:
            self._log.info(
                "senec system",
                id=system.id,
                product=system.product,
                city=system.city,
                wallboxes=len(system.wallbox_ids),
            )
        wanted = self.settings.system_id
        if wanted is None:
            chosen, why = systems[0], "the first of the account's systems (SENEC_SYSTEM_ID not set)"
        else:
            found = [system for system in systems if system.id == wanted]
            if not found:
                raise AuthError(
                    f"SENEC_SYSTEM_ID {wanted} is not one of this account's systems "
                    f"({', '.join(self._known_ids)})",
                    permanent=True,
                )
            chosen, why = found[0], "SENEC_SYSTEM_ID"
        self._log.info("senec system chosen", id=chosen.id, product=chosen.product, why=why)
        self.system = chosen
        return chosen

    # --- the log -------------------------------------------------------------------------

    def describe_log(self) -> str:
        return "5-minute energies (SENEC app API measurements, FIVE_MINUTES)"

    async def read_log(
        self, series: Mapping[str, str], start: datetime, end: datetime
    ) -> list[Reading]:
        system = self.system or await self._choose_system()
        query = urlencode({"resolution": "FIVE_MINUTES", "from": _iso(start), "to": _iso(end)})
        answer = await self._get(
            f"{self.settings.cloud_measurements_url}/systems/{system.id}/measurements?{query}",
            "SENEC_CLOUD_MEASUREMENTS_URL",
        )
        intervals, problems = energy_intervals(answer)
        odd = [item for item in intervals if item.seconds != LOG_STEP]
        problems += [f"an interval of {item.seconds} s at {iso(item.start)}" for item in odd]
        if problems:
            self._log.warning(
                "senec log entries left out",
                entries=len(problems),
                first=problems[0],
                note="the rest of the answer is written",
            )
        measurement = f"{self.measurement}{ENERGY_SUFFIX}"
        tags = dict(series)
        return [
            Reading(datetime.fromtimestamp(item.start, UTC), measurement, item.energies, tags)
            for item in intervals
            if item.seconds == LOG_STEP and item.energies
        ]

    def _check_stale(self, stamp: int) -> None:
        age = self.clock() - stamp
        stale = age > STALE_INTERVALS * self.interval
        if stale and not self._stale:
            self._log.warning(
                "senec data stale",
                senec_time=datetime.fromtimestamp(stamp, UTC).isoformat(),
                age_s=round(age),
                note="SENEC's servers have had no new values from the system; nothing is "
                "written until they do",
            )
        elif self._stale and not stale:
            self._log.info("senec data fresh again", age_s=round(age))
        self._stale = stale

    def _report(self, problems: list[str]) -> None:
        current = tuple(problems)
        if current and current != self._problems:
            self._log.warning("senec answer incomplete", problems="; ".join(current))
        self._problems = current


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
