"""A loopback Jira for contract tests: real HTTP on 127.0.0.1, Jira's status codes and error bodies.

It serves what `JiraClient` (through the `jira` library) uses, under /rest/api/2 and /rest/api/3 ("Cloud")
or /rest/api/2 only ("Server", i.e. Data Center). Switches: a required custom field, answering the next
requests with 429/503, and the eventual consistency of Cloud's enhanced search. Every request is
recorded. When ../shared/specs/jira holds Atlassian's v3 OpenAPI spec, every v3 request and response is
validated against it with openapi-core; violations are kept in `spec_errors` (fixtures assert none).
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import itertools
import json
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "jira" / "jira-platform-v3.openapi.json"
SPEC_HOST = "https://your-domain.atlassian.net"  # the spec's only server; the path is what matters
KNOWN_FIELDS = {"project", "issuetype", "summary", "description", "priority", "labels"}
ISSUE_TYPES = {"Task", "Bug", "Story"}
PRIORITIES = {"Highest", "High", "Medium", "Low", "Lowest"}
ADF_NODES = {"paragraph", "blockquote", "text", "hardBreak", "codeBlock", "bulletList", "listItem", "heading", "rule"}
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
NOW = "2025-01-01T00:00:00.000+00:00"  # real Jira writes +0000, which the spec's date-time rejects

Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Recorded:
    method: str
    version: str
    path: str  # below /rest/api/<version>/
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0
    routed: bool = False


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    seq: int
    created: float
    comments: list[Any] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)


class Problem(Exception):
    """Ends a request with Jira's error body."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None):
        super().__init__(status)
        self.reply: Reply = (status, {"errorMessages": messages or [], "errors": errors or {}}, {})


class SpecValidator:
    """openapi-core over the v3 spec; loaded lazily, used under a lock (validators cache internally)."""

    def __init__(self, path: Path) -> None:
        from openapi_core import Config, OpenAPI

        self._api = OpenAPI.from_dict(json.loads(path.read_text()), config=Config(spec_validator_cls=None))
        self._lock = threading.Lock()

    def check(self, rec: Recorded, raw: bytes, reply: Reply | None) -> str | None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
        from openapi_core.exceptions import OpenAPIError
        from werkzeug.test import EnvironBuilder
        from werkzeug.wrappers import Request, Response

        env = EnvironBuilder(
            method=rec.method, path=f"/rest/api/3/{rec.path}", base_url=SPEC_HOST,
            headers=[(k, v) for k, v in rec.headers.items() if k != "Host"],  # the spec's host, not ours
            query_string=urlencode(rec.query, doseq=True), data=raw or None,
        ).get_environ()
        request = WerkzeugOpenAPIRequest(Request(env))
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type" for the spec's OAuth2 scheme
            try:
                if reply is None:
                    self._api.validate_request(request)
                    return None
                status, body, _ = reply
                if body is None or status in (429, 503):  # empty bodies; gateway answers of any operation
                    return None
                response = Response(json.dumps(body), status=status, content_type="application/json")
                self._api.validate_response(request, WerkzeugOpenAPIResponse(response))
            except OpenAPIError as exc:
                return f"{rec.method} {rec.path} {'request' if reply is None else reply[0]}: {exc}"
        return None


