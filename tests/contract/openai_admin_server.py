"""A loopback OpenAI Admin API: the project API key routes irflow's `OpenAIKeys` calls.

Documented behaviour it follows (OpenAI API reference, "Project API keys"; mirrored in the markdown of
xiqi/openai-api-markdown `project-api-keys/{list,retrieve,delete}.md`, and the newer reference pages):

- ``GET /v1/organization/projects/{project_id}/api_keys?limit=&after=&owner_project_access=`` answers
  ``{"object": "list", "data": [...], "first_id", "last_id", "has_more"}``; `limit` ranges 1..100 (default
  20); `after` is the id to continue after; `owner_project_access` is active|inactive|any and, when omitted,
  "the endpoint applies membership-based visibility, which may exclude some enabled keys".
- ``GET .../api_keys/{key_id}`` answers one ``organization.project.api_key``: object, redacted_value
  (``sk-abc...def``), name, created_at, last_used_at, id, owner {type user|service_account, user |
  service_account}.
- ``DELETE .../api_keys/{key_id}`` answers ``{"object": "organization.project.api_key.deleted", "id",
  "deleted": true}``; older reference text: "an error if the key belonged to a service account" (400), kept
  as the switch `refuse_service_account_delete`.
- Errors are ``{"error": {"message", "type", "param", "code"}}`` (code and param may be null).
- Auth: ``Authorization: Bearer <admin key>``; missing is 401 "You didn't provide an API key...", wrong is
  401 `invalid_api_key` "Incorrect API key provided: sk-adm...xxxx".
- Unknown routes, and known paths with the wrong method, are 404 invalid_request_error `unknown_url`
  "Unknown request URL: GET /v1/... Please check the URL for typos..." (seen live:
  artificial-julien/docker-nginx-openai-api-cache#2; older answers said "Invalid URL (GET /v1/...)", e.g.
  corca-ai/EVAL#46). OpenAI routes on method and path together, so there is no 405.
- 429 carries Retry-After and/or x-ratelimit-reset-requests as a Go duration ("1s", "6m0s"; Rate limits
  guide, "Rate limits in headers").

Assumed, not documented: the text of a 404 for an unknown project or key ("No such ..."; only the status
and the error object's shape are relied on), auth checked after routing, and an unknown `after` cursor
answering an empty page.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ADMIN_KEY = "sk-admin-loopback-4e8b2c6a9d1f"
Reply = tuple[int, Any, dict[str, str]]
NO_KEY_MESSAGE = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
                  "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
                  "blank username) if you're accessing the API from your browser and are prompted for a "
                  "username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.")
ACCESS = ("active", "inactive", "any")
_LIST = re.compile(r"/v1/organization/projects/(?P<project>[^/]+)/api_keys")
_ONE = re.compile(r"/v1/organization/projects/(?P<project>[^/]+)/api_keys/(?P<key>[^/]+)")


def openai_error(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> Reply:
    """OpenAI's error answer."""
    return status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, {}


def redacted(secret: str) -> str:
    """How OpenAI shows a key in listings: a few leading characters, "...", the last four."""
    return f"{secret[:6]}...{secret[-4:]}"


@dataclass
class ProjectKey:
    id: str
    name: str
    redacted_value: str
    owner_type: str = "user"
    owner_has_access: bool = True
    created_at: int = 1711471533
    last_used_at: int | None = 1711471534

    def record(self) -> dict[str, Any]:
        who = {"user": {"object": "organization.project.user", "id": "user_abc", "name": "First Last",
                        "email": "user@example.com", "role": "owner", "added_at": 1711471533},
               "service_account": {"object": "organization.project.service_account", "id": "svc_acct_abc",
                                   "name": "ci-bot", "role": "member", "created_at": 1711471533}}
        return {"object": "organization.project.api_key", "redacted_value": self.redacted_value,
                "name": self.name, "created_at": self.created_at, "last_used_at": self.last_used_at,
                "id": self.id, "owner": {"type": self.owner_type, self.owner_type: who[self.owner_type]}}


@dataclass(frozen=True)
class Seen:
    """One request as it reached the API: what tests check for "no write" and "no secret on the wire"."""

    method: str
    target: str
    authorization: str | None


@dataclass
class _Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class OpenAIAdminServer:
    """The loopback Admin API: projects and their keys, switches, a request log, a server on 127.0.0.1."""

    def __init__(self, admin_key: str = ADMIN_KEY) -> None:
        self.admin_key = admin_key
        self.projects: dict[str, dict[str, ProjectKey]] = {}
        self.requests: list[Seen] = []
        self.refuse_service_account_delete = False
        self.delete_fails_after_write = False
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def __enter__(self) -> OpenAIAdminServer:
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
    def add_key(self, project_id: str, key_id: str, secret: str, **fields: Any) -> ProjectKey:
        """A key whose secret only ever exists here and in the test; the API shows its redacted form."""
        key = ProjectKey(id=key_id, name=fields.pop("name", key_id), redacted_value=redacted(secret), **fields)
        self.projects.setdefault(project_id, {})[key_id] = key
        return key

    def fail_next(self, status: int, times: int = 1, headers: Mapping[str, str] | None = None) -> None:
        """The next `times` requests get `status` (429 with its headers, 403, 500, 503) before any routing."""
        self._faults.extend(_Fault(status, dict(headers or {})) for _ in range(times))

    def delay_next(self, seconds: float) -> None:
        """The next request is answered only after `seconds`: for client timeouts."""
        self._delays.append(seconds)

    def writes(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.method != "GET"]

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, method: str, target: str, authorization: str | None) -> Reply:
        """Answer one request as OpenAI would: fault, route (method and path), auth, validation, handler."""
        delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)
        with self._lock:
            self.requests.append(Seen(method, target, authorization))
            return self._answer(method, target, authorization)

    def _answer(self, method: str, target: str, authorization: str | None) -> Reply:
        if self._faults:
            return self._fault(self._faults.pop(0))
        parts = urlsplit(target)
        one, many = _ONE.fullmatch(parts.path), _LIST.fullmatch(parts.path)
        if not ((one and method in ("GET", "DELETE")) or (many and method == "GET")):
            return openai_error(404, f"Unknown request URL: {method} {parts.path}. Please check the URL for typos, "
                                     "or see the docs at https://platform.openai.com/docs/api-reference/.",
                                code="unknown_url")
        denied = self._auth(authorization)
        if denied:
            return denied
        if many:
            return self._list(many["project"], dict(parse_qsl(parts.query)))
        assert one is not None
        if method == "GET":
            return self._retrieve(one["project"], one["key"])
        return self._delete(one["project"], one["key"])

    def _fault(self, fault: _Fault) -> Reply:
        kinds = {429: ("requests", "rate_limit_exceeded"), 403: ("invalid_request_error", None)}
        kind, code = kinds.get(fault.status, ("server_error", None))
        status, body, _ = openai_error(fault.status, f"loopback fault {fault.status}", kind, code=code)
        return status, body, fault.headers

    def _auth(self, authorization: str | None) -> Reply | None:
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not given:
            return openai_error(401, NO_KEY_MESSAGE)
        if given == self.admin_key:
            return None
        return openai_error(401, f"Incorrect API key provided: {given[:6]}{'*' * 20}{given[-4:]}. You can find "
                                 "your API key at https://platform.openai.com/account/api-keys.",
                            code="invalid_api_key")

    # --- routes -------------------------------------------------------------------------------------
    def _list(self, project_id: str, query: dict[str, str]) -> Reply:
        keys = self.projects.get(project_id)
        if keys is None:
            return openai_error(404, f"No such project: {project_id}", param="project_id")
        problem = _list_problem(query)
        if problem:
            return problem
        visible = _visible(list(keys.values()), query.get("owner_project_access"))
        after = query.get("after")
        start = next((i + 1 for i, k in enumerate(visible) if k.id == after), len(visible)) if after else 0
        page = visible[start:start + int(query.get("limit", "20"))]
        return 200, {"object": "list", "data": [k.record() for k in page],
                     "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                     "has_more": start + len(page) < len(visible)}, {}

    def _retrieve(self, project_id: str, key_id: str) -> Reply:
        key = self.projects.get(project_id, {}).get(key_id)
        if key is None:
            return self._missing(project_id, key_id)
        return 200, key.record(), {}

    def _delete(self, project_id: str, key_id: str) -> Reply:
        key = self.projects.get(project_id, {}).get(key_id)
        if key is None:
            return self._missing(project_id, key_id)
        if key.owner_type == "service_account" and self.refuse_service_account_delete:
            return openai_error(400, "API keys owned by service accounts cannot be deleted with this endpoint")
        del self.projects[project_id][key_id]
        if self.delete_fails_after_write:
            return openai_error(500, "The server had an error while processing your request. Sorry about that!",
                                "server_error")
        return 200, {"object": "organization.project.api_key.deleted", "id": key_id, "deleted": True}, {}

    def _missing(self, project_id: str, key_id: str) -> Reply:
        if project_id not in self.projects:
            return openai_error(404, f"No such project: {project_id}", param="project_id")
        return openai_error(404, f"No such API key: {key_id}", param="key_id")


def _list_problem(query: dict[str, str]) -> Reply | None:
    limit = query.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        return openai_error(400, f"Invalid 'limit': expected an integer between 1 and 100, got {limit!r}.",
                            param="limit", code="invalid_value")
    access = query.get("owner_project_access")
    if access is not None and access not in ACCESS:
        return openai_error(400, f"Invalid 'owner_project_access': expected one of {', '.join(ACCESS)}.",
                            param="owner_project_access", code="invalid_value")
    return None


def _visible(keys: list[ProjectKey], access: str | None) -> list[ProjectKey]:
    if access == "any":
        return keys
    wanted = access != "inactive"  # omitted behaves as membership-based visibility: owners with access only
    return [k for k in keys if k.owner_has_access is wanted]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write: no Nagle / delayed-ACK stall per request

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        api: OpenAIAdminServer = self.server.api  # type: ignore[attr-defined]
        status, payload, headers = api.handle(self.command, self.path, self.headers.get("Authorization"))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep pytest output to what the tests say
