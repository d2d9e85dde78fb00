"""The incident workspace: its Jira issue and Slack channel, kept up to date from the outbox."""

from __future__ import annotations

from typing import Any

from irflow import incidents
from irflow.outbox import Handler
from irflow.redaction import compose, redact
from irflow.render import incident_heading, jira_priority, summary_blocks, summary_text
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, IncidentRow, OutboxRow
from irflow.systems import Systems


def channel_name(row: IncidentRow) -> str:
    short = row.id.rsplit("-", 1)[-1][:6]
    return f"inc-{row.created_at:%Y%m%d}-{short}-{row.category.replace('_', '-')}"[:80]


def _snapshot(db: Database, incident_id: str) -> tuple[IncidentRow, dict[str, Any], list[dict[str, Any]], str | None]:
    with db.tx() as s:
        row = incidents.get(s, incident_id)
        view = incidents.incident_view(s, row, detail=False)
        actions = [incidents.action_view(a) for a in incidents.actions_of(s, incident_id)]
        first = s.query(AlertRow).filter(AlertRow.incident_id == incident_id).order_by(AlertRow.received_at).first()
        evidence = first.evidence if first else None
    return row, view, actions, evidence


def _ensure_jira(db: Database, systems: Systems, row: IncidentRow, view: dict[str, Any], actions: list, evidence: str | None) -> str:
    if row.jira_key:
        return row.jira_key
    key = systems.tickets.find_issue(row.id)
    if key is None:
        key = systems.tickets.create_issue(
            row.id, incident_heading(view), summary_text(view, actions, evidence),
            jira_priority(row.severity), ["irflow", f"irflow-{row.id}", f"category-{row.category}"],
        )
    with db.tx() as s:
        incidents.get(s, row.id).jira_key = key
        incidents.add_timeline(s, row.id, "jira", f"Jira issue {key} opened")
    return key


def _ensure_slack(db: Database, systems: Systems, row: IncidentRow, view: dict[str, Any], actions: list, evidence: str | None) -> None:
    text = summary_text(view, actions, evidence)
    blocks = summary_blocks(view, actions, evidence)
    channel = row.slack_channel or systems.chat.ensure_channel(channel_name(row), incident_heading(view))
    if row.slack_summary_ts:
        systems.chat.update(channel, row.slack_summary_ts, text, blocks)
        return
    ts = systems.chat.post(channel, text, blocks, pin=True)
    with db.tx() as s:
        current = incidents.get(s, row.id)
        current.slack_channel, current.slack_summary_ts = channel, ts
        incidents.add_timeline(s, row.id, "slack", f"Slack channel {channel} opened with the incident summary")


def on_incident_changed(db: Database, systems: Systems, item: OutboxRow) -> None:
    """Open the workspace if needed, then bring the pinned summary up to date."""
    assert item.incident_id is not None
    row, view, actions, evidence = _snapshot(db, item.incident_id)
    _ensure_jira(db, systems, row, view, actions, evidence)
    row, view, actions, evidence = _snapshot(db, item.incident_id)
    _ensure_slack(db, systems, row, view, actions, evidence)


def on_response_finished(db: Database, systems: Systems, item: OutboxRow) -> None:
    """After a playbook run: refresh the summary and leave one Jira comment listing the actions."""
    on_incident_changed(db, systems, item)
    row, view, actions, _ = _snapshot(db, item.incident_id or "")
    if row.jira_key and actions:
        lines = [compose("{n}: {s}", n=redact(a["name"]), s=redact(a["status"])) for a in actions]
        body = compose("irflow response for {id} ({status}):\n{lines}", id=redact(row.id), status=redact(row.status),
                       lines=redact("\n".join(lines), max_len=4000))
        systems.tickets.add_comment(row.jira_key, body)


HANDLERS: dict[str, Handler] = {
    "incident.opened": on_incident_changed,
    "incident.updated": on_incident_changed,
    "response.finished": on_response_finished,
}
