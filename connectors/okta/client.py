"""The real Okta connector: UserBlocker over the Okta Users API (``/api/v1/users``) with an SSWS API token.

Suspend and unsuspend are Okta lifecycle operations, which are not idempotent: suspending a user who is
not ACTIVE answers 400 E0000001 ("Cannot suspend a user that is not active"), unsuspending one who is not
SUSPENDED likewise. So every write reads the user first, answers "already ..." itself, and keeps the
status in `Outcome.before` for the inverse. Every `requests` failure and every Okta error leaves this
module as one of `irflow.connectors.errors`, decided by the HTTP status and Okta's `errorCode`, never by
`errorSummary` text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from irflow.connectors.errors import ConfigError, Conflict, ConnectorError, InvalidRequest
from irflow.connectors.http import DEFAULT_RETRY_AFTER, ErrorReport, JsonApi, Wording
from irflow.connectors.okta.settings import REQUIRED_ENV, OktaSettings
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "okta"
ACTIVE, SUSPENDED = "ACTIVE", "SUSPENDED"
NOT_FOUND_CODE = "E0000007"
VALIDATION_CODE = "E0000001"
"""Okta's "API validation failed": for lifecycle calls, the user's status does not allow the transition."""
WORDING = Wording(reach="Okta", bad_url="OKTA_ORG_URL is not a usable URL",
                  not_json="is OKTA_ORG_URL the Okta org?", wrong_url="is OKTA_ORG_URL the org's base URL?")
REVOKED = ("Okta sessions and OAuth/OIDC tokens revoked: the user must sign in again; not reversible, "
           "nothing to restore")


@dataclass(frozen=True)
class _OktaError:
    """Okta's error body: `{"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses": [...]}`."""

    code: str | None
    summary: str
    causes: list[str] = field(default_factory=list)

    def text(self) -> str:
        why = f" ({'; '.join(self.causes[:3])})" if self.causes else ""
        return f"{self.summary}{why}" + (f" [{self.code}]" if self.code else "")


class _Refused(InvalidRequest):
    """A 400 from Okta that keeps its `errorCode`, so a lifecycle race is told apart by code, not text."""

    def __init__(self, message: str, *, code: str | None, status: int) -> None:
        super().__init__(message, system=SYSTEM, status=status)
        self.code = code


def _okta_error(resp: requests.Response) -> _OktaError | None:
    """The Okta error in an answer, or None when the body is not Okta's (an HTML page, a proxy's text)."""
    try:
        data = resp.json()
    except ValueError:
        return None
    if not isinstance(data, dict) or "errorCode" not in data:
        return None
    raw = data.get("errorCauses")
    causes = [str(c.get("errorSummary")) for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
    return _OktaError(str(data["errorCode"]), str(data.get("errorSummary") or ""), causes)


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _server_now(resp: requests.Response) -> float:
    """Okta's clock from the Date header, so X-Rate-Limit-Reset is not skewed by ours (as Okta's SDKs do)."""
    try:
        return parsedate_to_datetime(resp.headers.get("Date", "")).timestamp()
    except (TypeError, ValueError):
        return time.time()


def retry_after(resp: requests.Response) -> float:
    """Seconds to wait after a 429: the later of Retry-After and X-Rate-Limit-Reset (epoch seconds).

    Okta documents X-Rate-Limit-Reset on every answer and sends Retry-After only for some limits; taking
    the later of the two never retries inside the window. A second when neither is usable.
    """
    waits: list[float] = []
    given = _seconds(resp.headers.get("Retry-After", "").strip())
    if given is not None:
        waits.append(given)
    reset = _seconds(resp.headers.get("X-Rate-Limit-Reset", "").strip())
    if reset is not None:
        waits.append(max(0.0, reset - _server_now(resp)))
    return max(waits) if waits else DEFAULT_RETRY_AFTER


def user_path(user: str, suffix: str = "") -> str:
    """``/api/v1/users/{id}`` with the id (an Okta id or a login) percent-encoded as one path segment.

    User ids come from alerts, i.e. from attackers: "/", "?" and "#" are encoded, and "." / ".." are
    refused because URL normalisation would turn ``users/../x`` into another route.
    """
    if not user or user.strip() in (".", "..") or any(ord(ch) < 32 for ch in user):
        raise InvalidRequest(f"not a usable Okta user id or login: {user!r}", system=SYSTEM)
    return f"/api/v1/users/{quote(user, safe='@')}{suffix}"


class _Http(JsonApi):
    """One org, one API token, one `requests.Session`; every call has a timeout and fails typed.

    The token lives only in a SecretStr and in the Authorization header of each request: never in a URL,
    an exception message or a repr, and any echo of it in an answer is masked. A 2xx without a body is
    ``{}``: the lifecycle calls and 204s answer so.
    """

    def __init__(self, settings: OktaSettings, session: requests.Session | None = None) -> None:
        if settings.org_url is None or settings.api_token is None:
            needed = settings.missing() or list(REQUIRED_ENV.values())
            raise ConfigError(f"the Okta client needs {', '.join(needed)}", system=SYSTEM)
        super().__init__(system=SYSTEM, base_url=settings.org_url, timeout=settings.timeout, wording=WORDING,
                         session=session, empty_ok=True)
        self._token: SecretStr = settings.api_token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"SSWS {self._token.get_secret_value()}", "Accept": "application/json",
                "Content-Type": "application/json"}

    def _secrets(self) -> list[str]:
        return [self._token.get_secret_value()]

    def _report(self, resp: requests.Response) -> ErrorReport:
        # 401/403: E0000011 invalid token, E0000006 lacks the admin role or scope; 404: E0000007 whatever the
        # code, but a 404 without Okta's body is the route (a wrong OKTA_ORG_URL); 429: E0000047.
        body = _okta_error(resp)
        text = body.text() if body else (resp.reason or "no Okta error body")
        return ErrorReport(text, wrong_url=resp.status_code == 404 and body is None,
                           code=body.code if body else None)

    def _retry_after(self, resp: requests.Response) -> float:
        return retry_after(resp)

    def _refused(self, message: str, status: int, report: ErrorReport) -> ConnectorError:
        return _Refused(message, code=report.code, status=status)


