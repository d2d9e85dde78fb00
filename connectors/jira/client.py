"""The real Ticketing client: one Jira issue per incident, through the `jira` library.

Cloud speaks REST v3, whose rich-text fields are Atlassian Document Format (ADF) documents; Data
Center/Server speaks REST v2, whose rich-text fields are wiki markup. Which one is asked of `serverInfo`
once (`deploymentType`), unless JIRA_API_VERSION pins it. The issue for an incident carries the label
`irflow-<incident id>` (searchable) and the issue property `irflow` (machine-readable, survives label
edits). Every library and transport error leaves this module as a `connectors.errors` type.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import requests
from jira import JIRA, JIRAError

from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from irflow.connectors.jira.settings import JiraSettings
from irflow.redaction import SafeText
from irflow.render import require_safe

ApiVersion = Literal["2", "3"]
SYSTEM = "jira"
PROPERTY_KEY = "irflow"
DEFAULT_RETRY_AFTER = 5.0
RECONCILE_MEMORY = 1000
SUMMARY_MAX = 255  # Jira refuses longer summaries with a 400
_BY_STATUS: dict[int, type[ConnectorError]] = {
    400: InvalidRequest, 401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict, 413: InvalidRequest,
    422: InvalidRequest,
}
_NOFORMAT = re.compile(r"\{noformat(:[^}]*)?\}", re.IGNORECASE)


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
        # Issue ids this process created, per incident: Cloud search is eventually consistent, and
        # passing them as `reconcileIssues` makes a search right after creation see them.
        self._created: dict[str, int] = {}

    @property
    def api_version(self) -> ApiVersion:
        """"3" (Cloud, ADF) or "2" (Data Center, wiki markup); detects on first call."""
        return self._connect().version

    def find_issue(self, incident_id: str) -> str | None:
        """The key of the oldest issue labelled `irflow-<incident id>`, or None.

        Cloud uses the enhanced search (`/rest/api/3/search/jql`; the old `/search` is gone there),
        Data Center the v2 `/search`.
        """
        conn = self._connect()
        jql = f"labels = {jql_string(incident_label(incident_id))} ORDER BY created ASC"
        with _translated(f"search for the issue of incident {incident_id}"):
            if conn.version == "3":
                issues = self._search_v3(conn.jira, jql, self._created.get(incident_id))
            else:
                found = conn.jira.search_issues(jql, maxResults=1, fields=["labels"], json_result=True)
                issues = cast(dict[str, Any], found).get("issues", [])
        return str(issues[0]["key"]) if issues else None

    def create_issue(
        self, incident_id: str, summary: SafeText, description: SafeText, priority: str, labels: list[str]
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
            description=description, priority=priority, labels=labels, incident_id=incident_id,
            api_version=conn.version,
        )
        with _translated(f"create the issue for incident {incident_id}"):
            issue = conn.jira.create_issue(fields=fields, prefetch=False)
        self._created[incident_id] = int(issue.id)
        if len(self._created) > RECONCILE_MEMORY:  # only the search lag (seconds) needs bridging
            self._created.pop(next(iter(self._created)))
        with _translated(f"set the {PROPERTY_KEY} property on {issue.key}"):
            conn.jira.add_issue_property(issue.key, PROPERTY_KEY, {"incident_id": incident_id})
        return str(issue.key)

    def add_comment(self, key: str, body: SafeText) -> None:
        """Comment on the issue; an ADF document on Cloud, a {noformat} block on Data Center."""
        require_safe(body)
        conn = self._connect()
        with _translated(f"comment on {key}"):
            # The library types `body` as str but sends it as JSON as-is, which v3 needs (an object).
            conn.jira.add_comment(key, cast(str, rich_text(body, conn.version)))

    def browse_url(self, key: str) -> str:
        """Where a human opens the issue."""
        return f"{self._url}/browse/{key}"

    def server_info(self) -> dict[str, str]:
        """What `irflow doctor` shows: which Jira, which API, whether the credentials and project work.

        Raises AuthError for bad credentials and NotFound for a project that does not exist (or that
        the user cannot see: Jira answers 404 for both).
        """
        conn = self._connect()
        with _translated("read the server info"):
            info = conn.info or conn.jira.server_info()
        with _translated("read the authenticated user"):
            me = conn.jira.myself()
        with _translated(f"read project {self._project}"):
            project = conn.jira.project(self._project)
        return {
            "url": self._url, "deployment": str(info.get("deploymentType", "unknown")),
            "version": str(info.get("version", "")), "api_version": conn.version,
            "user": str(me.get("displayName") or me.get("name") or ""),
            "project": f"{project.key} ({project.name})",
        }

    def _search_v3(self, jira: JIRA, jql: str, reconcile: int | None) -> list[dict[str, Any]]:
        reconcile_ids = [reconcile] if reconcile is not None else None
        search = getattr(jira, "enhanced_search_issues", None)
        if search is not None:
            page = search(jql, maxResults=1, fields=["labels"], reconcileIssues=reconcile_ids, json_result=True)
        else:  # jira < 3.10 has no wrapper for the enhanced search; call the endpoint itself.
            params = {"jql": jql, "maxResults": 1, "fields": "labels", "reconcileIssues": reconcile_ids}
            page = jira._get_json("search/jql", params=params)
        return list(cast(dict[str, Any], page).get("issues", []))

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
        with _translated("read the server info"):
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


def incident_label(incident_id: str) -> str:
    """The label that ties an issue to its incident; Jira labels cannot hold whitespace."""
    return "-".join(f"irflow-{incident_id}".split())


def jql_string(value: str) -> str:
    """A JQL string literal: quotes and backslashes escaped, so an id cannot change the query."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def issue_fields(
    *, project: str, issue_type: str, summary: SafeText, description: SafeText, priority: str,
    labels: list[str], incident_id: str, api_version: ApiVersion,
) -> dict[str, Any]:
    """The `fields` of a create-issue request.

    Project and issue type go by key and name so the library makes no extra lookups. The summary is
    one line of at most 255 characters, which Jira insists on.
    """
    fields: dict[str, Any] = {
        "project": {"key": project}, "issuetype": {"name": issue_type},
        "summary": " ".join(summary.split())[:SUMMARY_MAX],
        "description": rich_text(description, api_version),
        "labels": _labels(labels, incident_id),
    }
    if priority:
        fields["priority"] = {"name": priority}
    return fields


