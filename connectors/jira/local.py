"""Jira's local twin: issues and comments in the irflow store, one issue per incident."""

from __future__ import annotations

from sqlalchemy import func, select

from irflow.connectors.errors import NotFound
from irflow.models import utcnow
from irflow.redaction import SafeText
from irflow.render import require_safe
from irflow.store.engine import Database
from irflow.store.tables import TwinJiraCommentRow, TwinJiraIssueRow


class LocalJira:
    system = "local"

    def __init__(self, db: Database, project: str = "SEC") -> None:
        self._db = db
        self.project = project

    def find_issue(self, incident_id: str) -> str | None:
        with self._db.tx() as s:
            row = s.execute(select(TwinJiraIssueRow).where(TwinJiraIssueRow.incident_id == incident_id)).scalar()
            return row.key if row else None

    def create_issue(
        self, incident_id: str, summary: SafeText, description: SafeText, priority: str, labels: list[str]
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

    def add_comment(self, key: str, body: SafeText) -> None:
        require_safe(body)
        with self._db.tx() as s:
            if s.get(TwinJiraIssueRow, key) is None:
                raise NotFound(f"issue {key} does not exist", system="jira")
            s.add(TwinJiraCommentRow(issue_key=key, body=str(body), created_at=utcnow()))

    def browse_url(self, key: str) -> str:
        return f"irflow://jira/{key}"
