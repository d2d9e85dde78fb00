"""The Jira the loopback serves, without the HTTP: projects, issues, the workflow, comments, people, and
the search that JQL and its eventual consistency select with.

`JiraState` holds what tests set up and read back (`issues`, `required_fields`, `search_lag_seconds`,
`human_transition`, ...); jira_server_resources.py answers the REST routes over it and jira_server.py serves
those over HTTP.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any, Literal

from tests.contract.jira_server_model import (BOT_CLOUD, CLOUD_WORKFLOW, DC_WORKFLOW, EDITABLE, ISSUE_TYPES,
                                              KNOWN_FIELDS, NOT_ADF, PRIORITIES, STATUSES, Issue, Problem, Recorded,
                                              custom_ok, rich_text_ok, stamp, summary_errors)


class JiraState:
    """Jira's data and rules; `url` comes from the server that serves it."""

    def __init__(self, deployment: Literal["Cloud", "Server"], user: str, token: str,
                 projects: tuple[str, ...]) -> None:
        self.deployment = deployment
        self.user, self.token = user, token
        self.projects = {key: str(10000 + i) for i, key in enumerate(projects)}
        self.required_fields: dict[str, str] = {}  # custom field id -> its name, refused when absent
        self.custom_fields: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (name, schema), e.g. a select
        self.workflow = dict(CLOUD_WORKFLOW if deployment == "Cloud" else DC_WORKFLOW)  # transition -> status
        self.search_lag_seconds = 0.0  # enhanced search misses issues younger than this ...
        self.search_lag_count = 0  # ... and the last N created, unless named in reconcileIssues
        self.issues: dict[str, Issue] = {}
        self._ids = itertools.count(1)
        self._comment_ids = itertools.count(20001)
        self._link_ids = itertools.count(10000)

    @property
    def url(self) -> str:
        raise NotImplementedError("served by JiraLoopback, whose LoopbackServer base gives the url")

    def labelled(self, label: str) -> list[Issue]:
        return sorted((i for i in self.issues.values() if label in i.fields.get("labels", [])), key=lambda i: i.seq)

    def _self(self, rec: Recorded, path: str) -> str:
        return f"{self.url}/rest/api/{rec.version}/{path}"

    def _field_errors(self, version: str, fields: dict[str, Any], *, edit: bool = False) -> dict[str, str]:
        allowed = (EDITABLE if edit else KNOWN_FIELDS) | self.required_fields.keys() | self.custom_fields.keys()
        errors = {f: f"Field '{f}' cannot be set. It is not on the appropriate screen, or unknown."
                  for f in fields if f not in allowed}
        if not edit:
            if self._project_key(fields.get("project")) is None:
                errors["project"] = "Specify a valid project ID or key"
            if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
                errors["issuetype"] = "Specify a valid issue type"
            errors.update(summary_errors(fields.get("summary")))
            errors.update({fid: f"{name} is required." for fid, name in self.required_fields.items() if fid not in fields})
        if "description" in fields and not rich_text_ok(version, fields["description"]):
            errors["description"] = NOT_ADF if version == "3" else "Operation value must be a string"
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errors["priority"] = f"Priority name '{(fields['priority'] or {}).get('name')}' is not valid"
        bad = [lb for lb in fields.get("labels", []) if not isinstance(lb, str) or not lb or re.search(r"\s", lb)]
        if bad:
            errors["labels"] = f"The label '{bad[0]}' contains spaces which is invalid."
        for fid, (name, schema) in self.custom_fields.items():
            if fid in fields and not custom_ok(fields[fid], schema):
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

    def _comment(self, issue: Issue, body: Any, account: str | None) -> dict[str, Any]:
        comment = {"id": str(next(self._comment_ids)), "author": self.person(account), "body": body,
                   "created": stamp(), "updated": stamp(), "jsdPublic": True}
        issue.comments.append(comment)
        issue.updated = time.time()
        return comment

    # --- workflow -------------------------------------------------------------------------------
    def _transitions(self, issue: Issue) -> list[dict[str, Any]]:
        return [{"id": str(11 + 10 * i), "name": name, "to": self._status(target), "hasScreen": False,
                 "isGlobal": True, "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False}
                for i, (name, target) in enumerate(self.workflow.items()) if target != issue.status]

    def move(self, key: str, status: str, account: str | None) -> dict[str, Any]:
        """Change the status as `account` (None: the authenticated bot); returns the changelog item."""
        issue = self.issues[key]
        item = {"field": "status", "fieldtype": "jira", "from": STATUSES[issue.status][0], "fromString": issue.status,
                "to": STATUSES[status][0], "toString": status}
        issue.history.append({"id": str(len(issue.history) + 100), "author": self.person(account), "created": stamp(),
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

    # --- search ---------------------------------------------------------------------------------
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
            "status": self._status(issue.status), "updated": stamp(issue.updated),
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
