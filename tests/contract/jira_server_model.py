"""The Jira loopback's vocabulary: the statuses, workflows, fields and link types it knows, the records it
keeps (a request, an issue), the `Problem` that ends a request with Jira's error body, and the pure checks
Jira applies to what a client sends (summary, rich text as wiki markup or ADF, custom field values).

Split from jira_server.py so that the server reads as a pipeline and these rules read on their own.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.contract.loopback import Reply, Request

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
API_PATH = re.compile(r"/rest/api/(2|3|latest)/(.+)")


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

    @classmethod
    def of(cls, request: Request) -> Recorded:
        """The request below /rest/api/<version>/; `version` is "" for a path outside the REST API."""
        m = API_PATH.fullmatch(request.path)
        version, path = (m.group(1), m.group(2)) if m else ("", request.path)
        headers = {k.title(): v for k, v in request.headers.items()}
        return cls(request.method, version, path, parse_qs(urlsplit(request.target).query), headers, None)


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


def parse_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Problem(400, [f"Unexpected character in the request body: {exc}"]) from exc


def search_params(rec: Recorded) -> dict[str, Any]:
    """Search parameters from the query (GET; lists may be repeated or comma-separated) or body (POST)."""
    if rec.method == "POST":
        return dict(rec.body or {})
    lists = {"fields", "reconcileIssues", "properties"}
    return {k: [x for v in vs for x in v.split(",")] if k in lists else vs[-1] for k, vs in rec.query.items()}


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token).decode().removeprefix("offset:"))
    except ValueError as exc:
        raise Problem(400, ["The nextPageToken is invalid or expired."]) from exc


def stamp(at: float | None = None) -> str:
    """Jira's timestamp, with the offset as +00:00 (the spec's date-time format rejects Jira's +0000)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(at))


def custom_ok(value: Any, schema: dict[str, Any]) -> bool:
    """A select takes {"value": str}, a multi-select a list of those, a labels-like field strings."""
    if schema.get("type") == "option":
        return isinstance(value, dict) and isinstance(value.get("value"), str) and bool(value["value"])
    if schema.get("type") == "array":
        item_ok = (lambda v: custom_ok(v, {"type": "option"})) if schema.get("items") == "option" else (
            lambda v: isinstance(v, str) and bool(v) and not re.search(r"\s", v))
        return isinstance(value, list) and all(item_ok(v) for v in value)
    if schema.get("type") == "number":
        return isinstance(value, (int, float))
    return isinstance(value, (str, dict))


def summary_errors(summary: Any) -> dict[str, str]:
    problem = ("You must specify a summary of the issue." if not isinstance(summary, str) or not summary.strip()
               else "The summary is invalid because it contains newline characters." if re.search("[\r\n]", summary)
               else "Summary must be less than 255 characters." if len(summary) > 255 else None)
    return {"summary": problem} if problem else {}


def rich_text_ok(version: str, value: Any) -> bool:
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
