"""The incident's Jira issue: opened once (never twice), commented on after each response."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irflow import incidents
from irflow.redaction import compose, redact
from irflow.render import incident_heading, jira_priority, summary_text
from irflow.store.engine import Database
from irflow.systems import Systems

if TYPE_CHECKING:
    from irflow.workspace import Snapshot


def sync(db: Database, systems: Systems, snap: Snapshot) -> str:
    """Open the issue if the incident has none (searching first, so a retry finds the earlier one)."""
    row = snap.row
    if row.jira_key:
        return row.jira_key
    key = systems.tickets.find_issue(row.id)
    if key is None:
        key = systems.tickets.create_issue(
            row.id, incident_heading(snap.view), summary_text(snap.view, snap.actions, snap.evidence),
            jira_priority(row.severity), ["irflow", f"irflow-{row.id}", f"category-{row.category}"],
        )
    with db.tx() as s:
        incidents.get(s, row.id).jira_key = key
        incidents.add_timeline(s, row.id, "jira", f"Jira issue {key} opened")
    return key


def comment_actions(db: Database, systems: Systems, snap: Snapshot) -> None:
    row = snap.row
    if not row.jira_key or not snap.actions:
        return
    lines = [compose("{n}: {s}", n=redact(a["name"]), s=redact(a["status"])) for a in snap.actions]
    body = compose("irflow response for {id} ({status}):\n{lines}", id=redact(row.id), status=redact(row.status),
                   lines=redact("\n".join(lines), max_len=4000))
    systems.tickets.add_comment(row.jira_key, body)
