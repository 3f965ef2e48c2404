"""One session with an inverter's WebConnect JSON API (sma.md §7): login, reads, logout.

The device keeps a small table of sessions, and a session that is not logged out holds its slot
until it times out (hours, as reported). So: one session, kept between polls; logged out at
shutdown and whenever it is given up; never a login per poll. A login still on its way when the
collector stops is waited for (briefly), so that its session can be logged out too.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx

from collector import http
from collector.errors import (
    DeviceUnreachable,
    LoginRefused,
    ProtocolError,
    excerpt,
)
from collector.logging import get_logger
from collector.shield import Shielded

SESSIONS_FULL_WAIT = 300.0  # after err 503 (no free session slot), wait five minutes
LOGOUT_TIMEOUT = 2.0


class NoWebConnect(ProtocolError):
    """The address does not offer WebConnect's login, or refuses it over plain HTTP: a setting to
    fix, not a state to wait out."""

    permanent = True


class SessionsFull(DeviceUnreachable):
    """err 503 at login: every session slot is taken. Said once; then minutes between tries."""

    asleep = True  # one line, and the poll loop's back-off at once
    retry_after = SESSIONS_FULL_WAIT


class WebConnectClient:
    """The HTTP side: JSON posts to /dyn/*.json, the session id, login and logout."""

    def __init__(
        self,
        url: str,
        password: str,
        right: str,
        *,
        timeout: float,
        ca_file: Path | None = None,
        name: str = "sma-webconnect",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._password = password
        self._right = right
        self.sid: str | None = None
        self.logins = 0  # successful logins and logouts sent (tests and benchmarks count them)
        self.logouts = 0
        self.requests = 0
        self._login: Shielded[str] = Shielded()
        self._log = get_logger(source=name)
        self._http = http.device_client(url, ca_file, timeout, transport)

    @property
    def _group(self) -> str:
        return "installer" if self._right == "istl" else "user"

    # --- the session -------------------------------------------------------------------------

    async def session(self) -> str:
        """The session id; logs in when there is none (shielded: a poll cancelled meanwhile
        leaves the login to finish, for `aclose` to log out)."""
        if self.sid is None:
            self.sid = await self._login.run(self._log_in)
        return self.sid

    async def _log_in(self) -> str:
        reply = await self._post("/dyn/login.json", {"right": self._right, "pass": self._password})
        error = reply.get("err") if isinstance(reply, dict) else None
        if error == 503:
            raise SessionsFull(
                "the inverter has no free session slot (err 503): its web interface keeps only a "
                "few sessions, and one not logged out (a browser with the web UI open, another "
                "tool reading it, a collector killed without logout) holds its slot for hours; "
                "close the web UI and other tools, wait, or restart the inverter; trying again "
                f"in {SESSIONS_FULL_WAIT / 60:g} minutes"
            )
        if error == 404:
            raise NoWebConnect(
                f"the inverter refuses logins over plain HTTP (err 404): set the URL to "
                f"https://{httpx.URL(self.url).host} (newer firmware speaks https only)"
            )
        if error is not None:
            raise ProtocolError(f"the inverter answered the login with err {error}")
        result = reply.get("result") if isinstance(reply, dict) else None
        if not isinstance(result, dict) or "sid" not in result:
            raise ProtocolError(f"the login's answer has no session id: {excerpt(reply, 100)}")
        sid = result["sid"]
        if sid is None:
            raise LoginRefused(
                f"the inverter refused the {self._group} password (WebConnect login answered "
                "sid null): check SMA_WEBCONNECT_PASSWORD and SMA_WEBCONNECT_USER_GROUP; not "
                "retried, since SMA devices lock out after several wrong passwords"
            )
        if not isinstance(sid, str) or not sid:
            raise ProtocolError(f"the login's session id is not a text: {excerpt(sid, 100)}")
        self.logins += 1
        return sid

    async def read(self, call: str, body: dict[str, Any]) -> Any:
        """POST /dyn/<call>?sid=… in the session. `{"err": 401}` (the inverter ended the
        session) logs in again once and asks again."""
        for attempt in (1, 2):
            sid = await self.session()
            reply = await self._post(f"/dyn/{call}", body, sid=sid)
            if not (isinstance(reply, dict) and reply.get("err") == 401):
                return reply
            await self.give_up()
            if attempt == 1:
                self._log.info(
                    "webconnect session ended by the inverter, logging in again", call=call
                )
        raise DeviceUnreachable(f"the inverter ended a new session at once ({call}: err 401)")

    async def give_up(self) -> None:
        """Log the session out (best effort) and forget it: its slot is free again."""
        sid, self.sid = self.sid, None
        if sid is None:
            return
        self.logouts += 1
        with contextlib.suppress(httpx.HTTPError):
            await self._http.post(
                "/dyn/logout.json", params={"sid": sid}, json={}, timeout=LOGOUT_TIMEOUT
            )

    async def aclose(self) -> None:
        sid = await self._login.settle(self.timeout)  # a login on its way at shutdown
        if sid is not None:
            self.sid = sid
        if self.sid is not None:
            await self.give_up()
            self._log.info("webconnect session logged out")
        await self._http.aclose()

    # --- HTTP ----------------------------------------------------------------------------------

    async def _post(self, path: str, body: dict[str, Any], *, sid: str | None = None) -> Any:
        where = f"{self.url}{path}"
        self.requests += 1
        response = await http.send(
            self._http,
            "POST",
            path,
            deadline=self.timeout,
            params={"sid": sid} if sid is not None else None,
            json=body,
        )
        status = response.status_code
        if status >= 500:
            raise DeviceUnreachable(f"{where} answered HTTP {status}")
        if status != 200:
            if path == "/dyn/login.json" and status in (401, 403, 404):
                raise NoWebConnect(
                    f"{where} answered HTTP {status}: no WebConnect here (a Tripower X or "
                    "another ennexOS device? `collector discover` tells which protocol answers)"
                )
            raise ProtocolError(f"{where} answered HTTP {status}")
        return http.json_of(response, where)


async def probe(url: str, seconds: float) -> bool:
    """Whether WebConnect answers at `url`: its login-free dashboard values (`collector
    discover`). Opens no session."""
    try:
        async with http.new_client(seconds, base_url=url, verify=False) as client:
            response = await client.post("/dyn/getDashValues.json", json={"destDev": []})
            answer = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(answer, dict) and isinstance(answer.get("result"), dict)
