"""The incident workspace: its Jira issue and Slack channel, kept up to date from the outbox.

This module only routes outbox items; what happens in Jira lives in workspace_jira, what happens in
Slack in workspace_slack. Jira goes first so the Slack summary can link the issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from irflow import events, incidents, workspace_jira, workspace_slack
from irflow.outbox import Handler
from irflow.redaction import compose, redact
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, IncidentRow, OutboxRow
from irflow.systems import Systems


@dataclass
class Snapshot:
    """The incident as a renderer sees it: the row, its public view, its actions and first evidence."""

    row: IncidentRow
    view: dict[str, Any]
    actions: list[dict[str, Any]]
    evidence: str | None


def snapshot(db: Database, incident_id: str) -> Snapshot:
    with db.tx() as s:
        row = incidents.get(s, incident_id)
        view = incidents.incident_view(s, row, detail=False)
        actions = [incidents.action_view(a) for a in incidents.actions_of(s, incident_id)]
        first = s.query(AlertRow).filter(AlertRow.incident_id == incident_id).order_by(AlertRow.received_at).first()
        evidence = first.evidence if first else None
    return Snapshot(row, view, actions, evidence)


def on_incident_changed(db: Database, systems: Systems, item: OutboxRow) -> None:
    """Open the workspace if needed, then bring the pinned summary up to date."""
    assert item.incident_id is not None
    workspace_jira.sync(db, systems, snapshot(db, item.incident_id))
    workspace_slack.sync(db, systems, snapshot(db, item.incident_id))


def on_response_finished(db: Database, systems: Systems, item: OutboxRow) -> None:
    """After a playbook run: refresh both, and leave one Jira comment listing the actions."""
    on_incident_changed(db, systems, item)
    workspace_jira.comment_actions(db, systems, snapshot(db, item.incident_id or ""))


def on_approval_requested(db: Database, systems: Systems, item: OutboxRow) -> None:
    on_incident_changed(db, systems, item)
    workspace_slack.request_approval(db, systems, snapshot(db, item.incident_id or ""), item.payload["action_id"])


def on_escalation_notice(db: Database, systems: Systems, item: OutboxRow) -> None:
    """SLA breaches and EU AI Act reminders: a message in the channel and a note on the Jira issue."""
    on_incident_changed(db, systems, item)
    snap = snapshot(db, item.incident_id or "")
    if item.kind == "sla.breached":
        what = {"tta": "acknowledged", "ttc": "contained"}[item.payload["kind"]]
        text = compose("SLA breached: incident {id} was not {what} within {n} minutes. On-call: please take it.",
                       id=redact(snap.row.id), what=redact(what), n=int(item.payload["target_minutes"]))
    else:
        text = compose("Reminder: {text}", text=redact(item.payload["text"], pii=False))
    workspace_slack.notify(db, systems, snap, text)
    if snap.row.jira_key:
        systems.tickets.add_comment(snap.row.jira_key, text)


HANDLERS: dict[str, Handler] = {
    "alerts.received": events.emit_received,
    "sla.breached": on_escalation_notice,
    "serious.reminder": on_escalation_notice,
    "incident.opened": on_incident_changed,
    "incident.updated": on_incident_changed,
    "response.finished": on_response_finished,
    "approval.requested": on_approval_requested,
}
