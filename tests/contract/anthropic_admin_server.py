"""A loopback Anthropic Admin API: the organization API key routes irflow's `AnthropicKeys` calls.

Documented behaviour it follows (platform.claude.com/docs/en/api/admin/api_keys/{list,retrieve,update} and
/docs/en/api/errors):

- Every request needs ``x-api-key: <admin key>`` and ``anthropic-version: 2023-06-01``.
- ``GET /v1/organizations/api_keys`` takes `limit` (1..1000, default 20), `after_id`, `before_id`,
  `status` (active|inactive|archived|expired), `workspace_id`, `created_by_user_id`, and answers
  ``{"data": [...], "first_id", "last_id", "has_more"}``.
- ``GET /v1/organizations/api_keys/{api_key_id}`` answers an ``api_key`` object: type, id, name,
  partial_key_hint (``sk-ant-api03-R2D...igAA``), status, workspace_id, created_at (RFC 3339), created_by
  {id, type}, expires_at.
- ``POST /v1/organizations/api_keys/{api_key_id}`` takes ``{"name"?: 1..500 chars, "status"?: "active" |
  "inactive" | "archived"}`` and answers the updated key. Archived keys cannot be reactivated.
- Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}``: 400 invalid_request_error
  (also "used for other 4XX status codes", hence 405 here), 401 authentication_error, 403 permission_error,
  404 not_found_error, 429 rate_limit_error with retry-after, 500 api_error, 529 overloaded_error.

Assumed, not documented: the message texts (only statuses and error types are relied on), the order
route → auth → version header → body validation, and `before_id` (accepted, not applied: irflow pages
forward only).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ADMIN_KEY = "sk-ant-admin01-loopback-7d2f9a4c1e6b"
API_VERSION = "2023-06-01"
LIST_PATH = "/v1/organizations/api_keys"
STATUSES = ("active", "inactive", "archived")
LIST_STATUSES = (*STATUSES, "expired")
FAULT_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}
Reply = tuple[int, Any, dict[str, str]]
_INVALID_JSON = object()
_request_ids = count(1)


def anthropic_error(status: int, kind: str, message: str) -> Reply:
    """Anthropic's error answer, with the request id it always carries."""
    request_id = f"req_loopback{next(_request_ids):06d}"
    return status, {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}, {}


def hint(secret: str) -> str:
    """How Anthropic shows a key: its first 15 characters, "...", the last four."""
    return f"{secret[:15]}...{secret[-4:]}"


@dataclass
class OrgKey:
    id: str
    name: str
    partial_key_hint: str
    status: str = "active"
    workspace_id: str | None = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
    created_at: str = "2024-10-30T23:58:27.427722Z"
    created_by: dict[str, str] = field(default_factory=lambda: {"id": "user_01WCz1FkmYMm4gnmykNKUu3Q",
                                                                "type": "user"})
    expires_at: str | None = None

    def record(self) -> dict[str, Any]:
        return {"type": "api_key", "id": self.id, "name": self.name, "partial_key_hint": self.partial_key_hint,
                "status": self.status, "workspace_id": self.workspace_id, "created_at": self.created_at,
                "created_by": dict(self.created_by), "expires_at": self.expires_at}


@dataclass(frozen=True)
class Seen:
    """One request as it reached the API: what tests check for "no write" and "no secret on the wire"."""

    method: str
    target: str
    body: str
    api_key: str | None
    version: str | None


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]


