"""InfluxDB's two write APIs over the daemon's HTTP client (httpx), on the event loop.

- v2 (`INFLUX_API=v2`, the default): `POST /api/v2/write?org=…&bucket=…`, the token as
  `Authorization: Token …`. InfluxDB 2.x, 3.x, 1.8+ and VictoriaMetrics.
- v1: `POST /write?db=…[&rp=…]`, a `user:password` token as HTTP basic auth. What Debian and
  Raspberry Pi OS install with apt.

Both send line protocol with second precision. Nothing retries here: the writer does.
"""

from __future__ import annotations

import httpx

from collector.config import InfluxSettings
from collector.errors import SinkError
from collector.sinks import error_for_status, reason_from_body


class _InfluxSink:
    path = ""
    # whether a 404 may mean "a 1.x before 1.8, which has no such API" (its version header says)
    api_may_be_missing = False

    def __init__(
        self,
        settings: InfluxSettings,
        params: dict[str, str],
        target: str,
        headers: dict[str, str],
        auth: httpx.Auth | None = None,
    ) -> None:
        self._url = settings.effective_url
        self._timeout = settings.timeout
        self._params = {**params, "precision": "s"}
        self._target = target
        self._client = httpx.AsyncClient(
            base_url=self._url,
            timeout=settings.timeout,
            auth=auth,
            headers={"Content-Type": "text/plain; charset=utf-8", **headers},
        )

    async def write(self, lines: list[str]) -> None:
        body = "\n".join(lines).encode()
        try:
            response = await self._client.post(self.path, params=self._params, content=body)
        except httpx.TimeoutException:
            raise SinkError(
                f"InfluxDB at {self._url} did not answer within {self._timeout:g} s "
                "(INFLUX_TIMEOUT)"
            ) from None
        except httpx.HTTPError as exc:
            raise SinkError(f"cannot reach InfluxDB at {self._url}: {exc}") from None
        if response.status_code in (200, 204):
            return
        raise error_for_status(
            response.status_code,
            reason_from_body(response.content),
            response.headers.get("Retry-After"),
            self._target,
            response.headers.get("X-Influxdb-Version") if self.api_may_be_missing else None,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


class InfluxV2Sink(_InfluxSink):
    path = "/api/v2/write"
    api_may_be_missing = True

    def __init__(self, settings: InfluxSettings) -> None:
        self._org = settings.org or ""
        self._bucket = settings.bucket or ""
        token = settings.token.get_secret_value() if settings.token else ""
        super().__init__(
            settings,
            {"org": self._org, "bucket": self._bucket},
            f"bucket {self._bucket}",
            {"Authorization": f"Token {token}"} if token else {},
        )

    def describe(self) -> str:
        return f"InfluxDB v2 API at {self._url}, org {self._org}, bucket {self._bucket}"


class InfluxV1Sink(_InfluxSink):
    path = "/write"

    def __init__(self, settings: InfluxSettings) -> None:
        database, rp = settings.database_and_rp
        self._bucket = settings.bucket
        credentials = settings.credentials
        super().__init__(
            settings,
            {"db": database, **({"rp": rp} if rp else {})},
            f"database {database}",
            {},
            httpx.BasicAuth(*credentials) if credentials else None,
        )

    def describe(self) -> str:
        return f"InfluxDB 1.x API at {self._url}, database {self._bucket}"
