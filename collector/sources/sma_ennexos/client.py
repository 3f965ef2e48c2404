"""An ennexOS device's web API (sma.md §7b.1): token login, refresh, calls, logout.

One token pair per device. The access token is refreshed before it runs out (when a fifth of
its life is left); a refused refresh means one login with the password; a call answered 401 or
403 gets one new login and is asked again, and fails after that. At shutdown the refresh token
is revoked (`DELETE /api/v1/refreshtoken`), also for a login still on its way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from collector import http
from collector.errors import (
    AuthError,
    DeviceUnreachable,
    LoginRefused,
    ProtocolError,
    excerpt,
)
from collector.logging import get_logger
from collector.shield import Shielded

DEFAULT_LIFETIME = 3600.0  # when a token answer has no expires_in (one hour, as observed)
REFRESH_SHARE = 0.2  # refresh once a fifth of the access token's life is left
LOGOUT_TIMEOUT = 2.0


class NoEnnexos(ProtocolError):
    """The address has no ennexOS API: a setting to fix."""

    permanent = True


@dataclass(frozen=True)
class Tokens:
    access: str
    refresh: str
    expires_at: float  # monotonic
    lifetime: float

    def fresh(self, now: float) -> bool:
        return self.expires_at - now > self.lifetime * REFRESH_SHARE

    @classmethod
    def from_answer(cls, answer: Any, now: float) -> Tokens:
        if not isinstance(answer, dict):
            raise ProtocolError(f"the token answer is not an object: {excerpt(answer, 100)}")
        access, refresh = answer.get("access_token"), answer.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(refresh, str):
            raise ProtocolError("the token answer has no access_token and refresh_token")
        lifetime = answer.get("expires_in", DEFAULT_LIFETIME)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            lifetime = DEFAULT_LIFETIME
        return cls(access, refresh, now + float(lifetime), float(lifetime))


class EnnexosClient:
    """The HTTP side of one device: tokens and JSON calls."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float,
        ca_file: Path | None = None,
        name: str = "sma-ennexos",
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.username = username
        self._password = password
        self.clock = clock
        self.tokens: Tokens | None = None
        self.logins = 0  # counted for tests and benchmarks
        self.refreshes = 0
        self._login: Shielded[Tokens] = Shielded()
        self._log = get_logger(source=name)
        self._http = http.device_client(url, ca_file, timeout, transport)

    # --- tokens ------------------------------------------------------------------------------

    async def access_token(self) -> str:
        tokens = self.tokens
        if tokens is not None and tokens.fresh(self.clock()):
            return tokens.access
        if tokens is not None:
            refreshed = await self._refresh(tokens)
            if refreshed is not None:
                return refreshed.access
        self.tokens = await self._login.run(self._log_in)
        return self.tokens.access

    async def _log_in(self) -> Tokens:
        form = {"grant_type": "password", "username": self.username, "password": self._password}
        response = await self._send("POST", "/api/v1/token", data=form)
        status = response.status_code
        if status in (400, 401, 403) or (status == 200 and not response.content):
            raise LoginRefused(
                f"the device refused the login of user {self.username!r} (HTTP {status}): check "
                "SMA_ENNEXOS_USERNAME and SMA_ENNEXOS_PASSWORD (an account of the device's own "
                "user management, as in its web UI); not retried"
            )
        if status == 404:
            raise NoEnnexos(
                f"{self.url} has no ennexOS API (/api/v1/token answered HTTP 404): an older SMA "
                "inverter? `collector discover` tells whether WebConnect or Speedwire answers"
            )
        tokens = Tokens.from_answer(self._json(response, "/api/v1/token"), self.clock())
        self.logins += 1
        return tokens

    async def _refresh(self, tokens: Tokens) -> Tokens | None:
        """New tokens from the refresh token; None (and one line) when the device refuses it."""
        form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh}
        response = await self._send("POST", "/api/v1/token", data=form)
        if response.status_code != 200:
            self._log.info(
                "ennexos token refresh refused, logging in again", status=response.status_code
            )
            self.tokens = None
            return None
        self.tokens = Tokens.from_answer(self._json(response, "/api/v1/token"), self.clock())
        self.refreshes += 1
        return self.tokens

    # --- calls -------------------------------------------------------------------------------

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON call with the access token; 401 or 403 → one new login, then asked again."""
        for attempt in (1, 2):
            token = await self.access_token()
            response = await self._send(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            status = response.status_code
            if status in (401, 403):
                self.tokens = None  # refused: the next attempt logs in with the password
                if attempt == 1:
                    self._log.info("ennexos token refused, logging in again", status=status)
                    continue
                raise AuthError(f"{path} refused a new token (HTTP {status})")
            if status == 404:
                raise ProtocolError(f"{self.url}{path} answered HTTP 404 (not on this device)")
            if status != 200:
                raise ProtocolError(f"{self.url}{path} answered HTTP {status}")
            return self._json(response, path)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        pending = await self._login.settle(self.timeout)  # a login on its way at shutdown
        tokens = pending or self.tokens
        self.tokens = None
        if tokens is not None:
            try:
                await self._http.delete(
                    "/api/v1/refreshtoken",
                    params={"refreshToken": tokens.refresh},
                    headers={"Authorization": f"Bearer {tokens.access}"},
                    timeout=LOGOUT_TIMEOUT,
                )
                self._log.info("ennexos logged out")
            except httpx.HTTPError:
                pass
        await self._http.aclose()

    # --- HTTP --------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await http.send(self._http, method, path, deadline=self.timeout, **kwargs)
        if response.status_code >= 500:
            raise DeviceUnreachable(f"{self.url}{path} answered HTTP {response.status_code}")
        return response

    def _json(self, response: httpx.Response, path: str) -> Any:
        return http.json_of(response, f"{self.url}{path}")


async def probe(url: str, seconds: float) -> int | None:
    """The product tag of an ennexOS device at `url` (its login-free system info, as
    `collector discover` asks), or None when no ennexOS API answers there."""
    try:
        async with http.new_client(seconds, base_url=url, verify=False) as client:
            response = await client.get("/api/v1/system/info")
            answer = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    tag = answer.get("productFriendlyNameTagId") if isinstance(answer, dict) else None
    return tag if isinstance(tag, int) and not isinstance(tag, bool) else None
