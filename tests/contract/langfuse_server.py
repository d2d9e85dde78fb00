"""A loopback Langfuse public API: the prompt routes irflow's Langfuse connector calls.

Behaviour follows Langfuse's own source (langfuse/langfuse, web/ and packages/shared/):

- `pages/api/public/v2/prompts/index.ts` -> `promptsHandler`: GET lists prompt metadata
  (`getPromptsMeta`: one item per name with `versions` and `labels` aggregated over its versions, ordered
  by name, `{data, meta: {page, limit, totalItems, totalPages}}`; `GetPromptsMetaSchema`: page >= 1, limit
  1..100 default 10, exact `name` filter); POST creates a version (text prompts only here).
- `pages/api/public/v2/prompts/[...promptName].ts`: a catch-all whose segments are the (folder) name;
  only a PATCH ending in `/versions/<n>` goes to `promptVersionHandler`, everything else to
  `promptNameHandler` (GET by `version` or `label`, default label "production"; not found is 404
  LangfuseNotFoundError "Prompt not found: '<name>' with label '<label>'").
- `promptVersionHandler` + `updatePrompt`: body `{"newLabels": [str]}` (zod; "latest" refused), the labels
  are added to that version and removed from every other version of the prompt in one transaction; an
  unknown version is 404 "Prompt not found: <name>".
- `withMiddlewares`: a method without a handler is 405 MethodNotAllowedError "Method not allowed" (before
  auth); BaseErrors answer `{"message", "error": <class name>}`; zod errors 400 `{"message": "Invalid
  request data", "error": [issues]}`.
- `authorizePromptRequestOrThrow` / `ApiAuthService`: basic auth public:secret; no header is 401 "No
  authorization header", wrong keys 401 "Invalid credentials. Confirm that you've configured the correct
  host.", a public key alone (bearer) 403 ForbiddenError.
- `RateLimitService.sendRateLimitResponse`: 429 with an empty body and Retry-After in fractional seconds.
- Next.js: a path with no API route is 404 with its HTML error page, not JSON.

Not modelled: DELETE of prompts, chat prompts, prompt dependencies, protected labels, organization keys.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.contract.loopback import INVALID_JSON, Fault, LoopbackServer, Reply, Request, Seen, Text, read_json

PUBLIC_KEY = "pk-lf-loopback-1111"
SECRET_KEY = "sk-lf-loopback-secret-8c2d7e4f9a"
PREFIX = "/api/public/v2/prompts"
INVALID_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."
NEXT_404_PAGE = "<!DOCTYPE html><html><head><title>404: This page could not be found</title></head></html>"
Handler = Callable[[list[str], dict[str, str], Any], Reply]
"""A route's handler: the name's path segments, the query and the JSON body in, reply out."""


def langfuse_error(status: int, message: str, name: str) -> Reply:
    """A BaseError as `withMiddlewares` answers it."""
    return status, {"message": message, "error": name}, {}


def zod_error(path: list[str | int], message: str, code: str = "invalid_type") -> Reply:
    return 400, {"message": "Invalid request data", "error": [{"code": code, "path": path, "message": message}]}, {}


@dataclass
class PromptVersion:
    name: str
    version: int
    prompt: str
    labels: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    updated_at: str = "2026-01-01T00:00:00.000Z"

    def record(self) -> dict[str, Any]:
        return {"id": f"prompt-{self.name}-{self.version}", "createdAt": "2026-01-01T00:00:00.000Z",
                "updatedAt": self.updated_at, "projectId": "loopback-project", "createdBy": "API",
                "prompt": self.prompt, "name": self.name, "version": self.version, "type": "text", "config": {},
                "labels": list(self.labels), "tags": list(self.tags), "commitMessage": None}


class LangfuseServer(LoopbackServer[Seen]):
    """The loopback Langfuse: prompt versions, switches, and what `LoopbackServer` serves and logs."""

    json_type = "application/json; charset=utf-8"

    def __init__(self, public_key: str = PUBLIC_KEY, secret_key: str = SECRET_KEY) -> None:
        super().__init__(Seen.of)
        self.public_key, self.secret_key = public_key, secret_key
        self.prompts: dict[str, list[PromptVersion]] = {}
        self.patch_ignores_labels = False
        """A Langfuse that answers 200 to PATCH but moves nothing: the client must notice, not trust the 200."""

    # --- state and switches -------------------------------------------------------------------------
    def add_version(self, name: str, prompt: str, labels: list[str] | None = None) -> PromptVersion:
        """A new version, as POST /v2/prompts makes it: it takes "latest" and its labels from older versions."""
        versions = self.prompts.setdefault(name, [])
        created = PromptVersion(name, len(versions) + 1, prompt, tags=list(versions[0].tags) if versions else [])
        versions.append(created)
        self._label(name, created, [*(labels or []), "latest"])
        return created

    def labelled(self, name: str, label: str) -> int | None:
        """The version carrying `label`, read straight from the state: the test's independent check."""
        return next((v.version for v in self.prompts.get(name, []) if label in v.labels), None)

    def _label(self, name: str, target: PromptVersion, labels: list[str]) -> None:
        for other in self.prompts[name]:
            if other is not target:
                other.labels = [label for label in other.labels if label not in labels]
        target.labels = list(dict.fromkeys([*target.labels, *labels]))

    # --- the HTTP surface ---------------------------------------------------------------------------
    def answer(self, request: Request) -> Reply:
        """Route, method, auth, validation, handler: the order of Next.js and `withMiddlewares`."""
        route = self._route(request.method, request.path)
        if route is None:
            return 404, Text(NEXT_404_PAGE), {}
        handlers, segments = route
        if request.method not in handlers:
            return langfuse_error(405, "Method not allowed", "MethodNotAllowedError")
        denied = self._auth(request.authorization, request.method)
        if denied:
            return denied
        body = read_json(request.raw)
        if body is INVALID_JSON:
            return 400, {"message": "Invalid JSON body", "error": "InvalidRequestError"}, {}
        return handlers[request.method](segments, request.query, body)

    def _route(self, method: str, path: str) -> tuple[dict[str, Handler], list[str]] | None:
        """A catch-all route: its handlers depend on the method as well as on the path."""
        if path == PREFIX:
            return {"GET": self._list, "POST": self._create}, []
        if not path.startswith(PREFIX + "/") or path == PREFIX + "/":
            return None
        segments = [unquote(s) for s in path[len(PREFIX) + 1:].split("/")]
        if method == "PATCH" and len(segments) >= 3 and segments[-2] == "versions":
            return {"PATCH": self._update_labels}, segments
        return {"GET": self._get}, segments

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.status == 429:  # RateLimitService: an empty body, only Retry-After
            return 429, None, fault.headers
        return langfuse_error(fault.status, "Internal Server Error", "loopback fault")

    def _auth(self, authorization: str | None, method: str) -> Reply | None:
        if not authorization:
            return langfuse_error(401, "No authorization header", "UnauthorizedError")
        scheme, _, value = authorization.partition(" ")
        if scheme == "Bearer" and value == self.public_key:
            return langfuse_error(403, f"Access denied - need to use basic auth with secret key to {method} prompts",
                                  "ForbiddenError")
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return langfuse_error(401, INVALID_CREDENTIALS, "UnauthorizedError")
        if scheme != "Basic" or (user, password) != (self.public_key, self.secret_key):
            return langfuse_error(401, INVALID_CREDENTIALS, "UnauthorizedError")
        return None

    # --- handlers -----------------------------------------------------------------------------------
    def _list(self, _segments: list[str], query: dict[str, str], _body: Any) -> Reply:
        paging = {key: query.get(key, default) for key, default in (("page", "1"), ("limit", "10"))}
        for key, value in paging.items():
            if not value.isdigit() or int(value) < 1 or (key == "limit" and int(value) > 100):
                return zod_error([key], f"Invalid {key}: expected an integer in range", "too_small")
        page, limit = int(paging["page"]), int(paging["limit"])
        names = sorted(n for n, vs in self.prompts.items() if self._listed(n, vs, query))
        items = [self._meta(n) for n in names[limit * (page - 1): limit * page]]
        total_pages = -(-len(names) // limit)
        return 200, {"data": items, "meta": {"page": page, "limit": limit, "totalItems": len(names),
                                             "totalPages": total_pages}}, {}

    @staticmethod
    def _listed(name: str, versions: list[PromptVersion], query: dict[str, str]) -> bool:
        if "name" in query and query["name"] != name:
            return False
        return "label" not in query or any(query["label"] in v.labels for v in versions)

    def _meta(self, name: str) -> dict[str, Any]:
        versions = self.prompts[name]
        labels = sorted({label for v in versions for label in v.labels})
        return {"name": name, "type": "text", "versions": [v.version for v in versions], "labels": labels,
                "tags": list(versions[-1].tags), "lastUpdatedAt": versions[-1].updated_at, "lastConfig": {}}

    def _create(self, _segments: list[str], _query: dict[str, str], body: Any) -> Reply:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return zod_error(["name"], "Invalid input: expected string")
        if not isinstance(body.get("prompt"), str):
            return zod_error(["prompt"], "Invalid input: expected string")
        labels = body.get("labels") or []
        if not _strings(labels):
            return zod_error(["labels"], "Invalid input: expected array of strings")
        return 201, self.add_version(body["name"], body["prompt"], labels).record(), {}

    def _get(self, segments: list[str], query: dict[str, str], _body: Any) -> Reply:
        name = "/".join(segments)
        version = query.get("version")
        if version is not None and not version.lstrip("-").isdigit():
            return zod_error(["version"], "Invalid input: expected int")
        label = query.get("label") or "production"
        found = [v for v in self.prompts.get(name, []) if (v.version == int(version) if version else label in v.labels)]
        if not found:
            which = f"with version {version}" if version else f"with label '{label}'"
            return langfuse_error(404, f"Prompt not found: '{name}' {which}", "LangfuseNotFoundError")
        return 200, found[0].record(), {}

    def _update_labels(self, segments: list[str], _query: dict[str, str], body: Any) -> Reply:
        name, version = "/".join(segments[:-2]), segments[-1]
        if not isinstance(body, dict) or not _strings(body.get("newLabels")):
            return zod_error(["newLabels"], "Invalid input: expected array of strings")
        if "latest" in body["newLabels"]:
            return zod_error(["newLabels"], "Label 'latest' is always assigned to the latest prompt version", "custom")
        found = [v for v in self.prompts.get(name, []) if version.isdigit() and v.version == int(version)]
        if not found:
            return langfuse_error(404, f"Prompt not found: {name}", "LangfuseNotFoundError")
        if not self.patch_ignores_labels:
            self._label(name, found[0], body["newLabels"])
        return 200, found[0].record(), {}


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
