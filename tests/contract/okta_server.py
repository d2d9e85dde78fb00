"""A loopback Okta org: the Users API routes irflow's Okta connector calls, answering as Okta does.

Behaviour follows Okta's documentation and SDKs:

- Error codes (developer.okta.com/docs/reference/error-codes): every error body is {"errorCode",
  "errorSummary", "errorLink", "errorId", "errorCauses"}. E0000001 400 "Api validation failed" (the page
  names suspending a user who is not active as its example), E0000003 400 "The request body was not
  well-formed.", E0000006 403 "You do not have permission to perform the requested action", E0000007
  404 "Not found: Resource not found: <id> (User)", E0000011 401 "Invalid token provided", E0000022 405
  "The endpoint does not support the provided HTTP method", E0000047 429 "API call exceeded rate limit
  due to too many requests." (Okta support article "API Call results in Method Not Allowed or 405".)
- User Lifecycle API (developer.okta.com/docs/api/openapi/okta-management/management/tag/UserLifecycle):
  lifecycle operations are not idempotent; suspend only from ACTIVE, unsuspend only from SUSPENDED back
  to ACTIVE; `{id}` is "an ID, login, or login shortname (as long as the shortname is unambiguous)".
  The refusal's shape is the one okta-sdk-python's tests record: summary "Api validation failed:
  suspendUser", errorCauses [{"errorSummary": "Cannot suspend a user that is not active"}] (and
  "Cannot unsuspend a user that is not suspended").
- User Sessions API: DELETE /api/v1/users/{id}/sessions?oauthTokens=bool answers 204; oauthTokens=true
  also revokes the OAuth/OIDC tokens issued to the user.
- Rate limits (developer.okta.com/docs/reference/rl-best-practices): X-Rate-Limit-Limit, -Remaining and
  -Reset (UTC epoch seconds) on every answer; Okta's SDKs wait X-Rate-Limit-Reset minus the Date header.
- Authorization: "SSWS <api token>"; anything else is 401 E0000011.

Not modelled: Okta's answer to an unknown /api/v1 route is undocumented, so it is E0000007 here; the
many other methods Okta serves on these paths (user update, deactivate) answer 405 here because irflow
never calls them; admin roles beyond one switch (`forbid_writes`: a read-only admin's token).
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tests.contract.loopback import (INVALID_JSON, Fault, LoopbackServer, Reply, Request, Routes, Seen,
                                     fault_headers, read_json)

API_TOKEN = "00LoopbackSswsToken-3f9c1a7e5b2d8c4f6a0e"
ACTIVE, SUSPENDED = "ACTIVE", "SUSPENDED"
RATE_LIMIT = 600
USER = "/api/v1/users/{id}"
REFUSALS = {"suspend": (ACTIVE, "Cannot suspend a user that is not active"),
            "unsuspend": (SUSPENDED, "Cannot unsuspend a user that is not suspended")}
Handler = Callable[[dict[str, str], dict[str, str]], Reply]
"""A route's handler: path parameters and query in, reply out."""


def okta_error(status: int, code: str, summary: str, causes: list[str] | None = None) -> Reply:
    """Okta's error body; `errorLink` repeats the code and `errorId` is unique per answer, as Okta's are."""
    body = {"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": f"oae{secrets.token_hex(11)}",
            "errorCauses": [{"errorSummary": c} for c in causes or []]}
    return status, body, {}


@dataclass
class OktaUser:
    id: str
    login: str
    status: str = ACTIVE
    first_name: str = "Mallory"
    last_name: str = "Example"
    sessions: int = 2
    oauth_tokens: int = 3

    def record(self, org_url: str) -> dict[str, Any]:
        """The user object GET /api/v1/users/{id} answers (the fields irflow and an auditor read)."""
        stamp = "2026-01-05T09:30:00.000Z"
        return {
            "id": self.id, "status": self.status, "created": stamp, "activated": stamp, "statusChanged": stamp,
            "lastLogin": stamp, "lastUpdated": stamp, "passwordChanged": stamp, "type": {"id": "oty1loopback"},
            "profile": {"firstName": self.first_name, "lastName": self.last_name, "email": self.login,
                        "login": self.login, "mobilePhone": None, "secondEmail": None},
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": f"{org_url}/api/v1/users/{self.id}"}},
        }


@dataclass(frozen=True)
class OktaFault(Fault):
    """A fault whose 429 says when the rate-limit window resets: `reset_in` seconds after it is answered."""

    reset_in: float | None = None


