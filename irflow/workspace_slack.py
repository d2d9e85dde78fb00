"""The incident's Slack channel: created once, a pinned summary edited in place, approval requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from irflow import incidents
from irflow.redaction import compose, redact
from irflow.render import incident_heading, summary_blocks, summary_text
from irflow.store.engine import Database
from irflow.store.tables import ActionRow, IncidentRow
from irflow.systems import Systems

if TYPE_CHECKING:
    from irflow.workspace import Snapshot


def channel_name(row: IncidentRow) -> str:
    short = row.id.rsplit("-", 1)[-1][:6]
    return f"inc-{row.created_at:%Y%m%d}-{short}-{row.category.replace('_', '-')}"[:80]


def sync(db: Database, systems: Systems, snap: Snapshot) -> str:
    """Create the channel if needed; post and pin the summary once, then edit it in place."""
    row = snap.row
    text = summary_text(snap.view, snap.actions, snap.evidence)
    blocks = summary_blocks(snap.view, snap.actions, snap.evidence)
    channel = row.slack_channel or systems.chat.ensure_channel(channel_name(row), incident_heading(snap.view))
    if row.slack_summary_ts:
        systems.chat.update(channel, row.slack_summary_ts, text, blocks)
        return channel
    ts = systems.chat.post(channel, text, blocks, pin=True)
    with db.tx() as s:
        current = incidents.get(s, row.id)
        current.slack_channel, current.slack_summary_ts = channel, ts
        incidents.add_timeline(s, row.id, "slack", f"Slack channel {channel} opened with the incident summary")
    return channel


def request_approval(db: Database, systems: Systems, snap: Snapshot, action_id: str) -> None:
    """Ask the channel for a decision. (Buttons and signed callbacks come with the Slack app.)"""
    with db.tx() as s:
        action = s.get(ActionRow, action_id)
        assert action is not None
        text = compose("Approval needed for {name} on {target}: {reason}. Approve with `irflow approve {id}`.",
                       name=redact(action.name), target=redact(action.target, pii=False),
                       reason=redact(action.reason), id=redact(action.id))
    channel = snap.row.slack_channel or sync(db, systems, snap)
    systems.chat.post(channel, text)
