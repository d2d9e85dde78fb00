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

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from tests.contract.loopback import (INVALID_JSON, Fault, LoopbackServer, Reply, Request, Routes, id_cursor_page,
                                     read_json)

ADMIN_KEY = "sk-ant-admin01-loopback-7d2f9a4c1e6b"
API_VERSION = "2023-06-01"
LIST_PATH = "/v1/organizations/api_keys"
STATUSES = ("active", "inactive", "archived")
LIST_STATUSES = (*STATUSES, "expired")
FAULT_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}
Handler = Callable[[dict[str, str], Request], Reply]
"""A route's handler: path parameters and the request in, reply out."""
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

    @classmethod
    def of(cls, request: Request) -> Seen:
        return cls(request.method, request.target, request.raw.decode(errors="replace"),
                   request.headers.get("x-api-key"), request.headers.get("anthropic-version"))


class AnthropicAdminServer(LoopbackServer[Seen]):
    """The loopback Admin API: organization keys, switches, and what `LoopbackServer` serves and logs."""

    def __init__(self, admin_key: str = ADMIN_KEY) -> None:
        super().__init__(Seen.of)
        self.admin_key = admin_key
        self.keys: dict[str, OrgKey] = {}
        self._routes: Routes[Handler] = Routes({
            LIST_PATH: {"GET": self._list},
            f"{LIST_PATH}/{{key_id}}": {"GET": self._retrieve, "POST": self._update},
        })

    # --- state and switches -------------------------------------------------------------------------
    def add_key(self, key_id: str, secret: str, **fields: Any) -> OrgKey:
        """A key whose secret only ever exists here and in the test; the API shows its hint."""
        self.keys[key_id] = OrgKey(id=key_id, name=fields.pop("name", key_id), partial_key_hint=hint(secret),
                                   **fields)
        return self.keys[key_id]

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        """Answer as Anthropic would, every answer naming its request id in a header too."""
        status, body, headers = super().handle(request)
        return status, body, {"request-id": body.get("request_id", "req_loopback_ok"), **headers}

    def answer(self, request: Request) -> Reply:
        """Route, method, auth, version header, validation, handler."""
        found = self._routes.find(request.path)
        if found is None:
            return anthropic_error(404, "not_found_error", "Not found")
        _, methods, params = found
        if request.method not in methods:
            status, body, _ = anthropic_error(405, "invalid_request_error", f"Method {request.method} not allowed")
            return status, body, {"Allow": ", ".join(methods)}
        refused = self._auth(request)
        if refused:
            return refused
        return methods[request.method](params, request)

    def fault_reply(self, fault: Fault) -> Reply:
        status, body, _ = anthropic_error(fault.status, FAULT_TYPES.get(fault.status, "api_error"),
                                          f"loopback fault {fault.status}")
        return status, body, fault.headers

    def _auth(self, request: Request) -> Reply | None:
        given = request.headers.get("x-api-key")
        if not given:
            return anthropic_error(401, "authentication_error", "x-api-key header is required")
        if given != self.admin_key:
            return anthropic_error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    # --- routes -------------------------------------------------------------------------------------
    def _list(self, _params: dict[str, str], request: Request) -> Reply:
        query = request.query
        limit = query.get("limit", "20")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            return anthropic_error(400, "invalid_request_error", "limit: Input should be between 1 and 1000")
        if query.get("status", "active") not in LIST_STATUSES:
            return anthropic_error(400, "invalid_request_error", f"status: Input should be {_one_of(LIST_STATUSES)}")
        keys = [k for k in self.keys.values() if _wanted(k, query)]
        return 200, id_cursor_page(keys, query.get("after_id"), int(limit)), {}

    def _retrieve(self, params: dict[str, str], _request: Request) -> Reply:
        key_id = params["key_id"]
        key = self.keys.get(key_id)
        if key is None:
            return anthropic_error(404, "not_found_error", f"API key {key_id} not found")
        return 200, key.record(), {}

    def _update(self, params: dict[str, str], request: Request) -> Reply:
        key_id, body = params["key_id"], read_json(request.raw)
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


def _body_problem(body: Any) -> str | None:
    """The 400 message for a body the update route refuses, or None."""
    if body is INVALID_JSON or body is None:
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
