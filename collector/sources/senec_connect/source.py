"""SENEC.Connect, SENEC's official API: a Poller giving one reading per system of the account."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from collector import http
from collector.errors import AuthError, DeviceUnreachable, LoginRefused, ProtocolError
from collector.logging import get_logger
from collector.reading import Reading
from collector.sources.senec_common import headline
from collector.sources.senec_connect.codec import INCLUDE, PATH, problem_of, systems_of
from collector.sources.senec_connect.fields import FIELDS
from collector.sources.senec_connect.settings import SenecConnectSettings

QUOTA_WAIT = 3600.0  # when a used-up quota comes without Retry-After
NO_DATA = "SENEC.Connect delivers data only for Home 4, P4 and E4 systems so far"


class SenecConnectSource:
    """A Poller: one request for every system; a reading for each that has data."""

    def __init__(
        self,
        settings: SenecConnectSettings,
        name: str = "senec-connect",
        transport: httpx.AsyncBaseTransport | None = None,
        shared: bool = False,
    ) -> None:
        self.settings = settings
        # another instance writes the same measurement and tags: tag the points with `system`
        self.shared = shared
        self.interval = settings.interval
        self.timeout = settings.effective_timeout
        self.measurement = settings.measurement
        ignored = set(settings.ignored_fields)
        self.fields = [name for name in FIELDS if name not in ignored]
        self.url = f"{settings.url}{PATH}"
        self._silent: set[str] = set()  # systems said to have no data
        self._told_systems = False
        self._log = get_logger(source=name)
        self._client = http.new_client(
            self.timeout,
            headers={"Ocp-Apim-Subscription-Key": settings.key.get_secret_value()},
            transport=transport,
        )

    def describe(self) -> str:
        only = f", system {self.settings.system_id}" if self.settings.system_id else ""
        return f"SENEC.Connect at {self.settings.url}{only}"

    def summary(self, reading: Reading) -> dict[str, Any]:
        return headline(reading, len(self.fields)) | dict(reading.tags)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def poll(self) -> list[Reading]:
        moment = datetime.now(UTC).replace(microsecond=0)  # SENEC.Connect gives no time
        answer = await self._get()
        systems = systems_of(answer)
        if not self._told_systems:
            self._told_systems = True
            for system in systems:
                self._log.info("senec connect system", id=system.id, model=system.model)
        wanted = self.settings.system_id
        if wanted is not None:
            chosen = [system for system in systems if system.id == wanted]
            if not chosen:
                raise AuthError(
                    f"SENEC_SYSTEM_ID {wanted} is not one of this key's systems "
                    f"({', '.join(system.id for system in systems) or 'none'})",
                    permanent=True,
                )
            systems = chosen
        readings = []
        several = len(systems) > 1 or self.shared
        for system in systems:
            if not system.has_data:
                if system.id not in self._silent:
                    self._silent.add(system.id)
                    self._log.warning(
                        "senec connect system without data",
                        id=system.id,
                        model=system.model,
                        reason=NO_DATA,
                    )
                continue
            if system.id in self._silent:
                self._silent.discard(system.id)
                self._log.info("senec connect system has data again", id=system.id)
            fields = {name: system.fields[name] for name in self.fields if name in system.fields}
            fields["measure_time"] = int(moment.timestamp())
            tags = {"system": system.id} if several else {}
            readings.append(Reading(moment, self.measurement, fields, tags))
        return readings

    async def _get(self) -> Any:
        response = await http.send(
            self._client,
            "GET",
            self.url,
            deadline=self.timeout,
            what="SENEC.Connect",
            params={"include": INCLUDE},
        )
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        said = problem_of(status, answer)
        if status == 200:
            if answer is None:
                raise ProtocolError(
                    f"SENEC.Connect answered no JSON ({len(response.content)} bytes)"
                )
            return answer
        words = f" ({said})" if said else ""
        if status == 429 or (status == 403 and "quota" in said.lower()):
            wait = http.retry_after(response.headers.get("Retry-After"))
            raise DeviceUnreachable(
                f"SENEC.Connect's request quota is used up{words}: it refuses requests until "
                "it is replenished; a longer SENEC_CONNECT_INTERVAL keeps within it",
                retry_after=QUOTA_WAIT if wait is None else wait,
            )
        if status in (401, 403):
            raise LoginRefused(
                f"SENEC.Connect refused the subscription key (HTTP {status}){words}: check "
                "SENEC_CONNECT_KEY (developer.senec.com, your subscription's primary key)"
            )
        if status in (400, 404):
            raise ProtocolError(
                f"SENEC changed its API: GET {self.url} answered HTTP {status}{words}; if "
                "SENEC has moved it, set SENEC_CONNECT_URL"
            )
        if status >= 500:
            raise DeviceUnreachable(f"SENEC.Connect failed (HTTP {status}){words}")
        raise ProtocolError(f"SENEC.Connect answered HTTP {status}{words}")
