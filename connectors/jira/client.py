"""The real Ticketing client: one Jira issue per incident, through the `jira` library.

Cloud speaks REST v3, whose rich-text fields are Atlassian Document Format (ADF) documents; Data
Center/Server speaks REST v2, whose rich-text fields are wiki markup. Which one is asked of `serverInfo`
once (`deploymentType`), unless JIRA_API_VERSION pins it. The issue for an incident carries the label
`irflow-<incident id>` (searchable) and the issue property `irflow` (machine-readable, survives label
edits). Every library and transport error leaves this module as a `connectors.errors` type.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, cast

from jira import JIRA

from irflow.connectors.errors import ConfigError, InvalidRequest
from irflow.connectors.jira.format import (
    BASE_LABEL,
    ApiVersion,
    adf_document,
    custom_field_values,
    incident_label,
    issue_fields,
    jql_string,
    plain_text,
    rich_text,
    wiki_noformat,
)
from irflow.connectors.jira.interface import Attributes, IssueActivity, SyncPolicy, TicketComment
from irflow.connectors.jira.settings import JiraSettings
from irflow.connectors.jira.translate import SYSTEM, error_from_jira, retry_after, translated
from irflow.redaction import SafeText, compose, redact
from irflow.render import require_safe

__all__ = ["JiraClient", "adf_document", "error_from_jira", "retry_after", "wiki_noformat"]

PROPERTY_KEY = "irflow"
RECONCILE_MEMORY = 1000
PAGE = 50
MAX_SEARCH = 500  # an incident label never matches more; polling looks at a bounded window


@dataclass(frozen=True)
class _Connection:
    jira: JIRA
    version: ApiVersion
    info: dict[str, Any]


class JiraClient:
    """Ticketing against a real Jira Cloud or Data Center.

    The connection is opened on first use, not at construction, so that building the process's
    connectors never depends on Jira being up. The library's own retries are off (`max_retries=0`):
    flows retry by error type and honour Retry-After, and a second retry layer would multiply waits.
    """

    system = SYSTEM

    def __init__(self, settings: JiraSettings) -> None:
        missing = settings.missing()
        if missing:
            raise ConfigError(f"set {', '.join(missing)} to use the real Jira client", system=SYSTEM)
        self._settings = settings
        self._url = str(settings.url).rstrip("/")
        self._project = str(settings.project)
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self._custom: tuple[dict[str, str], dict[str, dict[str, Any]]] | None = None
        # Issue ids this process created, per incident: Cloud search is eventually consistent, and
        # passing them as `reconcileIssues` makes a search right after creation see them.
        self._created: dict[str, int] = {}

    @property
    def policy(self) -> SyncPolicy:
        """The batching, settling and polling knobs, from JiraSettings."""
        s = self._settings
        return SyncPolicy(s.comment_interval_s, s.search_settle_s, s.reconcile_after_s, s.poll_interval_s,
                          s.slack_channel_url, s.runbook_url)

    @property
    def api_version(self) -> ApiVersion:
        """"3" (Cloud, ADF) or "2" (Data Center, wiki markup); detects on first call."""
        return self._connect().version

    def find_issue(self, incident_id: str) -> str | None:
        """The key of the oldest issue labelled `irflow-<incident id>`, or None."""
        found = self._issues_labelled(incident_id, limit=1)
        return found[0] if found else None

    def find_issues(self, incident_id: str) -> list[str]:
        """Every issue labelled for the incident, oldest first (the reconciler looks for more than one)."""
        return self._issues_labelled(incident_id, limit=MAX_SEARCH)

    def create_issue(
        self, incident_id: str, summary: SafeText, description: SafeText, priority: str, labels: list[str],
        *, attributes: Attributes | None = None,
    ) -> str:
        """Open the incident's issue, or return the one already open for it (one issue per incident).

        The issue property is set after creation because Data Center's create does not take one; a
        failure there raises, and the retry finds the issue by its label instead of opening another.
        """
        require_safe(summary, description)
        existing = self.find_issue(incident_id)
        if existing is not None:
            return existing
        conn = self._connect()
        fields = issue_fields(
            project=self._project, issue_type=self._settings.issue_type, summary=summary,
            description=description, priority=priority, labels=[*labels, *self._settings.labels],
            incident_id=incident_id, api_version=conn.version, components=self._settings.components,
        ) | self._custom_values(attributes)
        with translated(f"create the issue for incident {incident_id}"):
            issue = conn.jira.create_issue(fields=fields, prefetch=False)
        self._created[incident_id] = int(issue.id)
        if len(self._created) > RECONCILE_MEMORY:  # only the search lag (seconds) needs bridging
            self._created.pop(next(iter(self._created)))
        with translated(f"set the {PROPERTY_KEY} property on {issue.key}"):
            conn.jira.add_issue_property(issue.key, PROPERTY_KEY, {"incident_id": incident_id})
        return str(issue.key)

    def update_issue(
        self, key: str, *, priority: str | None = None, description: SafeText | None = None,
        attributes: Attributes | None = None,
    ) -> None:
        """Edit priority, description and mapped custom fields in one PUT; nothing to send sends nothing."""
        conn = self._connect()
        fields: dict[str, Any] = self._custom_values(attributes)
        if priority:
            fields["priority"] = {"name": priority}
        if description is not None:
            require_safe(description)
            fields["description"] = rich_text(description, conn.version)
        if fields:
            self._send(conn, "PUT", f"issue/{key}", {"fields": fields}, f"update {key}")

    def add_comment(self, key: str, body: SafeText) -> None:
        """Comment on the issue; an ADF document on Cloud, a {noformat} block on Data Center."""
        require_safe(body)
        conn = self._connect()
        with translated(f"comment on {key}"):
            # The library types `body` as str but sends it as JSON as-is, which v3 needs (an object).
            conn.jira.add_comment(key, cast(str, rich_text(body, conn.version)))

    def set_status(self, key: str, status: str) -> str | None:
        """Run the first transition whose name, or target status name, is configured for `status`."""
        wanted = [name.lower() for name in self._settings.transition_names(status)]
        conn = self._connect()
        with translated(f"read the status of {key}"):
            current = conn.jira.issue(key, fields="status").raw["fields"]["status"]
        if str(current.get("name", "")).lower() in wanted:
            return None
        with translated(f"list the transitions of {key}"):
            available = cast(list[dict[str, Any]], conn.jira.transitions(key))
        chosen = _pick_transition(available, wanted)
        if chosen is None:
            offered = ", ".join(f"{t.get('name')} (to {(t.get('to') or {}).get('name')})" for t in available)
            raise InvalidRequest(
                f"no transition of {key} from {current.get('name')} matches {' | '.join(wanted)} for incident "
                f"status {status}; available: {offered or 'none'} (set JIRA_TRANSITIONS)", system=SYSTEM)
        body = {"transition": {"id": str(chosen["id"])}}
        self._send(conn, "POST", f"issue/{key}/transitions", body, f"move {key} to {chosen.get('name')}")
        return str(chosen.get("name"))

    def add_remote_link(self, key: str, url: str, title: SafeText, global_id: str) -> None:
        """POST a remote link with a global id; Jira updates the existing link of that id instead of adding."""
        require_safe(title)
        body = {"globalId": global_id, "relationship": "links to",
                "object": {"url": url, "title": str(title)[:255]}}
        self._send(self._connect(), "POST", f"issue/{key}/remotelink", body, f"link {key} to {url}")

    def close_duplicate(self, duplicate: str, original: str, incident_id: str) -> None:
        """Link, relabel and close a duplicate, so the incident's label leads to the original alone.

        The link is created from the duplicate (the outward issue, "duplicates") to the original, with a
        comment saying why; the property records it for anyone reading the issue through the API.
        """
        conn = self._connect()
        note = compose("irflow: duplicate of {o} for incident {i}; closed automatically.",
                       o=redact(original), i=redact(incident_id))
        link = {"type": {"name": self._settings.duplicate_link_type}, "outwardIssue": {"key": duplicate},
                "inwardIssue": {"key": original}, "comment": {"body": rich_text(note, conn.version)}}
        self._send(conn, "POST", "issueLink", link, f"link {duplicate} to {original}")
        relabel = {"update": {"labels": [{"remove": incident_label(incident_id)}, {"add": "irflow-duplicate"}]}}
        self._send(conn, "PUT", f"issue/{duplicate}", relabel, f"relabel {duplicate}")
        with translated(f"set the {PROPERTY_KEY} property on {duplicate}"):
            conn.jira.add_issue_property(duplicate, PROPERTY_KEY, {"incident_id": incident_id, "duplicate_of": original})
        self.set_status(duplicate, "closed")

    def recent_activity(self, minutes: int) -> list[IssueActivity]:
        """irflow's issues updated in the last `minutes`, with status, who last moved it, and comments.

        The JQL uses a relative date (`-15m`) because absolute JQL dates are read in the Jira user's time
        zone, which this client does not know.
        """
        jql = f"labels = {jql_string(BASE_LABEL)} AND updated >= -{max(1, int(minutes))}m ORDER BY updated ASC"
        conn = self._connect()
        with translated("search for recently updated issues"):
            issues = self._search(conn, jql, ["status", "comment", "labels"], MAX_SEARCH, expand="changelog")
        return [_activity(issue) for issue in issues]

    def browse_url(self, key: str) -> str:
        """Where a human opens the issue."""
        return f"{self._url}/browse/{key}"

    def server_info(self) -> dict[str, str]:
        """What `irflow doctor` shows: which Jira, which API, whether the credentials and project work.

        Raises AuthError for bad credentials and NotFound for a project that does not exist (or that
        the user cannot see: Jira answers 404 for both).
        """
        conn = self._connect()
        with translated("read the server info"):
            info = conn.info or conn.jira.server_info()
        with translated("read the authenticated user"):
            me = conn.jira.myself()
        with translated(f"read project {self._project}"):
            project = conn.jira.project(self._project)
        return {
            "url": self._url, "deployment": str(info.get("deploymentType", "unknown")),
            "version": str(info.get("version", "")), "api_version": conn.version,
            "user": str(me.get("displayName") or me.get("name") or ""),
            "project": f"{project.key} ({project.name})",
        }

    # --- internals ----------------------------------------------------------------------------------
    def _issues_labelled(self, incident_id: str, limit: int) -> list[str]:
        conn = self._connect()
        jql = f"labels = {jql_string(incident_label(incident_id))} ORDER BY created ASC"
        with translated(f"search for the issue of incident {incident_id}"):
            issues = self._search(conn, jql, ["labels"], limit, reconcile=self._created.get(incident_id))
        return [str(issue["key"]) for issue in issues]

    def _search(self, conn: _Connection, jql: str, fields: list[str], limit: int, *,
                reconcile: int | None = None, expand: str | None = None) -> list[dict[str, Any]]:
        """Every match up to `limit`: Cloud's enhanced search pages by `nextPageToken` (the old `/search`
        is gone there), Data Center's v2 `/search` by `startAt`."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        while len(found) < limit:
            size = min(PAGE, limit - len(found))
            if conn.version == "3":
                page = cast(dict[str, Any], conn.jira.enhanced_search_issues(
                    jql, nextPageToken=token, maxResults=size, fields=list(fields), expand=expand,
                    reconcileIssues=[reconcile] if reconcile is not None else None, json_result=True))
                token = page.get("nextPageToken")
                last = bool(page.get("isLast", True)) or not token
            else:
                page = cast(dict[str, Any], conn.jira.search_issues(
                    jql, startAt=len(found), maxResults=size, fields=list(fields), expand=expand, json_result=True))
                last = len(found) + len(page.get("issues", [])) >= int(page.get("total", 0))
            found += list(page.get("issues", []))
            if last or not page.get("issues"):
                break
        return found[:limit]

    def _custom_values(self, attributes: Attributes | None) -> dict[str, Any]:
        if not attributes or not self._settings.custom_fields:
            return {}
        ids, schemas = self._custom_fields()
        return custom_field_values(ids, attributes, schemas, self._connect().version)

    def _custom_fields(self) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """The custom-field mapping with names resolved to ids, and each field's schema (one GET /field)."""
        if self._custom is None:
            conn = self._connect()
            with translated("list the fields"):
                known = cast(list[dict[str, Any]], conn.jira.fields())
            by_key = {str(f["id"]): f for f in known} | {str(f.get("name", "")).lower(): f for f in known}
            ids: dict[str, str] = {}
            for attribute, ref in self._settings.custom_fields.items():
                meta = by_key.get(ref) or by_key.get(ref.lower())
                if meta is None:
                    raise ConfigError(f"custom field {ref!r} (for {attribute}) does not exist in Jira", system=SYSTEM)
                ids[attribute] = str(meta["id"])
            self._custom = ids, {str(f["id"]): dict(f.get("schema") or {}) for f in known}
        return self._custom

    def _send(self, conn: _Connection, method: str, path: str, body: dict[str, Any], action: str) -> None:
        """A JSON request the library has no method for without an extra lookup first (its issue edit
        fetches the issue, its link helpers list application links and link types)."""
        url = conn.jira._get_url(path)
        with translated(action):
            conn.jira._session.request(method, url, data=json.dumps(body))

    def _connect(self) -> _Connection:
        with self._lock:
            if self._connection is None:
                self._connection = self._open()
            return self._connection

    def _open(self) -> _Connection:
        pinned = self._settings.api_version
        if pinned != "auto":
            return _Connection(self._jira(pinned, cloud=pinned == "3"), pinned, {})
        probe = self._jira("2", cloud=False)
        # v2 serverInfo exists on Cloud and Data Center alike; v3 only on Cloud.
        with translated("read the server info"):
            info = probe.server_info()
        if info.get("deploymentType") == "Cloud":
            return _Connection(self._jira("3", cloud=True), "3", info)
        return _Connection(probe, "2", info)

    def _jira(self, version: ApiVersion, *, cloud: bool) -> JIRA:
        token = self._settings.api_token.get_secret_value() if self._settings.api_token else ""
        auth: dict[str, Any] = (
            {"basic_auth": (self._settings.user, token)} if self._settings.user else {"token_auth": token}
        )
        jira = JIRA(
            server=self._url, options={"rest_api_version": version}, timeout=self._settings.timeout,
            max_retries=0, get_server_info=False, **auth,
        )
        # With get_server_info=False the library cannot know it talks to Cloud, and it gates the
        # enhanced search on that; we know from our own serverInfo call (or the pinned v3).
        jira.deploymentType = "Cloud" if cloud else None
        return jira


def _pick_transition(available: list[dict[str, Any]], wanted: list[str]) -> dict[str, Any] | None:
    """The transition for the earliest wanted name, matched on its own name or its target status."""
    for name in wanted:
        for transition in available:
            target = str((transition.get("to") or {}).get("name", "")).lower()
            if str(transition.get("name", "")).lower() == name or target == name:
                return transition
    return None


def _person(user: Any) -> str:
    user = user if isinstance(user, dict) else {}
    return str(user.get("accountId") or user.get("name") or user.get("key") or "")


def _activity(issue: dict[str, Any]) -> IssueActivity:
    fields = issue.get("fields") or {}
    status = fields.get("status") or {}
    histories = ((issue.get("changelog") or {}).get("histories")) or []
    moves = [h for h in histories if any(i.get("field") == "status" for i in h.get("items") or [])]
    comments = ((fields.get("comment") or {}).get("comments")) or []
    return IssueActivity(
        key=str(issue["key"]), status=str(status.get("name", "")),
        done=((status.get("statusCategory") or {}).get("key")) == "done",
        moved_by=_person(moves[-1].get("author")) if moves else None,
        comments=[TicketComment(str(c.get("id")), _person(c.get("author")), plain_text(c.get("body")))
                  for c in comments],
    )
