"""SENEC's app API over HTTP: the Keycloak login as a browser makes it, tokens, JSON requests.

Every failure names the step that failed and why, in one line: SENEC's servers not reachable,
a path SENEC moved (and which setting to change), wrong credentials, MFA without a TOTP URI, a
rejected TOTP code, a login page SENEC changed. A failed login waits minutes before the next
attempt, growing, so that SENEC's login server is never hammered; the tokens are kept in the
instance's folder in DATA_DIR (mode 0600), so that a restart does not log in again.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from collector import __version__, http
from collector.errors import (
    AuthError,
    DeviceUnreachable,
    LoginRefused,
    ProtocolError,
    SourceError,
)
from collector.logging import get_logger
from collector.sources.senec_cloud import codec
from collector.sources.senec_cloud.settings import SenecCloudSettings

USER_AGENT = f"energy-collector/{__version__} (+https://github.com/energy-collector)"
REFRESH_MARGIN = 30.0  # refresh an access token this long before it expires
LOGIN_BACKOFF_FIRST = 300.0  # after a refused login, wait 5 minutes, then 10, 20 ... at most
LOGIN_BACKOFF_MAX = 3600.0  # an hour
MAX_REDIRECTS = 5


class ApiMoved(ProtocolError):
    """A known path answered 400 or 404: SENEC changed its API."""


class Forbidden(AuthError):
    """The API answered 403 for a system."""


class SenecCloudClient:
    """One account's session with SENEC's app API."""

    def __init__(
        self,
        settings: SenecCloudSettings,
        token_file: Path | None,
        *,
        name: str = "senec-cloud",
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.token_file = token_file
        self.clock = clock
        self.transport = transport
        self.timeout = settings.effective_timeout
        self.tokens: codec.Tokens | None = None
        self.logins = 0  # full logins made (tests count them)
        self._loaded = False
        self._login_failures = 0
        self._login_blocked_until = 0.0
        self._login_refusal = ""
        self._endpoints: dict[str, str] | None = None
        self._log = get_logger(source=name)
        self._api = http.new_client(
            self.timeout, headers={"User-Agent": USER_AGENT}, transport=transport
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    # --- API requests ----------------------------------------------------------------------

    async def get(self, url: str, setting: str) -> Any:
        """GET JSON with the access token. `setting` is the variable to change should SENEC
        have moved this path. A 401 refreshes the token (or logs in) once and asks again."""
        response = await self._request(url, await self.access_token())
        if response.status_code == 401:  # revoked or expired early: refresh, or log in
            if self.tokens is not None:
                self.tokens = self.tokens.expired()
            response = await self._request(url, await self.access_token())
            if response.status_code == 401:
                raise AuthError(f"SENEC refused a fresh access token for {url} (HTTP 401)")
        status = response.status_code
        if status == 403:
            raise Forbidden(f"{url} answered HTTP 403 (not this account's)")
        if status in (400, 404):
            raise ApiMoved(
                f"SENEC changed its API: GET {url} answered HTTP {status}; if SENEC has moved it, "
                f"set {setting} to the new address"
            )
        if status == 429:
            raise DeviceUnreachable(
                f"SENEC asks to slow down: {url} answered HTTP 429",
                retry_after=http.retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise DeviceUnreachable(f"SENEC's server failed: {url} answered HTTP {status}")
        if status != 200:
            raise ProtocolError(f"{url} answered HTTP {status}")
        return http.json_of(response, url)

    async def _request(self, url: str, token: str) -> httpx.Response:
        return await self._send(
            self._api, "GET", url, "SENEC's server", headers={"Authorization": f"Bearer {token}"}
        )

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, server: str, **request: Any
    ) -> httpx.Response:
        """One request to SENEC within the timeout; `server` names it when it is not
        reachable ("SENEC's login server")."""

        def unreachable(where: str, exc: httpx.ConnectError) -> str:
            return f"{server} {_host(where)} is not reachable: {exc or type(exc).__name__}"

        return await http.send(
            client, method, url, deadline=self.timeout, explain=unreachable, **request
        )

    # --- tokens ----------------------------------------------------------------------------

    async def access_token(self) -> str:
        now = self.clock()
        if not self._loaded:
            self._loaded = True
            self.tokens = self._load()
            if self.tokens is not None:
                self._log.info("senec login reused", token_file=str(self.token_file))
        tokens = self.tokens
        if tokens is not None and tokens.fresh(now, REFRESH_MARGIN):
            return tokens.access
        if tokens is not None and tokens.can_refresh(now):
            refreshed = await self._refresh(tokens)
            if refreshed is not None:
                return refreshed.access
        return (await self.login()).access

    async def _refresh(self, tokens: codec.Tokens) -> codec.Tokens | None:
        """New tokens from the refresh token; None (and one log line) when SENEC refuses it."""
        endpoints = await self._discover(self._api)
        response = await self._send(
            self._api,
            "POST",
            endpoints["token_endpoint"],
            "SENEC's login server",
            data={
                "grant_type": "refresh_token",
                "client_id": codec.CLIENT_ID,
                "refresh_token": tokens.refresh,
            },
        )
        if response.status_code >= 500:
            raise DeviceUnreachable(f"SENEC's login server failed (HTTP {response.status_code})")
        if response.status_code != 200:
            self._log.warning(
                "senec token refresh refused, logging in again",
                status=response.status_code,
                error=_oauth_error(response),
            )
            self.tokens = None
            return None
        return self._keep(codec.Tokens.from_answer(_json(response, "token endpoint"), self.clock()))

    def _keep(self, tokens: codec.Tokens) -> codec.Tokens:
        self.tokens = tokens
        self._save(tokens)
        return tokens

    def _load(self) -> codec.Tokens | None:
        if self.token_file is None:
            return None
        try:
            data = json.loads(self.token_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._log.warning("senec token file unreadable, logging in", error=str(exc))
            return None
        if not isinstance(data, dict) or data.get("account") != self._account():
            return None  # another account's (or another server's)
        return codec.Tokens.from_dict(data.get("tokens"))

    def _save(self, tokens: codec.Tokens) -> None:
        if self.token_file is None:
            return
        data = {"account": self._account(), "tokens": tokens.as_dict()}
        temporary = self.token_file.with_suffix(".tmp")
        try:
            self.token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump(data, file)
            os.replace(temporary, self.token_file)
        except OSError as exc:  # not fatal: the next start logs in again
            self._log.warning("senec tokens not kept", file=str(self.token_file), error=str(exc))

    def _account(self) -> str:
        return f"{self.settings.username} at {self.settings.cloud_sso_url}"

    # --- the login -------------------------------------------------------------------------

    async def login(self) -> codec.Tokens:
        """The whole login; LoginRefused (with the wait before the next attempt) if SENEC
        refuses it, and no request at all while that wait lasts."""
        now = self.clock()
        if now < self._login_blocked_until:
            raise LoginRefused(
                f"{self._login_refusal} (next login attempt in "
                f"{(self._login_blocked_until - now) / 60:.0f} min)",
                permanent=False,
                retry_after=self._login_blocked_until - now,
            )
        try:
            tokens = await self._login()
        except LoginRefused as exc:
            self._login_failures += 1
            wait = min(LOGIN_BACKOFF_FIRST * 2 ** (self._login_failures - 1), LOGIN_BACKOFF_MAX)
            self._login_blocked_until = self.clock() + wait
            self._login_refusal = str(exc)
            # SENEC's login may refuse for a while (its SSO was changed, a lock-out): asked
            # again after a growing wait, never in a loop.
            raise LoginRefused(
                f"{exc} (next login attempt in {wait / 60:.0f} min)",
                permanent=False,
                retry_after=wait,
            ) from None
        except SourceError:
            self._endpoints = None  # read the discovery document again: SENEC may have moved
            raise
        self._login_failures = 0
        self.logins += 1
        self._log.info("senec login", user=masked(self.settings.username), logins=self.logins)
        return self._keep(tokens)

    async def _login(self) -> codec.Tokens:
        async with http.new_client(
            self.timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "*/*"},
            transport=self.transport,
        ) as browser:
            endpoints = await self._discover(browser)
            verifier, challenge = codec.pkce_pair()
            query = urlencode(codec.authorization_query(challenge))
            url = f"{endpoints['authorization_endpoint']}?{query}"
            code, page = await self._follow(browser, "GET", url, None, "the login page")
            if code is None:
                code = await self._submit_login(browser, page)
            return await self._exchange(browser, endpoints["token_endpoint"], code, verifier)

    async def _discover(self, client: httpx.AsyncClient) -> dict[str, str]:
        """The login's endpoints from SENEC's discovery document (read once per process)."""
        if self._endpoints is not None:
            return self._endpoints
        url = f"{self.settings.cloud_sso_url}/.well-known/openid-configuration"
        response = await self._send(client, "GET", url, "SENEC's login server")
        if response.status_code in (400, 404):
            raise ApiMoved(
                f"SENEC changed its login: {url} answered HTTP {response.status_code}; "
                "if SENEC has moved it, set SENEC_CLOUD_SSO_URL"
            )
        if response.status_code != 200:
            raise DeviceUnreachable(
                f"SENEC's login server is down: {url} answered HTTP {response.status_code}"
            )
        document = _json(response, "the OpenID discovery document")
        endpoints = {}
        for key in ("authorization_endpoint", "token_endpoint"):
            value = document.get(key) if isinstance(document, dict) else None
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise ProtocolError(f"SENEC's discovery document {url} has no {key}")
            endpoints[key] = value
        self._endpoints = endpoints
        return endpoints

    async def _follow(
        self,
        browser: httpx.AsyncClient,
        method: str,
        url: str,
        form: dict[str, str] | None,
        step: str,
    ) -> tuple[str | None, codec.Page]:
        """One step of the login: (the authorization code, if SENEC redirected to the app with
        it; else the page it showed)."""
        for _ in range(MAX_REDIRECTS):
            response = await self._send(browser, method, url, f"SENEC login, {step}:", data=form)
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location", "")
                code = codec.code_from_redirect(location)
                if code is not None:
                    return code, codec.Page()
                target = urljoin(url, location)
                if not location or urlsplit(target).netloc != urlsplit(url).netloc:
                    raise ProtocolError(
                        f"SENEC login, {step}: unexpected redirect to {location or '(nowhere)'}"
                    )
                method, url, form = "GET", target, None
                continue
            if status >= 500:
                raise DeviceUnreachable(f"SENEC login, {step}: the server failed (HTTP {status})")
            if status != 200:
                raise ProtocolError(f"SENEC login, {step}: unexpected answer HTTP {status}")
            page = codec.parse_page(response.text)
            for found in page.forms:  # an action may be relative to the page
                found.action = urljoin(url, found.action) if found.action else ""
            return None, page
        raise ProtocolError(f"SENEC login, {step}: more than {MAX_REDIRECTS} redirects")

    async def _submit_login(self, browser: httpx.AsyncClient, page: codec.Page) -> str:
        form = page.form_with("username")
        if form is None:
            raise ProtocolError(
                "SENEC login: the login page has no form with a username field (SENEC has "
                f"changed its login page; the page's title: {page.title or '(none)'!r})"
            )
        password = self.settings.password.get_secret_value()
        fields = _fields(form, username=self.settings.username)
        if form.has("password"):
            fields["password"] = password
            code, page = await self._post(browser, form, fields, "username and password")
        else:  # two steps: the username first, then a page that asks for the password
            code, page = await self._post(browser, form, fields, "username")
            if code is None:
                second = page.form_with("password")
                if second is None:
                    raise self._refusal(page, "username")
                code, page = await self._post(
                    browser, second, _fields(second, password=password), "password"
                )
        if code is not None:
            return code
        otp_form = page.form_with("otp")
        if otp_form is None:
            raise self._refusal(page, "password")
        uri = self.settings.totp_uri
        if uri is None:
            raise AuthError(
                "SENEC asks for a TOTP code (MFA is on for this account) but SENEC_TOTP_URI is "
                "not set: give the otpauth:// URI of the QR code from SENEC's MFA setup",
                permanent=True,
            )
        otp = codec.totp_code(uri.get_secret_value(), self.clock())
        code, page = await self._post(browser, otp_form, _fields(otp_form, otp=otp), "TOTP code")
        if code is not None:
            return code
        if page.form_with("otp") is not None:
            raise LoginRefused(
                "SENEC rejected the TOTP code: check this machine's clock (codes last 30 s) and "
                "that SENEC_TOTP_URI is the account's current one"
                + (f" (SENEC says: {page.message})" if page.message else "")
            )
        raise self._refusal(page, "TOTP code")

    async def _post(
        self, browser: httpx.AsyncClient, form: codec.Form, fields: dict[str, str], step: str
    ) -> tuple[str | None, codec.Page]:
        if not form.action:
            raise ProtocolError(f"SENEC login, {step}: the form has no action (page changed)")
        return await self._follow(browser, "POST", form.action, fields, step)

    def _refusal(self, page: codec.Page, step: str) -> SourceError:
        """What a page that did not move the login on means."""
        if page.form_with("username") is not None or page.form_with("password") is not None:
            said = page.message or "the login form again"
            return LoginRefused(
                f"SENEC refused the login: {said} (check SENEC_USERNAME and SENEC_PASSWORD)"
            )
        return ProtocolError(
            f"SENEC login, after the {step}: an unexpected page {page.title or '(no title)'!r}"
            + (f": {page.message}" if page.message else "")
        )

    async def _exchange(
        self, browser: httpx.AsyncClient, endpoint: str, code: str, verifier: str
    ) -> codec.Tokens:
        response = await self._send(
            browser,
            "POST",
            endpoint,
            "SENEC login, token:",
            data={
                "grant_type": "authorization_code",
                "client_id": codec.CLIENT_ID,
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": codec.REDIRECT_URI,
            },
        )
        if response.status_code >= 500:
            raise DeviceUnreachable(
                f"SENEC login, token: the server failed (HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise ProtocolError(
                f"SENEC login, token: the code was refused (HTTP {response.status_code}: "
                f"{_oauth_error(response)})"
            )
        return codec.Tokens.from_answer(_json(response, "token endpoint"), self.clock())


def _fields(form: codec.Form, **values: str) -> dict[str, str]:
    """The form's own inputs (hidden ones included) with ours filled in."""
    fields = {name: value for name, value in form.inputs.items() if name not in ("login",)}
    fields.update(values)
    return fields


def _json(response: httpx.Response, what: str) -> Any:
    return http.json_of(response, f"SENEC's {what}")


def _oauth_error(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:80]
    if isinstance(data, dict):
        return str(data.get("error_description") or data.get("error") or data)[:120]
    return str(data)[:120]


def masked(user: str) -> str:
    """A user name (an e-mail address) as the log shows it: `j***@example.com`."""
    name, at, domain = user.partition("@")
    return f"{name[:1]}***{at}{domain}"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
