"""Glue between intake and response: pick each new incident's playbook, run its flow, deliver the outbox."""

from __future__ import annotations

from sqlalchemy import select

from irflow import audit, incidents, outbox, playbook, workspace
from irflow.models import Category, Severity
from irflow.runtime import Runtime
from irflow.store.tables import AlertRow


def choose_playbook(rt: Runtime, incident_id: str) -> str | None:
    with rt.db.tx() as s:
        row = incidents.get(s, incident_id)
        source = s.execute(select(AlertRow.source).where(AlertRow.incident_id == incident_id).limit(1)).scalar() or ""
        chosen = playbook.select(rt.playbooks, Category(row.category), Severity(row.severity), source)
        if chosen is None:
            incidents.add_timeline(s, incident_id, "playbook", f"No playbook's trigger matches {row.category}; "
                                   "the incident waits for a responder")
            audit.append(s, actor="irflow", kind="playbook.none", subject=incident_id)
        return chosen.name if chosen else None


def respond(rt: Runtime, incident_id: str) -> str | None:
    """Run the incident's playbook as a Prefect flow run (in this process); returns the incident status."""
    name = choose_playbook(rt, incident_id)
    if name is None:
        return None
    from irflow.flows.respond import respond as respond_flow

    return respond_flow(incident_id=incident_id, playbook=name)


def deliver(rt: Runtime) -> int:
    """Deliver every due outbox item (Slack/Jira); loops until nothing due is left."""
    total = 0
    while (n := outbox.deliver_pending(rt.db, rt.systems, workspace.HANDLERS)) > 0:
        total += n
    return total