class OktaOrg(LoopbackServer[Seen]):
    """The loopback org: users, switches, and what `LoopbackServer` serves and logs."""

    def __init__(self, api_token: str = API_TOKEN) -> None:
        super().__init__(Seen.of)
        self.api_token = api_token
        self.users: dict[str, OktaUser] = {}
        self.forbid_writes = False
        self.race_status: str | None = None
        """After answering the next user read, set that user's status to this: another admin acting
        between irflow's read and its write."""
        self._routes: Routes[Handler] = Routes({
            USER: {"GET": self._get_user},
            f"{USER}/lifecycle/suspend": {"POST": functools.partial(self._lifecycle, "suspend")},
            f"{USER}/lifecycle/unsuspend": {"POST": functools.partial(self._lifecycle, "unsuspend")},
            f"{USER}/sessions": {"DELETE": self._clear_sessions},
        })

    # --- state and switches -------------------------------------------------------------------------
    def add_user(self, login: str, **fields: Any) -> OktaUser:
        user = OktaUser(id=fields.pop("id", f"00u{secrets.token_hex(8)}"), login=login, **fields)
        self.users[user.id] = user
        return user

    def user(self, ref: str) -> OktaUser | None:
        """Find a user as Okta resolves `{id}`: the id, the login, or an unambiguous login shortname."""
        if ref in self.users:
            return self.users[ref]
        by_login = [u for u in self.users.values() if u.login.lower() == ref.lower()]
        if by_login:
            return by_login[0]
        short = [u for u in self.users.values() if u.login.split("@", 1)[0].lower() == ref.lower()]
        return short[0] if len(short) == 1 else None

    def fail_next(self, status: int, times: int = 1, headers: Mapping[str, str] | None = None, *,
                  retry_after: str | None = None, reset_in: float | None = None) -> None:
        """The next `times` requests get `status` (429 with X-Rate-Limit-Reset now+`reset_in`, 500, 503)."""
        self.queue_faults(OktaFault(status, fault_headers(retry_after, headers), reset_in=reset_in), times)

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        """Answer as Okta would, with the rate-limit headers Okta puts on every answer."""
        status, body, headers = super().handle(request)
        limits = {"X-Rate-Limit-Limit": str(RATE_LIMIT), "X-Rate-Limit-Remaining": str(RATE_LIMIT - 1),
                  "X-Rate-Limit-Reset": str(int(time.time()) + 60)}
        return status, body, {**limits, **headers}

    def answer(self, request: Request) -> Reply:
        """Route, method, auth, body, permission, handler."""
        found = self._routes.find(request.path)
        if found is None:
            return okta_error(404, "E0000007", f"Not found: Resource not found: {request.path}")
        _, methods, params = found
        if request.method not in methods:
            return okta_error(405, "E0000022", "The endpoint does not support the provided HTTP method")
        if request.authorization != f"SSWS {self.api_token}":
            return okta_error(401, "E0000011", "Invalid token provided")
        if request.raw.strip() and read_json(request.raw) is INVALID_JSON:
            return okta_error(400, "E0000003", "The request body was not well-formed.")
        if self.forbid_writes and request.method != "GET":
            return okta_error(403, "E0000006", "You do not have permission to perform the requested action")
        return methods[request.method](params, request.query)

    def fault_reply(self, fault: Fault) -> Reply:
        headers = dict(fault.headers)
        if fault.status != 429:
            status, body, _ = okta_error(fault.status, "E0000009", "Internal Server Error")
            return status, body, headers
        reset_in = fault.reset_in if isinstance(fault, OktaFault) else None
        reset = time.time() + (reset_in if reset_in is not None else 60)
        headers.update({"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(int(reset))})
        status, body, _ = okta_error(429, "E0000047", "API call exceeded rate limit due to too many requests.")
        return status, body, headers

    # --- handlers -----------------------------------------------------------------------------------
    def _find(self, params: dict[str, str]) -> OktaUser | Reply:
        ref = unquote(params["id"])
        user = self.user(ref)
        if user is None:
            return okta_error(404, "E0000007", f"Not found: Resource not found: {ref} (User)")
        return user

    def _get_user(self, params: dict[str, str], _query: dict[str, str]) -> Reply:
        user = self._find(params)
        if not isinstance(user, OktaUser):
            return user
        answer = user.record(self.url)
        if self.race_status is not None:
            user.status, self.race_status = self.race_status, None
        return 200, answer, {}

    def _lifecycle(self, op: str, params: dict[str, str], _query: dict[str, str]) -> Reply:
        user = self._find(params)
        if not isinstance(user, OktaUser):
            return user
        required, refusal = REFUSALS[op]
        if user.status != required:
            return okta_error(400, "E0000001", f"Api validation failed: {op}User", [refusal])
        user.status = SUSPENDED if op == "suspend" else ACTIVE
        return 200, {}, {}

    def _clear_sessions(self, params: dict[str, str], query: dict[str, str]) -> Reply:
        user = self._find(params)
        if not isinstance(user, OktaUser):
            return user
        user.sessions = 0
        if query.get("oauthTokens", "false").lower() == "true":
            user.oauth_tokens = 0
        return 204, None, {}
