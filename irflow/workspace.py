"""The incident workspace: its Jira issue and Slack channel, kept up to date from the outbox.

This module only routes outbox items; what happens in Jira lives in workspace_jira, what happens in
Slack in workspace_slack. Every kind has a handler per system, and the outbox delivers each system's half
on its own (its own row, retries and lane), so neither waits for the other: the Slack summary shows the
Jira link once the issue exists, because opening the issue queues a Slack refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from irflow import events, incidents, workspace_jira, workspace_slack
from irflow.outbox import Handler, Target
from irflow.redaction import SafeText, compose, redact
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


def _snap(db: Database, item: OutboxRow) -> Snapshot:
    assert item.incident_id is not None, f"outbox {item.kind} #{item.id} names no incident"
    return snapshot(db, item.incident_id)


# --- Jira's half ----------------------------------------------------------------------------------------


def jira_changed(db: Database, systems: Systems, item: OutboxRow) -> None:
    """Open the issue if needed, then bring it up to date."""
    workspace_jira.sync(db, systems, _snap(db, item))


def jira_response_finished(db: Database, systems: Systems, item: OutboxRow) -> None:
    """After a playbook run: the issue up to date, and one comment listing the actions."""
    jira_changed(db, systems, item)
    workspace_jira.comment_actions(db, systems, _snap(db, item))


def jira_notice(db: Database, systems: Systems, item: OutboxRow) -> None:
    """SLA breaches and EU AI Act reminders: a note on the issue (opened first if Jira was down till now)."""
    jira_changed(db, systems, item)
    snap = _snap(db, item)
    if snap.row.jira_key:
        systems.tickets.add_comment(snap.row.jira_key, notice_text(snap, item))


# --- Slack's half ---------------------------------------------------------------------------------------


def slack_changed(db: Database, systems: Systems, item: OutboxRow) -> None:
    """Open the channel (or triage thread) if needed, then bring the pinned summary up to date."""
    workspace_slack.sync(db, systems, _snap(db, item))


def slack_approval_requested(db: Database, systems: Systems, item: OutboxRow) -> None:
    slack_changed(db, systems, item)
    workspace_slack.request_approval(db, systems, _snap(db, item), item.payload["action_id"])


def slack_notice(db: Database, systems: Systems, item: OutboxRow) -> None:
    """SLA breaches and EU AI Act reminders: a message where the incident lives."""
    slack_changed(db, systems, item)
    snap = _snap(db, item)
    workspace_slack.notify(db, systems, snap, notice_text(snap, item))


def notice_text(snap: Snapshot, item: OutboxRow) -> SafeText:
    """The same words in Slack and Jira, built from the item (an SLA kind, or a reminder's text)."""
    if item.kind == "sla.breached":
        what = {"tta": "acknowledged", "ttc": "contained"}[item.payload["kind"]]
        return compose("SLA breached: incident {id} was not {what} within {n} minutes. On-call: please take it.",
                       id=redact(snap.row.id), what=redact(what), n=int(item.payload["target_minutes"]))
    return compose("Reminder: {text}", text=redact(item.payload["text"], pii=False))


_SYNC: dict[str, Handler] = {Target.JIRA: jira_changed, Target.SLACK: slack_changed}
_NOTICE: dict[str, Handler] = {Target.JIRA: jira_notice, Target.SLACK: slack_notice}

HANDLERS: dict[str, dict[str, Handler]] = {
    "alerts.received": {Target.PREFECT: events.emit_received},
    "sla.breached": _NOTICE,
    "serious.reminder": _NOTICE,
    "incident.opened": _SYNC,
    "incident.updated": _SYNC,
    "response.finished": {Target.JIRA: jira_response_finished, Target.SLACK: slack_changed},
    "approval.requested": {Target.JIRA: jira_changed, Target.SLACK: slack_approval_requested},
}
"""kind -> system -> handler: what each system does with an item, delivered on its own."""