class JiraLoopback:
    """The server and its state; `with JiraLoopback() as jira:` serves on `jira.url`."""

    def __init__(
        self, deployment: Literal["Cloud", "Server"] = "Cloud", *, user: str = "bot@example.com",
        token: str = "s3cret-token", projects: tuple[str, ...] = ("SEC",), validate: bool = True,
    ) -> None:
        self.deployment = deployment
        self.user, self.token = user, token
        self.projects = {key: str(10000 + i) for i, key in enumerate(projects)}
        self.required_fields: dict[str, str] = {}  # custom field id -> its name, refused when absent
        self.search_lag_seconds = 0.0  # enhanced search misses issues younger than this ...
        self.search_lag_count = 0  # ... and the last N created, unless named in reconcileIssues
        self.issues: dict[str, Issue] = {}
        self.requests: list[Recorded] = []
        self.spec_errors: list[str] = []
        self.validator = _validator() if validate else None
        self._failures: list[tuple[int, int]] = []  # (status, Retry-After) for the next requests
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None

    # --- switches -----------------------------------------------------------------------------
    def fail_next(self, status: int, times: int = 1, retry_after: int = 0) -> None:
        """Answer the next `times` requests with `status` (429, 503, ...) and Retry-After if > 0."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> JiraLoopback:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.jira = self  # type: ignore[attr-defined]
        serve = functools.partial(self._httpd.serve_forever, poll_interval=0.02)  # quick shutdown
        threading.Thread(target=serve, name="jira-loopback", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> JiraLoopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request pipeline ---------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Reply:
        parts = urlsplit(target)
        m = re.fullmatch(r"/rest/api/(2|3|latest)/(.+)", parts.path)
        version, path = (m.group(1), m.group(2)) if m else ("", parts.path)
        rec = Recorded(method, version, path, parse_qs(parts.query), headers, None)
        with self._lock:
            self.requests.append(rec)
        if not m or (version == "3" and self.deployment == "Server"):
            rec.status = 404
            return 404, None, {}  # Jira answers an unknown URL with an HTML page, not JSON
        reply = self._serve(rec, raw)
        rec.status = reply[0]
        if self.validator and version == "3" and rec.routed:
            self._note(self.validator.check(rec, raw, reply))
        return reply

    def _serve(self, rec: Recorded, raw: bytes) -> Reply:
        try:
            route, params = self._route(rec)
            rec.routed = True
            self._gate(rec)
            rec.body = _json(raw) if raw else None
            if self.validator and rec.version == "3":
                error = self.validator.check(rec, raw, None)
                if error:
                    self._note(error)
                    raise Problem(400, [error])
            with self._lock:
                return route(rec, **params)
        except Problem as problem:
            return problem.reply

    def _note(self, error: str | None) -> None:  # the validator's findings, for the fixture to assert on
        if error:
            with self._lock:
                self.spec_errors.append(error)

    def _route(self, rec: Recorded) -> tuple[Any, dict[str, str]]:
        allowed = []
        for method, pattern, name in ROUTES:
            m = re.fullmatch(pattern, rec.path)
            if m:
                allowed.append(method)
                if method == rec.method:
                    return getattr(self, name), m.groupdict()
        if allowed:
            raise Problem(405, [f"Method {rec.method} is not allowed; allowed: {', '.join(allowed)}"])
        raise Problem(404, [f"No resource at /rest/api/{rec.version}/{rec.path}"])

    def _gate(self, rec: Recorded) -> None:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            status, wait = failure
            problem = Problem(status, ["Rate limit exceeded." if status == 429 else "Service unavailable."])
            problem.reply[2].update({"Retry-After": str(wait)} if wait else {})
            raise problem
        auth = rec.headers.get("Authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        accepted = {basic, f"Bearer {self.token}"} if self.deployment == "Server" else {basic}
        if auth in accepted or (not auth and rec.path == "serverInfo"):
            return
        raise Problem(401, ["You are not authenticated. Authentication required to perform this operation."])

    # --- resources ----------------------------------------------------------------------------
    def _self(self, rec: Recorded, path: str) -> str:
        return f"{self.url}/rest/api/{rec.version}/{path}"

    def server_info(self, rec: Recorded) -> Reply:
        cloud = self.deployment == "Cloud"
        version = [1001, 0, 0] if cloud else [9, 12, 15]
        return 200, {
            "baseUrl": self.url, "version": ".".join(map(str, version)) + ("-SNAPSHOT" if cloud else ""),
            "versionNumbers": version, "deploymentType": self.deployment, "buildNumber": 100281,
            "buildDate": NOW, "serverTime": NOW, "scmInfo": "0f3c2b1", "serverTitle": "Jira",
        }, {}

    def myself(self, rec: Recorded) -> Reply:
        who = ({"accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian", "emailAddress": self.user}
               if self.deployment == "Cloud" else {"name": "irflow", "key": "JIRAUSER10000"})
        return 200, {"self": self._self(rec, "myself"), "displayName": "irflow bot", "active": True} | who, {}

    def fields(self, rec: Recorded) -> Reply:
        names = {f: f.capitalize() for f in sorted(KNOWN_FIELDS)} | self.required_fields
        return 200, [
            {"id": fid, "key": fid, "name": name, "custom": fid.startswith("customfield_"), "orderable": True,
             "navigable": True, "searchable": True, "clauseNames": [fid]}
            for fid, name in names.items()
        ], {}

    def project(self, rec: Recorded, key: str) -> Reply:
        found = self._project_key({"key": key, "id": key})
        if found is None:
            raise Problem(404, [f"No project could be found with key '{key}'."])
        key = found
        return 200, {"self": self._self(rec, f"project/{self.projects[key]}"), "id": self.projects[key],
                     "key": key, "name": f"{key} incidents", "projectTypeKey": "software", "simplified": False,
                     "style": "classic", "isPrivate": False}, {}

    def create_issue(self, rec: Recorded) -> Reply:
        fields = rec.body.get("fields") if isinstance(rec.body, dict) else None
        if not isinstance(fields, dict):
            raise Problem(400, ["Issue must be created with a 'fields' object."])
        errors = self._field_errors(rec.version, fields)
        if errors:
            raise Problem(400, [], errors)
        n = next(self._ids)
        issue = Issue(str(10000 + n), f"{self._project_key(fields['project'])}-{n}", fields, n, time.monotonic())
        self.issues[issue.key] = issue
        return 201, {"id": issue.id, "key": issue.key, "self": self._self(rec, f"issue/{issue.id}")}, {}

    def _field_errors(self, version: str, fields: dict[str, Any]) -> dict[str, str]:
        errors = {f: f"Field '{f}' cannot be set. It is not on the appropriate screen, or unknown."
                  for f in fields if f not in KNOWN_FIELDS | self.required_fields.keys()}
        if self._project_key(fields.get("project")) is None:
            errors["project"] = "Specify a valid project ID or key"
        if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "Specify a valid issue type"
        errors.update(_summary_errors(fields.get("summary")))
        if "description" in fields and not _rich_text_ok(version, fields["description"]):
            errors["description"] = NOT_ADF if version == "3" else "Operation value must be a string"
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errors["priority"] = f"Priority name '{(fields['priority'] or {}).get('name')}' is not valid"
        bad = [lb for lb in fields.get("labels", []) if not isinstance(lb, str) or not lb or re.search(r"\s", lb)]
        if bad:
            errors["labels"] = f"The label '{bad[0]}' contains spaces which is invalid."
        errors.update({fid: f"{name} is required." for fid, name in self.required_fields.items() if fid not in fields})
        return errors

    def _project_key(self, ref: Any) -> str | None:
        ref = ref if isinstance(ref, dict) else {}
        return next((k for k, pid in self.projects.items() if ref.get("key") == k or ref.get("id") == pid), None)

    def _issue(self, key: str) -> Issue:
        issue = self.issues.get(key) or next((i for i in self.issues.values() if i.id == key), None)
        if issue is None:
            raise Problem(404, ["Issue does not exist or you do not have permission to see it."])
        return issue

    def get_issue(self, rec: Recorded, key: str) -> Reply:
        return 200, self._bean(rec, self._issue(key), ["*all"]), {}

    def add_comment(self, rec: Recorded, key: str) -> Reply:
        issue = self._issue(key)
        body = rec.body.get("body") if isinstance(rec.body, dict) else None
        if not _rich_text_ok(rec.version, body) or not body:
            raise Problem(400, [], {"comment": NOT_ADF if rec.version == "3" else "Comment body can not be empty!"})
        issue.comments.append(body)
        cid = str(20000 + len(issue.comments))
        return 201, {"id": cid, "self": self._self(rec, f"issue/{issue.id}/comment/{cid}"), "body": body,
                     "created": NOW, "updated": NOW, "jsdPublic": True}, {}

    def set_property(self, rec: Recorded, key: str, prop: str) -> Reply:
        issue = self._issue(key)
        if rec.body is None:
            raise Problem(400, ["The property value must be valid JSON."])
        status = 200 if prop in issue.properties else 201
        issue.properties[prop] = rec.body
        return status, None, {}

    def search_jql(self, rec: Recorded) -> Reply:
        q = _params(rec)
        found = self._matching(str(q.get("jql", "")))
        reconcile = {str(i) for i in q.get("reconcileIssues", [])}
        found = [i for i in found if not self._lagging(i) or i.id in reconcile]
        start = _decode_token(q.get("nextPageToken"))
        size = int(q.get("maxResults", 50))
        page = found[start:start + size]
        fields = q.get("fields") or ["id"]
        reply: dict[str, Any] = {"issues": [self._bean(rec, i, fields) for i in page],
                                 "isLast": start + size >= len(found)}
        if not reply["isLast"]:
            reply["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
        return 200, reply, {}

    def search(self, rec: Recorded) -> Reply:
        if self.deployment == "Cloud":
            raise Problem(410, ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."])
        q = _params(rec)
        found = self._matching(str(q.get("jql", "")))
        start, size = int(q.get("startAt", 0)), int(q.get("maxResults", 50))
        issues = [self._bean(rec, i, q.get("fields") or ["*navigable"]) for i in found[start:start + size]]
        return 200, {"startAt": start, "maxResults": size, "total": len(found), "issues": issues}, {}

    def _matching(self, jql: str) -> list[Issue]:
        m = re.fullmatch(r'\s*labels\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([\w.-]+))\s*(?:ORDER BY created (ASC|DESC))?\s*',
                         jql, re.IGNORECASE)
        if not m:
            raise Problem(400, [f"Error in the JQL Query: unsupported query {jql!r}."])
        label = re.sub(r"\\(.)", r"\1", m.group(1)) if m.group(1) is not None else m.group(2)
        found = sorted((i for i in self.issues.values() if label in i.fields.get("labels", [])), key=lambda i: i.seq)
        return found[::-1] if (m.group(3) or "").upper() == "DESC" else found

    def _lagging(self, issue: Issue) -> bool:
        young = time.monotonic() - issue.created < self.search_lag_seconds
        return young or issue.seq > len(self.issues) - self.search_lag_count

    def _bean(self, rec: Recorded, issue: Issue, fields: list[str]) -> dict[str, Any]:
        if fields == ["id"]:
            return {"id": issue.id}
        every = any(f.startswith("*") for f in fields)
        shown = {k: v for k, v in issue.fields.items() if every or k in fields}
        return {"id": issue.id, "key": issue.key, "self": self._self(rec, f"issue/{issue.id}"), "fields": shown}


@functools.cache
def _validator() -> SpecValidator | None:
    """One per process (the spec is 2.4 MB); None without ../shared or without openapi-core."""
    if not SPEC.exists() or importlib.util.find_spec("openapi_core") is None:
        return None
    return SpecValidator(SPEC)


ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"serverInfo", "server_info"), ("GET", r"myself", "myself"), ("GET", r"field", "fields"),
    ("GET", r"project/(?P<key>[^/]+)", "project"), ("POST", r"issue", "create_issue"),
    ("GET", r"issue/(?P<key>[^/]+)", "get_issue"), ("POST", r"issue/(?P<key>[^/]+)/comment", "add_comment"),
    ("PUT", r"issue/(?P<key>[^/]+)/properties/(?P<prop>[^/]+)", "set_property"),
    ("GET", r"search/jql", "search_jql"), ("POST", r"search/jql", "search_jql"),
    ("GET", r"search", "search"), ("POST", r"search", "search"),
]


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Problem(400, [f"Unexpected character in the request body: {exc}"]) from exc


def _params(rec: Recorded) -> dict[str, Any]:
    """Search parameters from the query (GET; lists may be repeated or comma-separated) or body (POST)."""
    if rec.method == "POST":
        return dict(rec.body or {})
    lists = {"fields", "reconcileIssues", "properties"}
    return {k: [x for v in vs for x in v.split(",")] if k in lists else vs[-1] for k, vs in rec.query.items()}


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token).decode().removeprefix("offset:"))
    except ValueError as exc:
        raise Problem(400, ["The nextPageToken is invalid or expired."]) from exc


def _summary_errors(summary: Any) -> dict[str, str]:
    problem = ("You must specify a summary of the issue." if not isinstance(summary, str) or not summary.strip()
               else "The summary is invalid because it contains newline characters." if re.search("[\r\n]", summary)
               else "Summary must be less than 255 characters." if len(summary) > 255 else None)
    return {"summary": problem} if problem else {}


def _rich_text_ok(version: str, value: Any) -> bool:
    """v2 takes wiki-markup strings; v3 an ADF doc (checked enough to catch a builder bug)."""
    if version != "3":
        return isinstance(value, str)
    doc = isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
    return doc and _adf_nodes_ok(value.get("content"))


def _adf_nodes_ok(nodes: Any) -> bool:
    return isinstance(nodes, list) and all(
        isinstance(n, dict) and n.get("type") in ADF_NODES
        and (n["type"] != "text" or (isinstance(n.get("text"), str) and n["text"] != ""))
        and ("content" not in n or _adf_nodes_ok(n["content"]))
        for n in nodes
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per response: split writes meet delayed ACKs and cost ~40 ms each

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _answer(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        jira: JiraLoopback = self.server.jira  # type: ignore[attr-defined]
        status, body, headers = jira.handle(self.command, self.path, {k.title(): v for k, v in self.headers.items()}, raw)
        payload = b"" if body is None else json.dumps(body).encode()
        if status == 404 and body is None:
            payload, headers = b"<html><body>Oops, you&#39;ve found a dead link.</body></html>", {"Content-Type": "text/html"}
        self.send_response(status)
        content_type = {"Content-Type": "application/json;charset=UTF-8"} if body is not None else {}
        for name, value in (content_type | headers).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass
