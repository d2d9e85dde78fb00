"""The real Microsoft Entra ID connector: UserBlocker over Microsoft Graph v1.0 with an app-only token.

Suspending is `PATCH /users/{id}` with `{"accountEnabled": false}` (Graph's "block sign-in"), unsuspending
sets it back, and `POST /users/{id}/revokeSignInSessions` invalidates refresh tokens and session cookies.
The bearer comes from the client-credentials grant at the Microsoft identity platform token endpoint
and is cached until shortly before `expires_in`. Every write reads the user first, so a retried task
finds "already suspended", and `Outcome.before` holds what the inverse restores. Every `requests` failure,
token-endpoint error and Graph error leaves this module as one of `irflow.connectors.errors`, decided by
the HTTP status and the error's structure, never by its message text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from irflow.connectors.entra.settings import REQUIRED_ENV, EntraSettings
from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    RateLimited,
    Unavailable,
)
from irflow.connectors.http import ErrorReport, JsonApi, Wording
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "entra"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SELECT = "id,userPrincipalName,accountEnabled"
"""`accountEnabled` is not among the properties Graph returns by default: without $select it is absent."""
REFRESH_MARGIN = 300.0
"""Renew a cached token this many seconds before it expires (as MSAL does), or at half its lifetime."""
WORDING = Wording(reach="Microsoft", bad_url="the Entra login or Graph URL is not usable",
                  not_json="are the Entra URLs Microsoft's?", wrong_url="is IRFLOW_ENTRA_GRAPH_URL Graph's v1.0 root?")
REVOKED = ("refresh tokens and browser session cookies invalidated (signInSessionsValidFromDateTime reset); "
           "access tokens already issued live until they expire (up to ~1 h); not reversible")


def user_path(user: str, suffix: str = "") -> str:
    """``/users/{id | userPrincipalName}`` with the id percent-encoded as one path segment.

    Ids come from alerts, i.e. from attackers; guest UPNs carry "#EXT#", which unencoded would cut the
    URL short (Azure/azure-cli#23807). "." and ".." are refused: URL normalisation would change the route.
    """
    if not user or user.strip() in (".", "..") or any(ord(ch) < 32 for ch in user):
        raise InvalidRequest(f"not a usable Entra object id or userPrincipalName: {user!r}", system=SYSTEM)
    return f"/users/{quote(user, safe='@')}{suffix}"


@dataclass(frozen=True)
class _Token:
    value: SecretStr
    renew_at: float


def _graph_report(resp: requests.Response) -> ErrorReport:
    """Graph's `{"error": {"code", "message", "innerError"}}` in one line; a 404 without it is the route, not a user.

    401/403 are InvalidAuthenticationToken or Authorization_RequestDenied (a missing permission); a 404 with
    Graph's body is Request_ResourceNotFound.
    """
    try:
        data = resp.json()
    except ValueError:
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return ErrorReport(resp.reason or "no Graph error body", wrong_url=resp.status_code == 404)
    code = None if err.get("code") is None else str(err.get("code"))
    return ErrorReport(f"{err.get('message') or ''} [{code}]", code=code)


def _token_error(resp: requests.Response) -> str:
    """The identity platform's `{"error", "error_description", "error_codes": [AADSTS...]}` in one line."""
    try:
        data = resp.json()
    except ValueError:
        return resp.reason or "no error body"
    if not isinstance(data, dict):
        return str(data)
    codes = data.get("error_codes") if isinstance(data.get("error_codes"), list) else []
    first_line = str(data.get("error_description") or "").splitlines()[:1]  # the rest is trace ids
    aadsts = f" AADSTS{codes[0]}" if codes else ""
    return f"{data.get('error')}{aadsts}: {' '.join(first_line)}".strip()


class _Graph(JsonApi):
    """One tenant, one app registration, one `requests.Session`; every call has a timeout and fails typed.

    The client secret and the bearer live only in SecretStr values, the token request's form body and the
    Authorization header: never in a URL, an exception message or a repr, and any echo is masked.
    """

    def __init__(self, settings: EntraSettings, session: requests.Session | None,
                 clock: Callable[[], float]) -> None:
        if settings.tenant_id is None or settings.client_id is None or settings.client_secret is None:
            needed = settings.missing() or list(REQUIRED_ENV.values())
            raise ConfigError(f"the Entra client needs {', '.join(needed)}", system=SYSTEM)
        super().__init__(system=SYSTEM, base_url=settings.graph_url, timeout=settings.timeout, wording=WORDING,
                         session=session, empty_ok=True)  # PATCH answers 204 No Content
        self.graph_url = settings.graph_url
        self.token_url = f"{settings.login_url}/{settings.tenant_id}/oauth2/v2.0/token"
        self._client_id = settings.client_id
        self._secret: SecretStr = settings.client_secret
        self._clock = clock
        self._token: _Token | None = None

    def __repr__(self) -> str:
        return f"_Graph({self.graph_url!r}, token_url={self.token_url!r})"

    def call(self, method: str, path: str, *, query: str = "", body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Graph call; on 401 the cached token is dropped and the call made once more with a new one.

        A 401 means Graph did not act, so repeating a write is safe; it covers a token revoked or expired
        early at Microsoft's side, which the local expiry cannot see. `query` goes on the URL as written
        (``$select=...``), not percent-encoded as `requests` would encode params.
        """
        where = f"{method} {path}"
        resp = self._send(method, path, query, body)
        if resp.status_code == 401:
            self._token = None
            resp = self._send(method, path, query, body)
        if resp.status_code >= 400:
            raise self._error(where, resp)
        return self._payload(where, resp)

    def _send(self, method: str, path: str, query: str, body: dict[str, Any] | None) -> requests.Response:
        url = self.graph_url + path + (f"?{query}" if query else "")
        return self._request(f"{method} {path}", method, url, headers=self._headers(), json=body)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._bearer().get_secret_value()}", "Accept": "application/json"}

    def _bearer(self) -> SecretStr:
        if self._token is None or self._clock() >= self._token.renew_at:
            self._token = self._fetch_token()
        return self._token.value

    def _fetch_token(self) -> _Token:
        form = {"client_id": self._client_id, "client_secret": self._secret.get_secret_value(),
                "grant_type": "client_credentials", "scope": GRAPH_SCOPE}
        started = self._clock()
        resp = self._request("POST token", "POST", self.token_url, data=form)
        if resp.status_code >= 400:
            raise self._token_failure(resp)
        data = self._payload("POST token", resp)
        access, lifetime = data.get("access_token"), data.get("expires_in")
        if not isinstance(access, str) or not access or not isinstance(lifetime, int | float):
            raise ConfigError("the token endpoint answered without access_token/expires_in; is "
                              "IRFLOW_ENTRA_LOGIN_URL the Microsoft identity platform?", system=SYSTEM)
        margin = min(REFRESH_MARGIN, float(lifetime) / 2)
        return _Token(SecretStr(access), started + float(lifetime) - margin)

    def _token_failure(self, resp: requests.Response) -> ConnectorError:
        # invalid_client (wrong or expired secret, 401), unauthorized_client (unknown app id), tenant not
        # found, invalid_scope (400): whatever the code, no token can be had with this configuration.
        status, message = resp.status_code, self._scrub(f"POST token: {_token_error(resp)}")
        if status == 429:
            return RateLimited(message, retry_after=self._retry_after(resp), system=SYSTEM, status=status)
        if status >= 500:
            return Unavailable(message, system=SYSTEM, status=status)
        return AuthError(message, system=SYSTEM, status=status)

    def _secrets(self) -> list[str]:
        return [self._secret.get_secret_value()] + ([self._token.value.get_secret_value()] if self._token else [])

    def _report(self, resp: requests.Response) -> ErrorReport:
        return _graph_report(resp)

    def _refused(self, message: str, status: int, report: ErrorReport) -> ConnectorError:
        # Every other 4xx, 409 included, refuses the request itself: none of these routes reports a state conflict.
        return InvalidRequest(message, system=SYSTEM, status=status)


def _planned(method: str, path: str, body: dict[str, Any] | None = None) -> PlannedCall:
    request: dict[str, Any] = {"method": method, "path": path}
    if body is not None:
        request["body"] = body
    return PlannedCall(SYSTEM, f"{method} {path}", request)


def _dry(call: PlannedCall) -> Outcome:
    # No read and no token either: a dry run must work offline and leave no sign-in in the tenant's logs.
    return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run: nothing sent to Microsoft")


class EntraUsers:
    """UserBlocker for Entra ID accounts: block sign-in (accountEnabled=false), unblock, revoke sessions.

    Directory writes replicate: a read right after a 204 can still show the old value. After a write the
    user is re-read up to `settle_reads` times, `settle_delay` seconds apart, before a 2xx that did not
    take is called a Conflict. `clock` (monotonic seconds) decides token expiry; tests move it.
    """

    system = SYSTEM

    def __init__(self, settings: EntraSettings, *, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic, settle_reads: int = 3,
                 settle_delay: float = 0.5) -> None:
        self._graph = _Graph(settings, session, clock)
        self._settle_reads = max(1, settle_reads)
        self._settle_delay = settle_delay

    def __repr__(self) -> str:
        return f"EntraUsers({self._graph.graph_url!r})"

    def info(self, user: str) -> dict[str, object]:
        """The user as GET /users/{id}?$select=... describes them; `user` is an object id or a UPN.

        `blocked` is True exactly when `accountEnabled` is false, the state `suspend` sets.
        """
        body = self._graph.call("GET", user_path(user), query=f"$select={SELECT}")
        enabled = body.get("accountEnabled")
        if not isinstance(enabled, bool):
            raise ConfigError("Graph answered without accountEnabled; is the app allowed to read it "
                              "(User.Read.All)?", system=SYSTEM)
        return {"id": body.get("id"), "userPrincipalName": body.get("userPrincipalName"),
                "accountEnabled": enabled, "blocked": not enabled}

    def suspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Block sign-in (PATCH /users/{id} accountEnabled=false); inverse: `unsuspend`.

        New sign-ins and token refreshes fail at once; pair with `revoke_sessions` to end the rest.
        """
        return self._set_enabled(user, False, dry_run)

    def unsuspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Allow sign-in again (PATCH /users/{id} accountEnabled=true); inverse: `suspend`."""
        return self._set_enabled(user, True, dry_run)

    def revoke_sessions(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Invalidate the user's refresh tokens and session cookies (POST .../revokeSignInSessions).

        Not reversible. Graph answers `{"value": true}`; anything else is a Conflict, not a success.
        """
        path = user_path(user, "/revokeSignInSessions")
        call = _planned("POST", path)
        if dry_run:
            return _dry(call)
        before = self.info(user)
        answer = self._graph.call("POST", path)
        if answer.get("value") is not True:
            raise Conflict(f"Graph answered {answer.get('value')!r} to revokeSignInSessions", system=SYSTEM)
        return Outcome(call, before, before, changed=True, detail=REVOKED)

    def _set_enabled(self, user: str, enabled: bool, dry_run: bool) -> Outcome:
        path, body = user_path(user), {"accountEnabled": enabled}
        call = _planned("PATCH", path, body)
        if dry_run:
            return _dry(call)
        before = self.info(user)
        if before["accountEnabled"] is enabled:
            detail = "already unsuspended" if enabled else "already suspended"
            return Outcome(call, before, before, changed=False, detail=detail)
        self._graph.call("PATCH", path, body=body)
        return Outcome(call, before, self._settled(user, enabled), changed=True)

    def _settled(self, user: str, enabled: bool) -> dict[str, object]:
        """Read until the write shows (directory replication), then it is verified at the target."""
        for attempt in range(self._settle_reads):
            if attempt:
                time.sleep(self._settle_delay)
            after = self.info(user)
            if after["accountEnabled"] is enabled:
                return after
        state = "enabled" if after["accountEnabled"] else "disabled"
        raise Conflict(f"Graph answered 204 but after {self._settle_reads} reads the account is still {state}",
                       system=SYSTEM)
