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
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

PUBLIC_KEY = "pk-lf-loopback-1111"
SECRET_KEY = "sk-lf-loopback-secret-8c2d7e4f9a"
PREFIX = "/api/public/v2/prompts"
INVALID_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."
NEXT_404_PAGE = "<!DOCTYPE html><html><head><title>404: This page could not be found</title></head></html>"
Reply = tuple[int, Any, dict[str, str]]
"""Status, body (dict/list as JSON, str as HTML, None as empty) and extra headers."""


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


@dataclass(frozen=True)
class Seen:
    """One request as it reached Langfuse: what a test checks for "no write" and "no secret on the wire"."""

    method: str
    target: str
    body: str
    authorization: str | None


@dataclass
class _Fault:
    status: int
    retry_after: str | None


class LangfuseServer:
    """The loopback Langfuse: prompt versions, switches, a request log, a ThreadingHTTPServer on 127.0.0.1."""

    def __init__(self, public_key: str = PUBLIC_KEY, secret_key: str = SECRET_KEY) -> None:
        self.public_key, self.secret_key = public_key, secret_key
        self.prompts: dict[str, list[PromptVersion]] = {}
        self.requests: list[Seen] = []
        self.patch_ignores_labels = False
        """A Langfuse that answers 200 to PATCH but moves nothing: the client must notice, not trust the 200."""
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.langfuse = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def __enter__(self) -> LangfuseServer:
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

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` requests get `status` (429 with Retry-After, 500, 503) before any routing."""
        self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    def delay_next(self, seconds: float) -> None:
        """The next request is answered only after `seconds`: for client timeouts."""
        self._delays.append(seconds)

    def writes(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.method != "GET"]

    def _label(self, name: str, target: PromptVersion, labels: list[str]) -> None:
        for other in self.prompts[name]:
            if other is not target:
                other.labels = [label for label in other.labels if label not in labels]
        target.labels = list(dict.fromkeys([*target.labels, *labels]))

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> Reply:
        """Answer one request as Langfuse would: fault, route, method, auth, validation, handler."""
        delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)
        with self._lock:
            self.requests.append(Seen(method, target, raw.decode(errors="replace"), authorization))
            if self._faults:
                return self._fault(self._faults.pop(0))
            return self._answer(method, target, authorization, raw)

    def _answer(self, method: str, target: str, authorization: str | None, raw: bytes) -> Reply:
        parts = urlsplit(target)
        route = self._route(method, parts.path)
        if route is None:
            return 404, NEXT_404_PAGE, {}
        handlers, segments = route
        if method not in handlers:
            return langfuse_error(405, "Method not allowed", "MethodNotAllowedError")
        denied = self._auth(authorization, method)
        if denied:
            return denied
        body = _parse(raw)
        if body is _INVALID_JSON:
            return 400, {"message": "Invalid JSON body", "error": "InvalidRequestError"}, {}
        return handlers[method](segments, dict(parse_qsl(parts.query)), body)

    def _route(self, method: str, path: str) -> tuple[dict[str, Callable[..., Reply]], list[str]] | None:
        if path == PREFIX:
            return {"GET": self._list, "POST": self._create}, []
        if not path.startswith(PREFIX + "/") or path == PREFIX + "/":
            return None
        segments = [unquote(s) for s in path[len(PREFIX) + 1:].split("/")]
        if method == "PATCH" and len(segments) >= 3 and segments[-2] == "versions":
            return {"PATCH": self._update_labels}, segments
        return {"GET": self._get}, segments

    def _fault(self, fault: _Fault) -> Reply:
        if fault.status == 429:
            return 429, None, {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
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


_INVALID_JSON = object()


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write: no Nagle / delayed-ACK stall per request

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        server: LangfuseServer = self.server.langfuse  # type: ignore[attr-defined]
        status, payload, headers = server.handle(self.command, self.path, self.headers.get("Authorization"), raw)
        if payload is None:
            data, kind = b"", None
        elif isinstance(payload, str):
            data, kind = payload.encode(), "text/html; charset=utf-8"
        else:
            data, kind = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first (delay_next): nothing left to answer

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep pytest output to what the tests say
