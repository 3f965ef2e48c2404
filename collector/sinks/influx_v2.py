"""The InfluxDB v2 write API through influxdb-client: InfluxDB 2.x, 3.x, 1.8+ and VictoriaMetrics.

influxdb-client is synchronous here (its async flavour needs aiohttp); each write runs in a
worker thread. Its own retries are off: the writer retries with tenacity.
"""

from __future__ import annotations

import asyncio
from typing import Any

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from collector.config import InfluxSettings
from collector.errors import SinkError
from collector.sinks import error_for_status, reason_from_body


class InfluxV2Sink:
    def __init__(self, settings: InfluxSettings) -> None:
        self._url = settings.effective_url
        self._bucket = settings.bucket or ""
        self._org = settings.org or ""
        token = settings.token.get_secret_value() if settings.token else ""
        self._client = InfluxDBClient(
            url=self._url,
            token=token,
            org=self._org,
            timeout=int(settings.timeout * 1000),
            retries=False,
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def describe(self) -> str:
        return f"InfluxDB v2 API at {self._url}, org {self._org}, bucket {self._bucket}"

    def _write(self, body: str) -> None:
        self._write_api.write(
            bucket=self._bucket,
            org=self._org,
            record=body,
            write_precision=WritePrecision.S,  # type: ignore[arg-type]
        )

    async def write(self, lines: list[str]) -> None:
        try:
            await asyncio.to_thread(self._write, "\n".join(lines))
        except ApiException as exc:
            headers: Any = exc.headers or {}
            raise error_for_status(
                int(exc.status or 0),
                reason_from_body(exc.body),
                headers.get("Retry-After"),
                f"bucket {self._bucket}",
                headers.get("X-Influxdb-Version"),
            ) from None
        except Urllib3Error as exc:
            raise SinkError(f"cannot reach InfluxDB at {self._url}: {_short(exc)}") from None
        except OSError as exc:
            raise SinkError(f"cannot reach InfluxDB at {self._url}: {exc}") from None

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)


def _short(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)
