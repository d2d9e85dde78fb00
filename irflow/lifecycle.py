"""Incident lifecycle: open -> contained -> resolved -> closed, and reopened back to open.

Every transition checks the principal's role, records who/when/why in the audit log and the timeline,
and queues the Slack/Jira update through the outbox. `contained` is set by the engine
(irflow.response.finish) when the playbook's containment steps are done, not by hand.
"""

from __future__ import annotations

from irflow import audit, incidents, outbox, rbac
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
        audit.append(s, actor=principal, kind=f"incident.{verb}", subject=incident_id, data={"note": note})
        outbox.enqueue(s, "incident.updated", incident_id)
        return new.value


def assign(db: Database, settings: IrflowSettings, incident_id: str, principal: str, assignee: str) -> None:
    rbac.require(db, settings, principal, "assign", incident_id)
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        incident.assignee, incident.updated_at = assignee, utcnow()
        incidents.add_timeline(s, incident_id, "assigned", f"Assigned to {assignee} by {principal}")
        audit.append(s, actor=principal, kind="incident.assigned", subject=incident_id, data={"assignee": assignee})
        outbox.enqueue(s, "incident.updated", incident_id)
