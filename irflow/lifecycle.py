"""Incident lifecycle: open -> contained -> resolved -> closed, and reopened back to open.

Every transition checks the principal's role, records who/when/why in the audit log and the timeline,
and queues the Slack/Jira update through the outbox. `contained` is set by the engine
(irflow.response.finish) when the playbook's containment steps are done, not by hand.
"""

from __future__ import annotations

from irflow import audit, incidents, outbox, rbac, sla
from irflow.models import IncidentStatus, utcnow
from irflow.settings import IrflowSettings
from irflow.store.engine import Database

ALLOWED: dict[str, set[str]] = {
    "resolve": {IncidentStatus.open.value, IncidentStatus.contained.value},
    "close": {IncidentStatus.resolved.value},
    "reopen": {IncidentStatus.contained.value, IncidentStatus.resolved.value, IncidentStatus.closed.value},
}
TARGET = {"resolve": IncidentStatus.resolved, "close": IncidentStatus.closed, "reopen": IncidentStatus.open}


class TransitionError(ValueError):
    """The incident is not in a state the transition starts from; the message says which it is in."""


def transition(db: Database, settings: IrflowSettings, incident_id: str, principal: str, verb: str,
               note: str = "") -> str:
    """Apply `verb` (resolve, close, reopen); returns the new status."""
    rbac.require(db, settings, principal, "resolve", incident_id)
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        if incident.status not in ALLOWED[verb]:
            raise TransitionError(f"incident {incident_id} is {incident.status}; cannot {verb} it")
        new = TARGET[verb]
        incident.status, incident.updated_at = new.value, utcnow()
        if new is IncidentStatus.resolved:
            incident.resolved_at = incident.updated_at
        if new is IncidentStatus.open:
            incident.resolved_at = None
        why = f": {note}" if note else ""
        incidents.add_timeline(s, incident_id, "status", f"{new.value.capitalize()} by {principal}{why}")
        sla.acknowledge(s, incident_id, principal)
        audit.append(s, actor=principal, kind=f"incident.{verb}", subject=incident_id, data={"note": note})
        outbox.enqueue(s, "incident.updated", incident_id)
        return new.value


def assign(db: Database, settings: IrflowSettings, incident_id: str, principal: str, assignee: str) -> None:
    rbac.require(db, settings, principal, "assign", incident_id)
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        incident.assignee, incident.updated_at = assignee, utcnow()
        incidents.add_timeline(s, incident_id, "assigned", f"Assigned to {assignee} by {principal}")
        sla.acknowledge(s, incident_id, principal)
        audit.append(s, actor=principal, kind="incident.assigned", subject=incident_id, data={"assignee": assignee})
        outbox.enqueue(s, "incident.updated", incident_id)


def acknowledge(db: Database, settings: IrflowSettings, incident_id: str, principal: str) -> None:
    """`irflow incidents ack`: a responder has seen it (stops the time-to-acknowledge clock)."""
    rbac.require(db, settings, principal, "assign", incident_id)
    with db.tx() as s:
        sla.acknowledge(s, incident_id, principal)
        audit.append(s, actor=principal, kind="incident.acknowledged", subject=incident_id)
        outbox.enqueue(s, "incident.updated", incident_id)


def merge(db: Database, settings: IrflowSettings, into: str, other: str, principal: str) -> int:
    """Merge incident `other` into `into`: its alerts move, it closes pointing at `into`. Returns alerts moved."""
    rbac.require(db, settings, principal, "resolve", into)
    if into == other:
        raise TransitionError("cannot merge an incident into itself")
    with db.tx() as s:
        target, source = incidents.get(s, into), incidents.get(s, other)
        if source.merged_into is not None:
            raise TransitionError(f"incident {other} was already merged into {source.merged_into}")
        moved = incidents.move_alerts(s, source, target)
        source.status, source.merged_into, source.updated_at = IncidentStatus.closed.value, into, utcnow()
        incidents.add_timeline(s, into, "merged", f"Incident {other} merged in by {principal} ({moved} alert(s))")
        incidents.add_timeline(s, other, "merged", f"Merged into {into} by {principal}")
        audit.append(s, actor=principal, kind="incident.merged", subject=other, data={"into": into, "alerts": moved})
        outbox.enqueue(s, "incident.updated", into)
        outbox.enqueue(s, "incident.updated", other)
        return moved


def move_alert(db: Database, settings: IrflowSettings, alert_id: str, to: str, principal: str) -> str:
    """Re-assign one alert to another incident; returns the incident it came from."""
    rbac.require(db, settings, principal, "resolve", to)
    with db.tx() as s:
        return incidents.move_alert(s, alert_id, incidents.get(s, to), principal)
