"""InfluxDB 1.x: POST /write (what Debian and Raspberry Pi OS install with apt)."""

from __future__ import annotations

import httpx

from collector.config import InfluxSettings
from collector.errors import SinkError
from collector.sinks import error_for_status, reason_from_body


class InfluxV1Sink:
    def __init__(self, settings: InfluxSettings) -> None:
        self._url = settings.effective_url
        database, rp = settings.database_and_rp
        self._database = database
        self._params = {"db": database, "precision": "s"}
        if rp:
            self._params["rp"] = rp
        credentials = settings.credentials
        self._client = httpx.AsyncClient(
            base_url=self._url,
            timeout=settings.timeout,
            auth=httpx.BasicAuth(*credentials) if credentials else None,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        self._bucket = settings.bucket

    def describe(self) -> str:
        return f"InfluxDB 1.x API at {self._url}, database {self._bucket}"

    async def write(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode()
        try:
            response = await self._client.post("/write", params=self._params, content=body)
        except httpx.TimeoutException:
            raise SinkError(f"InfluxDB at {self._url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise SinkError(f"cannot reach InfluxDB at {self._url}: {exc}") from None
        if response.status_code in (200, 204):
            return
        raise error_for_status(
            response.status_code,
            reason_from_body(response.content),
            response.headers.get("Retry-After"),
            f"database {self._database}",
        )

    async def aclose(self) -> None:
        await self._client.aclose()