def rich_text(text: SafeText, api_version: ApiVersion) -> dict[str, Any] | str:
    """A description or comment body in the dialect of the API version."""
    return adf_document(text) if api_version == "3" else wiki_noformat(text)


def adf_document(text: str) -> dict[str, Any]:
    """An ADF doc: blank-line separated paragraphs, lines starting with ">" as a blockquote.

    Plain text nodes and no marks, so nothing in the (already defanged) text becomes a link; no
    codeBlock either, so long lines wrap for the human reading the ticket.
    """
    blocks = [_adf_block(chunk) for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if chunk.strip()]
    return {"type": "doc", "version": 1, "content": blocks or [{"type": "paragraph", "content": []}]}


def _adf_block(chunk: str) -> dict[str, Any]:
    lines = chunk.strip("\n").split("\n")
    if all(line.startswith(">") for line in lines):
        quoted = [line[1:].removeprefix(" ") for line in lines]
        return {"type": "blockquote", "content": [_adf_paragraph(quoted)]}
    return _adf_paragraph(lines)


def _adf_paragraph(lines: list[str]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for line in lines:
        if content:
            content.append({"type": "hardBreak"})
        if line:  # ADF text nodes must not be empty
            content.append({"type": "text", "text": line})
    return {"type": "paragraph", "content": content}


def wiki_noformat(text: str) -> str:
    """Wiki markup that Jira shows verbatim: the text inside {noformat}.

    A `{noformat}` inside the text would close the block early and let the rest render as markup, so
    each one is broken up first.
    """
    inner = _NOFORMAT.sub(lambda m: m.group(0).replace("{", "{\u200b", 1), text)
    return "{noformat}\n" + inner + "\n{noformat}"


def _labels(labels: list[str], incident_id: str) -> list[str]:
    wanted = ["-".join(label.split()) for label in labels] + [incident_label(incident_id)]
    return [label for i, label in enumerate(wanted) if label and label not in wanted[:i]]


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn JIRAError and requests' transport errors into connectors.errors, keeping the cause."""
    try:
        yield
    except JIRAError as exc:
        raise error_from_jira(exc, action) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Unavailable(f"{action}: {type(exc).__name__}: {exc}", system=SYSTEM) from exc
    except (requests.RequestException, ValueError) as exc:  # e.g. a proxy's HTML page instead of JSON
        raise ConnectorError(f"{action}: unexpected answer: {exc}", system=SYSTEM) from exc


def error_from_jira(exc: JIRAError, action: str) -> ConnectorError:
    """The typed error for a JIRAError, chosen by HTTP status, never by message text."""
    status = exc.status_code
    message = f"could not {action}: {error_detail(exc)}"
    if status == 429:
        return RateLimited(message, retry_after=retry_after(exc.response), system=SYSTEM, status=status)
    if status is not None and status >= 500:
        return Unavailable(message, system=SYSTEM, status=status)
    return _BY_STATUS.get(status or 0, ConnectorError)(message, system=SYSTEM, status=status)


def error_detail(exc: JIRAError) -> str:
    """Jira's own words: `errorMessages` then `errors` as "field: message", e.g. a required custom field."""
    body = _json_body(exc.response)
    messages = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors") or {}
    if isinstance(errors, dict):
        messages += [f"{field}: {text}" for field, text in errors.items()]
    if messages:
        return "; ".join(messages)
    return exc.text or "no detail in the response"


def _json_body(response: requests.Response | None) -> dict[str, Any]:
    if response is None or not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after(response: requests.Response | None) -> float:
    """Seconds to wait per Retry-After (delta-seconds or an HTTP date); 5 when Jira does not say."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
