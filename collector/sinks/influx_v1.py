"""InfluxDB 1.x: POST /write (what Debian and Raspberry Pi OS install with apt)."""

from __future__ import annotations

import httpx

from collector.config import InfluxSettings
from collector.errors import SinkError
from collector.sinks import parse_retry_after, reason_from_body


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


def error_for_status(status: int, reason: str, retry_after: str | None, target: str) -> SinkError:
    """One place that decides what an InfluxDB HTTP status means for the points."""
    if status in (401, 403):
        return SinkError(
            f"InfluxDB refused the credentials (HTTP {status}{': ' + reason if reason else ''}): "
            f"check that INFLUX_TOKEN may write to {target}",
            status=status,
        )
    if status in (400, 422):
        return SinkError(
            f"InfluxDB rejected the points (HTTP {status}): {reason}",
            status=status,
            retryable=False,
        )
    if status == 404:
        return SinkError(
            f"InfluxDB has no {target} (HTTP 404{': ' + reason if reason else ''})", status=status
        )
    if status == 413:
        return SinkError(
            f"InfluxDB says the request is too large (HTTP 413): {reason}",
            status=status,
            retryable=False,
        )
    return SinkError(
        f"InfluxDB answered HTTP {status}{': ' + reason if reason else ''}",
        status=status,
        retry_after=parse_retry_after(retry_after),
    )
