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

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

API_TOKEN = "00LoopbackSswsToken-3f9c1a7e5b2d8c4f6a0e"
ACTIVE, SUSPENDED = "ACTIVE", "SUSPENDED"
RATE_LIMIT = 600
Reply = tuple[int, Any, dict[str, str]]
_Handle = Callable[[re.Match[str], dict[str, str]], Reply]

USER = re.compile(r"^/api/v1/users/(?P<id>[^/]+)$")
LIFECYCLE = re.compile(r"^/api/v1/users/(?P<id>[^/]+)/lifecycle/(?P<op>suspend|unsuspend)$")
SESSIONS = re.compile(r"^/api/v1/users/(?P<id>[^/]+)/sessions$")
REFUSALS = {"suspend": (ACTIVE, "Cannot suspend a user that is not active"),
            "unsuspend": (SUSPENDED, "Cannot unsuspend a user that is not suspended")}


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
class Seen:
    """One request as it reached the org: what a test checks for "no write" and "no secret on the wire"."""

    method: str
    target: str
    body: str
    authorization: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass
class _Fault:
    status: int
    retry_after: str | None
    reset_in: float | None


class OktaOrg:
    """The loopback org: users, switches, a request log, and a ThreadingHTTPServer on 127.0.0.1."""

    def __init__(self, api_token: str = API_TOKEN) -> None:
        self.api_token = api_token
        self.users: dict[str, OktaUser] = {}
        self.requests: list[Seen] = []
        self.forbid_writes = False
        self.race_status: str | None = None
        """After answering the next user read, set that user's status to this: another admin acting
        between irflow's read and its write."""
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.org = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._routes: list[tuple[re.Pattern[str], dict[str, _Handle]]] = [
            (USER, {"GET": self._get_user}),
            (LIFECYCLE, {"POST": self._lifecycle}),
            (SESSIONS, {"DELETE": self._clear_sessions}),
        ]

    def __enter__(self) -> OktaOrg:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

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

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None,
                  reset_in: float | None = None) -> None:
        """The next `times` requests get `status` (429 with X-Rate-Limit-Reset now+`reset_in`, 500, 503)."""
        self._faults.extend(_Fault(status, retry_after, reset_in) for _ in range(times))

    def delay_next(self, seconds: float) -> None:
        """The next request is answered only after `seconds`: for client timeouts."""
        self._delays.append(seconds)

    def writes(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.method != "GET"]

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> Reply:
        """Answer one request the way Okta would: fault, route, method, auth, body, permission, handler."""
        delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)
        with self._lock:
            self.requests.append(Seen(method, target, raw.decode(errors="replace"), authorization))
            status, body, headers = self._answer(method, target, authorization, raw)
            limits = {"X-Rate-Limit-Limit": str(RATE_LIMIT), "X-Rate-Limit-Remaining": str(RATE_LIMIT - 1),
                      "X-Rate-Limit-Reset": str(int(time.time()) + 60)}
            return status, body, {**limits, **headers}

    def _answer(self, method: str, target: str, authorization: str | None, raw: bytes) -> Reply:
        if self._faults:
            return self._fault(self._faults.pop(0))
        parts = urlsplit(target)
        routed = self._route(parts.path)
        if routed is None:
            return okta_error(404, "E0000007", f"Not found: Resource not found: {parts.path}")
        match, methods = routed
        if method not in methods:
            return okta_error(405, "E0000022", "The endpoint does not support the provided HTTP method")
        if authorization != f"SSWS {self.api_token}":
            return okta_error(401, "E0000011", "Invalid token provided")
        if raw.strip() and not _is_json(raw):
            return okta_error(400, "E0000003", "The request body was not well-formed.")
        if self.forbid_writes and method != "GET":
            return okta_error(403, "E0000006", "You do not have permission to perform the requested action")
        return methods[method](match, dict(parse_qsl(parts.query)))

    def _route(self, path: str) -> tuple[re.Match[str], dict[str, _Handle]] | None:
        for pattern, methods in self._routes:
            match = pattern.match(path)
            if match:
                return match, methods
        return None

    def _fault(self, fault: _Fault) -> Reply:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if fault.status == 429:
            reset = time.time() + (fault.reset_in if fault.reset_in is not None else 60)
            headers.update({"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(int(reset))})
            status, body, _ = okta_error(429, "E0000047", "API call exceeded rate limit due to too many requests.")
        else:
            status, body, _ = okta_error(fault.status, "E0000009", "Internal Server Error")
        return status, body, headers

    # --- handlers -----------------------------------------------------------------------------------
    def _find(self, match: re.Match[str]) -> OktaUser | Reply:
        ref = unquote(match["id"])
        user = self.user(ref)
        if user is None:
            return okta_error(404, "E0000007", f"Not found: Resource not found: {ref} (User)")
        return user

    def _get_user(self, match: re.Match[str], _query: dict[str, str]) -> Reply:
        user = self._find(match)
        if not isinstance(user, OktaUser):
            return user
        answer = user.record(self.url)
        if self.race_status is not None:
            user.status, self.race_status = self.race_status, None
        return 200, answer, {}

    def _lifecycle(self, match: re.Match[str], _query: dict[str, str]) -> Reply:
        user = self._find(match)
        if not isinstance(user, OktaUser):
            return user
        required, refusal = REFUSALS[match["op"]]
        if user.status != required:
            return okta_error(400, "E0000001", f"Api validation failed: {match['op']}User", [refusal])
        user.status = SUSPENDED if match["op"] == "suspend" else ACTIVE
        return 200, {}, {}

    def _clear_sessions(self, match: re.Match[str], query: dict[str, str]) -> Reply:
        user = self._find(match)
        if not isinstance(user, OktaUser):
            return user
        user.sessions = 0
        if query.get("oauthTokens", "false").lower() == "true":
            user.oauth_tokens = 0
        return 204, None, {}


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write: no Nagle / delayed-ACK stall per request

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        org: OktaOrg = self.server.org  # type: ignore[attr-defined]
        status, payload, headers = org.handle(self.command, self.path, self.headers.get("Authorization"), raw)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep pytest output to what the tests say
