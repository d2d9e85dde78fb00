"""A loopback Jira for contract and integration tests: real HTTP on 127.0.0.1, Jira's status codes and
error bodies, and enough of Jira's workflow to sync against.

It serves what `JiraClient` (through the `jira` library) uses, under /rest/api/2 and /rest/api/3 ("Cloud")
or /rest/api/2 only ("Server", i.e. Data Center): serverInfo, myself, field, project, create/get/edit
issue, comments, transitions (GET, POST 204), properties, remote links (upserted by globalId), issue link
types and links, `search/jql` (pages by `nextPageToken`) and v2 `search`. Switches: a required custom
field, answering the next requests with 429/5xx, an outage (every request fails until healed), dropping
the connection after a request was processed (a lost answer), and the eventual consistency of Cloud's
enhanced search. People can be simulated (`human_transition`, `human_comment`), each returning the
webhook payload Jira would send. Every request is recorded. When ../shared/specs/jira holds Atlassian's
v3 OpenAPI spec, every request and response is validated against it with openapi-core (v2 traffic is
mapped onto the v3 paths, whose shapes it shares); violations are kept in `spec_errors`.
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
KNOWN_FIELDS = {"project", "issuetype", "summary", "description", "priority", "labels", "components"}
EDITABLE = {"summary", "description", "priority", "labels", "components"}
ISSUE_TYPES = {"Task", "Bug", "Story"}
PRIORITIES = {"Highest", "High", "Medium", "Low", "Lowest"}
ADF_NODES = {"paragraph", "blockquote", "text", "hardBreak", "codeBlock", "bulletList", "listItem", "heading", "rule"}
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
NOW = "2025-01-01T00:00:00.000+00:00"  # real Jira writes +0000, which the spec's date-time rejects
BOT_CLOUD = "5b10a2844c20165700ede21g"
STATUSES: dict[str, tuple[str, int, str, str]] = {  # name -> (id, category id, category key, colour)
    "To Do": ("10000", 2, "new", "blue-gray"), "In Progress": ("3", 4, "indeterminate", "yellow"),
    "Done": ("10001", 3, "done", "green"),
}
CLOUD_WORKFLOW = {"To Do": "To Do", "In Progress": "In Progress", "Done": "Done"}  # simplified: name = status
DC_WORKFLOW = {"Start Progress": "In Progress", "Resolve Issue": "Done", "Reopen Issue": "To Do"}
LINK_TYPES = [("10000", "Blocks", "is blocked by", "blocks"), ("10002", "Duplicate", "is duplicated by", "duplicates"),
              ("10003", "Relates", "relates to", "relates to")]
DROP = -1  # a reply status meaning: close the connection without answering

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
    comments: list[dict[str, Any]] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    status: str = "To Do"
    updated: float = field(default_factory=time.time)
    history: list[dict[str, Any]] = field(default_factory=list)
    remote_links: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


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
            query_string=urlencode(_v3_query(rec), doseq=True), data=raw or None,
        ).get_environ()
        request = WerkzeugOpenAPIRequest(Request(env))
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type" for the spec's OAuth2 scheme
            try:
                if reply is None:
                    self._api.validate_request(request)
                    return None
                status, body, _ = reply
                if body is None or status in (410, 429, 500, 503):  # empty; any operation (410: a removed API)
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
        self.custom_fields: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (name, schema), e.g. a select
        self.workflow = dict(CLOUD_WORKFLOW if deployment == "Cloud" else DC_WORKFLOW)  # transition -> status
        self.down_status: int | None = None  # an outage: every request answered with this until healed
        self.search_lag_seconds = 0.0  # enhanced search misses issues younger than this ...
        self.search_lag_count = 0  # ... and the last N created, unless named in reconcileIssues
        self.issues: dict[str, Issue] = {}
        self.requests: list[Recorded] = []
        self.spec_errors: list[str] = []
        self.validator = _validator() if validate else None
        self._failures: list[tuple[int, int]] = []  # (status, Retry-After) for the next requests
        self._drops: list[tuple[str, str]] = []  # (method, path pattern): process, then hang up
        self._ids = itertools.count(1)
        self._comment_ids = itertools.count(20001)
        self._link_ids = itertools.count(10000)
        self._port = 0
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None

    # --- switches -----------------------------------------------------------------------------
    def fail_next(self, status: int, times: int = 1, retry_after: int = 0) -> None:
        """Answer the next `times` requests with `status` (429, 503, ...) and Retry-After if > 0."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def drop_next(self, method: str, path_pattern: str) -> None:
        """Process the next matching request, then close the connection unanswered: the create happened,
        the client never hears of it (what a crash or a timeout between create and record looks like)."""
        with self._lock:
            self._drops.append((method, path_pattern))

    def outage(self, status: int = 500) -> None:
        """Every request fails with `status` until `heal()`."""
        self.down_status = status

    def heal(self) -> None:
        self.down_status = None
        with self._lock:
            self._failures.clear()

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def labelled(self, label: str) -> list[Issue]:
        return sorted((i for i in self.issues.values() if label in i.fields.get("labels", [])), key=lambda i: i.seq)

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> JiraLoopback:
        """Serve; after a `stop()`, on the same port again (Jira back after an outage)."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._port = self._httpd.server_address[1]
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
        if self.validator and rec.routed:
            self._note(self.validator.check(rec, raw, reply))
        with self._lock:
            drop = next((d for d in self._drops if d[0] == method and re.fullmatch(d[1], path)), None)
            if drop and 200 <= reply[0] < 300:
                self._drops.remove(drop)
                return DROP, None, {}
        return reply

    def _serve(self, rec: Recorded, raw: bytes) -> Reply:
        try:
            route, params = self._route(rec)
            rec.routed = True
            self._gate(rec)
            rec.body = _json(raw) if raw else None
            if self.validator:
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
        if self.down_status is not None:
            failure = (self.down_status, 0)
        if failure:
            status, wait = failure
            problem = Problem(status, ["Rate limit exceeded." if status == 429 else "Service unavailable."
                                       if status == 503 else "Internal server error."])
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
        who = self.person(None) | ({"emailAddress": self.user} if self.deployment == "Cloud" else {})
        return 200, {"self": self._self(rec, "myself")} | who, {}

    def fields(self, rec: Recorded) -> Reply:
        names = {f: (f.capitalize(), {"type": "string", "system": f}) for f in sorted(KNOWN_FIELDS)}
        names |= {fid: (name, {"type": "string", "custom": "textfield"}) for fid, name in self.required_fields.items()}
        names |= self.custom_fields
        return 200, [
            {"id": fid, "key": fid, "name": name, "custom": fid.startswith("customfield_"), "orderable": True,
             "navigable": True, "searchable": True, "clauseNames": [fid], "schema": schema}
            for fid, (name, schema) in names.items()
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

    def _field_errors(self, version: str, fields: dict[str, Any], *, edit: bool = False) -> dict[str, str]:
        allowed = (EDITABLE if edit else KNOWN_FIELDS) | self.required_fields.keys() | self.custom_fields.keys()
        errors = {f: f"Field '{f}' cannot be set. It is not on the appropriate screen, or unknown."
                  for f in fields if f not in allowed}
        if not edit:
            if self._project_key(fields.get("project")) is None:
                errors["project"] = "Specify a valid project ID or key"
            if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
                errors["issuetype"] = "Specify a valid issue type"
            errors.update(_summary_errors(fields.get("summary")))
            errors.update({fid: f"{name} is required." for fid, name in self.required_fields.items() if fid not in fields})
        if "description" in fields and not _rich_text_ok(version, fields["description"]):
            errors["description"] = NOT_ADF if version == "3" else "Operation value must be a string"
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errors["priority"] = f"Priority name '{(fields['priority'] or {}).get('name')}' is not valid"
        bad = [lb for lb in fields.get("labels", []) if not isinstance(lb, str) or not lb or re.search(r"\s", lb)]
        if bad:
            errors["labels"] = f"The label '{bad[0]}' contains spaces which is invalid."
        for fid, (name, schema) in self.custom_fields.items():
            if fid in fields and not _custom_ok(fields[fid], schema):
                errors[fid] = f"Specify a valid value for {name}"
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
        fields = [f for v in rec.query.get("fields", []) for f in v.split(",")] or ["*all"]
        return 200, self._bean(rec, self._issue(key), fields), {}

    def edit_issue(self, rec: Recorded, key: str) -> Reply:
        issue = self._issue(key)
        body = rec.body if isinstance(rec.body, dict) else {}
        fields, update = dict(body.get("fields") or {}), dict(body.get("update") or {})
        errors = self._field_errors(rec.version, fields, edit=True)
        if set(update) - {"labels"}:
            errors.update({f: "This field cannot be updated with operations." for f in set(update) - {"labels"}})
        if errors:
            raise Problem(400, [], errors)
        labels = list(fields.pop("labels", issue.fields.get("labels", [])))
        for op in update.get("labels", []):
            labels = ([*labels, op["add"]] if "add" in op and op["add"] not in labels
                      else [x for x in labels if x != op.get("remove")] if "remove" in op else labels)
        issue.fields |= fields | {"labels": labels}
        issue.updated = time.time()
        return 204, None, {}

    def add_comment(self, rec: Recorded, key: str) -> Reply:
        issue = self._issue(key)
        body = rec.body.get("body") if isinstance(rec.body, dict) else None
        if not _rich_text_ok(rec.version, body) or not body:
            raise Problem(400, [], {"comment": NOT_ADF if rec.version == "3" else "Comment body can not be empty!"})
        comment = self._comment(issue, body, None)
        return 201, {"self": self._self(rec, f"issue/{issue.id}/comment/{comment['id']}")} | comment, {}

    def _comment(self, issue: Issue, body: Any, account: str | None) -> dict[str, Any]:
        comment = {"id": str(next(self._comment_ids)), "author": self.person(account), "body": body,
                   "created": _stamp(), "updated": _stamp(), "jsdPublic": True}
        issue.comments.append(comment)
        issue.updated = time.time()
        return comment

    def set_property(self, rec: Recorded, key: str, prop: str) -> Reply:
        issue = self._issue(key)
        if rec.body is None:
            raise Problem(400, ["The property value must be valid JSON."])
        status = 200 if prop in issue.properties else 201
        issue.properties[prop] = rec.body
        return status, None, {}

    # --- workflow -------------------------------------------------------------------------------
    def _transitions(self, issue: Issue) -> list[dict[str, Any]]:
        return [{"id": str(11 + 10 * i), "name": name, "to": self._status(target), "hasScreen": False,
                 "isGlobal": True, "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False}
                for i, (name, target) in enumerate(self.workflow.items()) if target != issue.status]

    def transitions(self, rec: Recorded, key: str) -> Reply:
        return 200, {"expand": "transitions", "transitions": self._transitions(self._issue(key))}, {}

    def do_transition(self, rec: Recorded, key: str) -> Reply:
        issue = self._issue(key)
        wanted = str(((rec.body or {}).get("transition") or {}).get("id", ""))
        chosen = next((t for t in self._transitions(issue) if t["id"] == wanted), None)
        if chosen is None:
            raise Problem(400, [f"Transition id '{wanted}' is not valid for this issue."])
        self.move(issue.key, chosen["to"]["name"], None)
        return 204, None, {}

    def move(self, key: str, status: str, account: str | None) -> dict[str, Any]:
        """Change the status as `account` (None: the authenticated bot); returns the changelog item."""
        issue = self.issues[key]
        item = {"field": "status", "fieldtype": "jira", "from": STATUSES[issue.status][0], "fromString": issue.status,
                "to": STATUSES[status][0], "toString": status}
        issue.history.append({"id": str(len(issue.history) + 100), "author": self.person(account), "created": _stamp(),
                              "items": [item]})
        issue.status, issue.updated = status, time.time()
        return item

    def _status(self, name: str) -> dict[str, Any]:
        sid, cid, ckey, colour = STATUSES[name]
        return {"self": f"{self.url}/rest/api/2/status/{sid}", "id": sid, "name": name, "description": "",
                "statusCategory": {"self": f"{self.url}/rest/api/2/statuscategory/{cid}", "id": cid, "key": ckey,
                                   "colorName": colour, "name": name}}

    def person(self, account: str | None) -> dict[str, Any]:
        """A user bean: the bot when `account` is None; Cloud names people by accountId, DC by name."""
        name = "irflow bot" if account is None else f"user {account}"
        if self.deployment == "Cloud":
            return {"accountId": account or BOT_CLOUD, "accountType": "atlassian", "displayName": name, "active": True}
        return {"name": account or "irflow", "key": account or "JIRAUSER10000", "displayName": name, "active": True}

    # --- links ----------------------------------------------------------------------------------
    def add_remote_link(self, rec: Recorded, key: str) -> Reply:
        issue = self._issue(key)
        body = rec.body if isinstance(rec.body, dict) else {}
        if not isinstance(body.get("object"), dict) or not body["object"].get("url") or not body["object"].get("title"):
            raise Problem(400, [], {"object": "The remote link must have a url and a title."})
        existing = next((r for r in issue.remote_links if body.get("globalId") and r.get("globalId") == body["globalId"]), None)
        link = existing or {"id": next(self._link_ids)}
        link.update({k: v for k, v in body.items() if k in {"globalId", "object", "relationship", "application"}})
        link["self"] = self._self(rec, f"issue/{issue.key}/remotelink/{link['id']}")
        if existing is None:
            issue.remote_links.append(link)
        return (200 if existing else 201), {"id": link["id"], "self": link["self"]}, {}

    def remote_links(self, rec: Recorded, key: str) -> Reply:
        return 200, self._issue(key).remote_links, {}

    def link_types(self, rec: Recorded) -> Reply:
        return 200, {"issueLinkTypes": [{"id": i, "name": n, "inward": inward, "outward": out,
                                         "self": self._self(rec, f"issueLinkType/{i}")}
                                        for i, n, inward, out in LINK_TYPES]}, {}

    def add_issue_link(self, rec: Recorded) -> Reply:
        body = rec.body if isinstance(rec.body, dict) else {}
        name = (body.get("type") or {}).get("name")
        if name not in {n for _, n, _, _ in LINK_TYPES}:
            raise Problem(404, [f"No issue link type with name '{name}' found."])
        outward = self._issue(str((body.get("outwardIssue") or {}).get("key")))
        inward = self._issue(str((body.get("inwardIssue") or {}).get("key")))
        link = {"type": name, "outward": outward.key, "inward": inward.key}
        outward.links.append(link)
        inward.links.append(link)
        if isinstance(body.get("comment"), dict) and body["comment"].get("body"):
            self._comment(outward, body["comment"]["body"], None)
        return 201, None, {}

    # --- search ---------------------------------------------------------------------------------
    def search_jql(self, rec: Recorded) -> Reply:
        q = _params(rec)
        found = self._matching(str(q.get("jql", "")))
        reconcile = {str(i) for i in q.get("reconcileIssues", [])}
        found = [i for i in found if not self._lagging(i) or i.id in reconcile]
        start = _decode_token(q.get("nextPageToken"))
        size = int(q.get("maxResults", 50))
        page = found[start:start + size]
        fields = q.get("fields") or ["id"]
        expand = str(q.get("expand") or "")
        reply: dict[str, Any] = {"issues": [self._bean(rec, i, fields, expand) for i in page],
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
        expand = str(q.get("expand") or "")
        issues = [self._bean(rec, i, q.get("fields") or ["*navigable"], expand) for i in found[start:start + size]]
        return 200, {"startAt": start, "maxResults": size, "total": len(found), "issues": issues}, {}

    def _matching(self, jql: str) -> list[Issue]:
        """`labels = X [AND updated >= -Nm] [ORDER BY created|updated ASC|DESC]`: what irflow asks."""
        m = re.fullmatch(r'\s*labels\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([\w.-]+))\s*'
                         r'(?:AND\s+updated\s*>=\s*-(\d+)m\s*)?(?:ORDER BY (created|updated) (ASC|DESC))?\s*',
                         jql, re.IGNORECASE)
        if not m:
            raise Problem(400, [f"Error in the JQL Query: unsupported query {jql!r}."])
        label = re.sub(r"\\(.)", r"\1", m.group(1)) if m.group(1) is not None else m.group(2)
        found = self.labelled(label)
        if m.group(3):
            found = [i for i in found if time.time() - i.updated <= int(m.group(3)) * 60]
        if (m.group(4) or "").lower() == "updated":
            found.sort(key=lambda i: i.updated)
        return found[::-1] if (m.group(5) or "").upper() == "DESC" else found

    def _lagging(self, issue: Issue) -> bool:
        young = time.monotonic() - issue.created < self.search_lag_seconds
        return young or issue.seq > len(self.issues) - self.search_lag_count

    def _bean(self, rec: Recorded, issue: Issue, fields: list[str], expand: str = "") -> dict[str, Any]:
        if fields == ["id"]:
            return {"id": issue.id}
        every = any(f.startswith("*") for f in fields)
        full = issue.fields | {
            "status": self._status(issue.status), "updated": _stamp(issue.updated),
            "comment": {"comments": issue.comments, "maxResults": len(issue.comments), "total": len(issue.comments),
                        "startAt": 0},
            "issuelinks": issue.links,
        }
        bean = {"id": issue.id, "key": issue.key, "self": self._self(rec, f"issue/{issue.id}"),
                "fields": {k: v for k, v in full.items() if every or k in fields}}
        if "changelog" in expand:
            bean["changelog"] = {"startAt": 0, "maxResults": len(issue.history), "total": len(issue.history),
                                 "histories": issue.history}
        return bean

    # --- people ---------------------------------------------------------------------------------
    def human_transition(self, key: str, status: str, account: str) -> dict[str, Any]:
        """A person moves the issue; returns the `jira:issue_updated` webhook payload Jira would send."""
        item = self.move(key, status, account)
        return self._event("jira:issue_updated", key, account) | {
            "issue_event_type_name": "issue_generic",
            "changelog": {"id": self.issues[key].history[-1]["id"], "items": [item]}}

    def human_comment(self, key: str, text: str, account: str) -> dict[str, Any]:
        """A person comments; returns the `comment_created` webhook payload (bodies are wiki text there)."""
        body: Any = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": text}]}]} if self.deployment == "Cloud" else text
        comment = self._comment(self.issues[key], body, account)
        return self._event("comment_created", key, account) | {"comment": comment | {"body": text}}

    def _event(self, event: str, key: str, account: str) -> dict[str, Any]:
        issue = self.issues[key]
        return {"timestamp": int(time.time() * 1000), "webhookEvent": event, "user": self.person(account),
                "issue": {"id": issue.id, "key": issue.key, "self": f"{self.url}/rest/api/2/issue/{issue.id}",
                          "fields": {"summary": issue.fields.get("summary"), "labels": issue.fields.get("labels", []),
                                     "status": self._status(issue.status)}}}


V2_ONLY_PARAMS = {"validateQuery"}  # v2 `search` takes it; v3's spec never heard of it


def _v3_query(rec: Recorded) -> dict[str, list[str]]:
    """The query as the v3 operation would take it: v2 requests are validated against the v3 paths."""
    return {k: v for k, v in rec.query.items() if rec.version == "3" or k not in V2_ONLY_PARAMS}


@functools.cache
def _validator() -> SpecValidator | None:
    """One per process (the spec is 2.4 MB); None without ../shared or without openapi-core."""
    if not SPEC.exists() or importlib.util.find_spec("openapi_core") is None:
        return None
    return SpecValidator(SPEC)


ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"serverInfo", "server_info"), ("GET", r"myself", "myself"), ("GET", r"field", "fields"),
    ("GET", r"project/(?P<key>[^/]+)", "project"), ("POST", r"issue", "create_issue"),
    ("GET", r"issue/(?P<key>[^/]+)", "get_issue"), ("PUT", r"issue/(?P<key>[^/]+)", "edit_issue"),
    ("POST", r"issue/(?P<key>[^/]+)/comment", "add_comment"),
    ("PUT", r"issue/(?P<key>[^/]+)/properties/(?P<prop>[^/]+)", "set_property"),
    ("GET", r"issue/(?P<key>[^/]+)/transitions", "transitions"),
    ("POST", r"issue/(?P<key>[^/]+)/transitions", "do_transition"),
    ("GET", r"issue/(?P<key>[^/]+)/remotelink", "remote_links"),
    ("POST", r"issue/(?P<key>[^/]+)/remotelink", "add_remote_link"),
    ("GET", r"issueLinkType", "link_types"), ("POST", r"issueLink", "add_issue_link"),
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


def _stamp(at: float | None = None) -> str:
    """Jira's timestamp, with the offset as +00:00 (the spec's date-time format rejects Jira's +0000)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(at))


def _custom_ok(value: Any, schema: dict[str, Any]) -> bool:
    """A select takes {"value": str}, a multi-select a list of those, a labels-like field strings."""
    if schema.get("type") == "option":
        return isinstance(value, dict) and isinstance(value.get("value"), str) and bool(value["value"])
    if schema.get("type") == "array":
        item_ok = (lambda v: _custom_ok(v, {"type": "option"})) if schema.get("items") == "option" else (
            lambda v: isinstance(v, str) and bool(v) and not re.search(r"\s", v))
        return isinstance(value, list) and all(item_ok(v) for v in value)
    if schema.get("type") == "number":
        return isinstance(value, (int, float))
    return isinstance(value, (str, dict))


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
        if status == DROP:  # processed, never answered: the client sees the connection close
            self.close_connection = True
            return
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