class AnthropicAdminServer:
    """The loopback Admin API: organization keys, switches, a request log, a server on 127.0.0.1."""

    def __init__(self, admin_key: str = ADMIN_KEY) -> None:
        self.admin_key = admin_key
        self.keys: dict[str, OrgKey] = {}
        self.requests: list[Seen] = []
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def __enter__(self) -> AnthropicAdminServer:
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
    def add_key(self, key_id: str, secret: str, **fields: Any) -> OrgKey:
        """A key whose secret only ever exists here and in the test; the API shows its hint."""
        self.keys[key_id] = OrgKey(id=key_id, name=fields.pop("name", key_id), partial_key_hint=hint(secret),
                                   **fields)
        return self.keys[key_id]

    def fail_next(self, status: int, times: int = 1, headers: Mapping[str, str] | None = None) -> None:
        """The next `times` requests get `status` (429 + retry-after, 403, 500, 529) before any routing."""
        self._faults.extend(_Fault(status, dict(headers or {})) for _ in range(times))

    def delay_next(self, seconds: float) -> None:
        """The next request is answered only after `seconds`: for client timeouts."""
        self._delays.append(seconds)

    def writes(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.method != "GET"]

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        """Answer one request as Anthropic would: fault, route, method, auth, version, validation, handler."""
        delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)
        with self._lock:
            self.requests.append(Seen(method, target, raw.decode(errors="replace"), headers.get("x-api-key"),
                                      headers.get("anthropic-version")))
            return self._answer(method, target, headers, raw)

    def _answer(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        if self._faults:
            fault = self._faults.pop(0)
            status, body, _ = anthropic_error(fault.status, FAULT_TYPES.get(fault.status, "api_error"),
                                              f"loopback fault {fault.status}")
            return status, body, fault.headers
        parts = urlsplit(target)
        key_id = parts.path.removeprefix(LIST_PATH + "/") if parts.path.startswith(LIST_PATH + "/") else None
        if parts.path != LIST_PATH and (key_id is None or not key_id or "/" in key_id):
            return anthropic_error(404, "not_found_error", "Not found")
        allowed = ("GET",) if key_id is None else ("GET", "POST")
        if method not in allowed:
            status, body, _ = anthropic_error(405, "invalid_request_error", f"Method {method} not allowed")
            return status, body, {"Allow": ", ".join(allowed)}
        refused = self._auth(headers)
        if refused:
            return refused
        if key_id is None:
            return self._list(dict(parse_qsl(parts.query)))
        return self._retrieve(key_id) if method == "GET" else self._update(key_id, _parse(raw))

    def _auth(self, headers: Mapping[str, str]) -> Reply | None:
        given = headers.get("x-api-key")
        if not given:
            return anthropic_error(401, "authentication_error", "x-api-key header is required")
        if given != self.admin_key:
            return anthropic_error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    # --- routes -------------------------------------------------------------------------------------
    def _list(self, query: dict[str, str]) -> Reply:
        limit = query.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            return anthropic_error(400, "invalid_request_error", "limit: Input should be between 1 and 1000")
        if query.get("status", "active") not in LIST_STATUSES:
            return anthropic_error(400, "invalid_request_error", f"status: Input should be {_one_of(LIST_STATUSES)}")
        keys = [k for k in self.keys.values() if _wanted(k, query)]
        after = query.get("after_id")
        start = next((i + 1 for i, k in enumerate(keys) if k.id == after), len(keys)) if after else 0
        page = keys[start:start + int(limit)]
        return 200, {"data": [k.record() for k in page], "first_id": page[0].id if page else None,
                     "last_id": page[-1].id if page else None, "has_more": start + len(page) < len(keys)}, {}

    def _retrieve(self, key_id: str) -> Reply:
        key = self.keys.get(key_id)
        if key is None:
            return anthropic_error(404, "not_found_error", f"API key {key_id} not found")
        return 200, key.record(), {}

    def _update(self, key_id: str, body: Any) -> Reply:
        problem = _body_problem(body)
        if problem:
            return anthropic_error(400, "invalid_request_error", problem)
        key = self.keys.get(key_id)
        if key is None:
            return anthropic_error(404, "not_found_error", f"API key {key_id} not found")
        wanted = body.get("status")
        if key.status == "archived" and wanted not in (None, "archived"):
            return anthropic_error(400, "invalid_request_error", "Archived API keys cannot be updated")
        key.status = wanted or key.status
        key.name = body.get("name") or key.name
        return 200, key.record(), {}


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values[:-1]) + f" or '{values[-1]}'"


def _wanted(key: OrgKey, query: dict[str, str]) -> bool:
    filters = (("status", key.status), ("workspace_id", key.workspace_id),
               ("created_by_user_id", key.created_by["id"]))
    return all(query.get(name) in (None, value) for name, value in filters)


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return _INVALID_JSON


def _body_problem(body: Any) -> str | None:
    """The 400 message for a body the update route refuses, or None."""
    if body is _INVALID_JSON or body is None:
        return "There was an issue with the request body: it is not valid JSON"
    if not isinstance(body, dict):
        return "body: Input should be a valid dictionary"
    extra = sorted(set(body) - {"name", "status"})
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    if "status" in body and body["status"] is not None and body["status"] not in STATUSES:
        return f"status: Input should be {_one_of(STATUSES)}"
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 500):
        return "name: String should have between 1 and 500 characters"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write: no Nagle / delayed-ACK stall per request

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        api: AnthropicAdminServer = self.server.api  # type: ignore[attr-defined]
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, payload, extra = api.handle(self.command, self.path, headers, raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", payload.get("request_id", "req_loopback_ok"))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep pytest output to what the tests say
