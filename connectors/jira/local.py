"""Jira's local twin: issues and comments in the irflow store, one issue per incident.

It holds what a responder reads (summary, description, priority, status, comments). Remote links have no
table and are not kept; no person edits twin issues from outside irflow, so polling finds nothing and the
store's unique incident id makes duplicates impossible.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from irflow.connectors.errors import NotFound
from irflow.connectors.jira.interface import Attributes, IssueActivity, SyncPolicy
from irflow.models import utcnow
from irflow.redaction import SafeText
from irflow.render import require_safe
from irflow.store.engine import Database
from irflow.store.tables import TwinJiraCommentRow, TwinJiraIssueRow

STATUS_NAMES = {"open": "To Do", "contained": "In Progress", "resolved": "Done", "closed": "Done"}


class LocalJira:
    """Ticketing in the irflow database; the default when JIRA_* is not configured."""

    system = "local"

    def __init__(self, db: Database, project: str = "SEC") -> None:
        self._db = db
        self.project = project

    @property
    def policy(self) -> SyncPolicy:
        """No batching delay and no search lag: the twin is a local table."""
        return SyncPolicy(comment_interval_s=0, search_settle_s=0, reconcile_after_s=0)

    def find_issue(self, incident_id: str) -> str | None:
        with self._db.tx() as s:
            row = s.execute(select(TwinJiraIssueRow).where(TwinJiraIssueRow.incident_id == incident_id)).scalar()
            return row.key if row else None

    def find_issues(self, incident_id: str) -> list[str]:
        key = self.find_issue(incident_id)
        return [key] if key else []

    def create_issue(
        self, incident_id: str, summary: SafeText, description: SafeText, priority: str, labels: list[str],
        *, attributes: Attributes | None = None,
    ) -> str:
        require_safe(summary, description)
        with self._db.tx() as s:
            existing = s.execute(select(TwinJiraIssueRow).where(TwinJiraIssueRow.incident_id == incident_id)).scalar()
            if existing is not None:
                return existing.key
            count = s.execute(select(func.count()).select_from(TwinJiraIssueRow)).scalar_one()
            key = f"{self.project}-{count + 1}"
            s.add(TwinJiraIssueRow(
                key=key, project=self.project, summary=str(summary), description=str(description),
                priority=priority, labels=labels, status="To Do", incident_id=incident_id, created_at=utcnow(),
            ))
        return key

    def update_issue(
        self, key: str, *, priority: str | None = None, description: SafeText | None = None,
        attributes: Attributes | None = None,
    ) -> None:
        with self._db.tx() as s:
            row = self._row(s, key)
            if priority:
                row.priority = priority
            if description is not None:
                require_safe(description)
                row.description = str(description)

    def add_comment(self, key: str, body: SafeText) -> None:
        require_safe(body)
        with self._db.tx() as s:
            self._row(s, key)
            s.add(TwinJiraCommentRow(issue_key=key, body=str(body), created_at=utcnow()))

    def set_status(self, key: str, status: str) -> str | None:
        with self._db.tx() as s:
            row = self._row(s, key)
            target = STATUS_NAMES[status]
            if row.status == target:
                return None
            row.status = target
            return target

    def add_remote_link(self, key: str, url: str, title: SafeText, global_id: str) -> None:
        """Checked (the issue exists, the title is safe) but not kept: the twin has no link table."""
        require_safe(title)
        with self._db.tx() as s:
            self._row(s, key)

    def close_duplicate(self, duplicate: str, original: str, incident_id: str) -> None:
        self.set_status(duplicate, "closed")

    def recent_activity(self, minutes: int) -> list[IssueActivity]:
        return []

    def browse_url(self, key: str) -> str:
        return f"irflow://jira/{key}"

    @staticmethod
    def _row(s: Session, key: str) -> TwinJiraIssueRow:
        row = s.get(TwinJiraIssueRow, key)
        if row is None:
            raise NotFound(f"issue {key} does not exist", system="jira")
        return row