def _planned(method: str, path: str, params: Mapping[str, str] | None = None) -> PlannedCall:
    request: dict[str, Any] = {"method": method, "path": path}
    if params:
        request["params"] = dict(params)
    return PlannedCall(SYSTEM, f"{method} {path}", request)


def _dry(call: PlannedCall) -> Outcome:
    # No read either: a dry run must work when Okta is unreachable and leave no trace in its System Log.
    return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run: nothing sent to Okta")


class OktaUsers:
    """UserBlocker for Okta accounts: suspend (ACTIVE -> SUSPENDED), unsuspend, and end every session.

    Suspension keeps the account, its group memberships and app assignments, which is why it and not
    deactivation is containment: unsuspend restores the user exactly as they were.
    """

    system = SYSTEM

    def __init__(self, settings: OktaSettings, *, session: requests.Session | None = None) -> None:
        self._http = _Http(settings, session)

    def __repr__(self) -> str:
        return f"OktaUsers({self._http.base_url!r})"

    def info(self, user: str) -> dict[str, object]:
        """The user as GET /api/v1/users/{id} describes them; `user` may be an Okta id or a login.

        `blocked` is True exactly when the status is SUSPENDED, the state `suspend` sets; the raw
        `status` is kept because it is what an audit and the inverse need (STAGED, LOCKED_OUT, ...).
        """
        body = self._http.send("GET", user_path(user))
        raw = body.get("profile")
        profile: dict[str, Any] = raw if isinstance(raw, dict) else {}
        status = str(body.get("status") or "")
        return {"id": body.get("id"), "login": profile.get("login"), "status": status,
                "blocked": status == SUSPENDED}

    def suspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Stop the user signing in (POST .../lifecycle/suspend); inverse: `unsuspend`.

        Only an ACTIVE user can be suspended; any other status (STAGED, LOCKED_OUT, DEPROVISIONED, ...)
        is a Conflict raised before anything is written, so `unsuspend` can always restore ACTIVE.
        """
        call = _planned("POST", user_path(user, "/lifecycle/suspend"))
        if dry_run:
            return _dry(call)
        before = self.info(user)
        if before["status"] == SUSPENDED:
            return Outcome(call, before, before, changed=False, detail="already suspended")
        if before["status"] != ACTIVE:
            raise Conflict(f"Okta suspends only ACTIVE users; this one is {before['status']}", system=SYSTEM)
        return self._transition(call, user, before, SUSPENDED, "already suspended")

    def unsuspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Let the user sign in again (POST .../lifecycle/unsuspend: SUSPENDED -> ACTIVE); inverse: `suspend`."""
        call = _planned("POST", user_path(user, "/lifecycle/unsuspend"))
        if dry_run:
            return _dry(call)
        before = self.info(user)
        if before["status"] == ACTIVE:
            return Outcome(call, before, before, changed=False, detail="already unsuspended")
        if before["status"] != SUSPENDED:
            detail = f"already unsuspended: the user is {before['status']}, not SUSPENDED; nothing to undo"
            return Outcome(call, before, before, changed=False, detail=detail)
        return self._transition(call, user, before, ACTIVE, "already unsuspended")

    def revoke_sessions(self, user: str, *, dry_run: bool = False) -> Outcome:
        """End every Okta session and revoke the user's OAuth/OIDC tokens (DELETE .../sessions).

        Not reversible, and Okta cannot say whether there were any sessions, so a real call always
        reports `changed=True`. `oauthTokens=true` because a stolen refresh token outlives a session.
        """
        params = {"oauthTokens": "true"}
        call = _planned("DELETE", user_path(user, "/sessions"), params)
        if dry_run:
            return _dry(call)
        before = self.info(user)
        self._http.send("DELETE", user_path(user, "/sessions"), params=params)
        return Outcome(call, before, self.info(user), changed=True, detail=REVOKED)

    def _transition(self, call: PlannedCall, user: str, before: dict[str, object], wanted: str,
                    same: str) -> Outcome:
        try:
            self._http.send("POST", call.request["path"])
        except _Refused as exc:
            if exc.code != VALIDATION_CODE:
                raise
            # Another admin or a workflow moved the user between our read and our write: trust the state.
            after = self.info(user)
            if after["status"] != wanted:
                raise
            return Outcome(call, before, after, changed=False, detail=f"{same} (changed at Okta meanwhile)")
        after = self.info(user)
        if after["status"] != wanted:
            raise Conflict(f"Okta answered OK but the user is {after['status']}, not {wanted}", system=SYSTEM)
        return Outcome(call, before, after, changed=True)
