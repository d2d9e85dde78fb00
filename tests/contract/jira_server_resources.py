"""The REST resources the Jira loopback answers, one method a route (see `ROUTES` in jira_server.py):
serverInfo, myself, field, project, issues and their comments, properties, transitions and links, and
search, as Cloud (v2 and v3) and Server / Data Center (v2) answer them.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from tests.contract.jira_server_model import (KNOWN_FIELDS, LINK_TYPES, NOT_ADF, NOW, Issue, Problem, Recorded,
                                              decode_token, rich_text_ok, search_params)
from tests.contract.jira_server_state import JiraState
from tests.contract.loopback import Reply


class JiraResources(JiraState):
    """Route handlers: each takes the recorded request and its path parameters and answers, or raises Problem."""

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
        if not rich_text_ok(rec.version, body) or not body:
            raise Problem(400, [], {"comment": NOT_ADF if rec.version == "3" else "Comment body can not be empty!"})
        comment = self._comment(issue, body, None)
        return 201, {"self": self._self(rec, f"issue/{issue.id}/comment/{comment['id']}")} | comment, {}

    def set_property(self, rec: Recorded, key: str, prop: str) -> Reply:
        issue = self._issue(key)
        if rec.body is None:
            raise Problem(400, ["The property value must be valid JSON."])
        status = 200 if prop in issue.properties else 201
        issue.properties[prop] = rec.body
        return status, None, {}

    # --- workflow -------------------------------------------------------------------------------
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
        q = search_params(rec)
        found = self._matching(str(q.get("jql", "")))
        reconcile = {str(i) for i in q.get("reconcileIssues", [])}
        found = [i for i in found if not self._lagging(i) or i.id in reconcile]
        start = decode_token(q.get("nextPageToken"))
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
        q = search_params(rec)
        found = self._matching(str(q.get("jql", "")))
        start, size = int(q.get("startAt", 0)), int(q.get("maxResults", 50))
        expand = str(q.get("expand") or "")
        issues = [self._bean(rec, i, q.get("fields") or ["*navigable"], expand) for i in found[start:start + size]]
        return 200, {"startAt": start, "maxResults": size, "total": len(found), "issues": issues}, {}
