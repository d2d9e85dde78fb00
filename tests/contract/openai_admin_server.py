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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.contract.loopback import (Fault, LoopbackServer, Reply, Request, Routes, Seen, bearer_token,
                                     id_cursor_page)

ADMIN_KEY = "sk-admin-loopback-4e8b2c6a9d1f"
NO_KEY_MESSAGE = ("You didn't provide an API key. You need to provide your API key in an Authorization header "
                  "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
                  "blank username) if you're accessing the API from your browser and are prompted for a "
                  "username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.")
ACCESS = ("active", "inactive", "any")
KEYS = "/v1/organization/projects/{project}/api_keys"
Handler = Callable[[dict[str, str], dict[str, str]], Reply]
"""A route's handler: path parameters and query in, reply out."""


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


class OpenAIAdminServer(LoopbackServer[Seen]):
    """The loopback Admin API: projects and their keys, switches, and what `LoopbackServer` serves and logs."""

    def __init__(self, admin_key: str = ADMIN_KEY) -> None:
        super().__init__(Seen.of)
        self.admin_key = admin_key
        self.projects: dict[str, dict[str, ProjectKey]] = {}
        self.refuse_service_account_delete = False
        self.delete_fails_after_write = False
        self._routes: Routes[Handler] = Routes({
            KEYS: {"GET": self._list},
            f"{KEYS}/{{key}}": {"GET": self._retrieve, "DELETE": self._delete},
        })

    # --- state and switches -------------------------------------------------------------------------
    def add_key(self, project_id: str, key_id: str, secret: str, **fields: Any) -> ProjectKey:
        """A key whose secret only ever exists here and in the test; the API shows its redacted form."""
        key = ProjectKey(id=key_id, name=fields.pop("name", key_id), redacted_value=redacted(secret), **fields)
        self.projects.setdefault(project_id, {})[key_id] = key
        return key

    # --- the HTTP surface ---------------------------------------------------------------------------
    def answer(self, request: Request) -> Reply:
        """Route (method and path together: no 405 at OpenAI), auth, validation, handler."""
        found = self._routes.find(request.path)
        if found is None or request.method not in found[1]:
            return openai_error(404, f"Unknown request URL: {request.method} {request.path}. Please check the URL "
                                     "for typos, or see the docs at https://platform.openai.com/docs/api-reference/.",
                                code="unknown_url")
        denied = self._auth(request.authorization)
        if denied:
            return denied
        _, methods, params = found
        return methods[request.method](params, request.query)

    def fault_reply(self, fault: Fault) -> Reply:
        kinds = {429: ("requests", "rate_limit_exceeded"), 403: ("invalid_request_error", None)}
        kind, code = kinds.get(fault.status, ("server_error", None))
        status, body, _ = openai_error(fault.status, f"loopback fault {fault.status}", kind, code=code)
        return status, body, fault.headers

    def _auth(self, authorization: str | None) -> Reply | None:
        given = bearer_token(authorization)
        if not given:
            return openai_error(401, NO_KEY_MESSAGE)
        if given == self.admin_key:
            return None
        return openai_error(401, f"Incorrect API key provided: {given[:6]}{'*' * 20}{given[-4:]}. You can find "
                                 "your API key at https://platform.openai.com/account/api-keys.",
                            code="invalid_api_key")

    # --- routes -------------------------------------------------------------------------------------
    def _list(self, params: dict[str, str], query: dict[str, str]) -> Reply:
        project_id = params["project"]
        keys = self.projects.get(project_id)
        if keys is None:
            return openai_error(404, f"No such project: {project_id}", param="project_id")
        problem = _list_problem(query)
        if problem:
            return problem
        visible = _visible(list(keys.values()), query.get("owner_project_access"))
        page = id_cursor_page(visible, query.get("after"), int(query.get("limit", "20")))
        return 200, {"object": "list", **page}, {}

    def _retrieve(self, params: dict[str, str], _query: dict[str, str]) -> Reply:
        project_id, key_id = params["project"], params["key"]
        key = self.projects.get(project_id, {}).get(key_id)
        if key is None:
            return self._missing(project_id, key_id)
        return 200, key.record(), {}

    def _delete(self, params: dict[str, str], _query: dict[str, str]) -> Reply:
        project_id, key_id = params["project"], params["key"]
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
