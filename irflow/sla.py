"""SLA timers: time to acknowledge and time to contain, per severity. A breach fires once, escalates (a
ping in the incident's channel and a Jira note through the outbox) and is recorded.

Timers are due-at values computed from rows in the database (created_at + target, breach stamps), so they
survive restarts and take an injectable clock: no test sleeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from irflow import audit, incidents, outbox
from irflow.models import IncidentStatus, utcnow
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import IncidentRow

ACTIVE = (IncidentStatus.open.value, IncidentStatus.contained.value)


def acknowledge(session: Session, incident_id: str, principal: str) -> None:
    """The first human action on an incident acknowledges it (stops the time-to-acknowledge clock)."""
    incident = incidents.get(session, incident_id)
    if incident.acknowledged_at is None and not principal.startswith("irflow"):
        incident.acknowledged_at = utcnow()
        incidents.add_timeline(session, incident_id, "acknowledged", f"Acknowledged by {principal}")


def _breach(s: Session, incident: IncidentRow, kind: str, target: int, now: datetime) -> None:
    what = {"tta": "acknowledge", "ttc": "contain"}[kind]
    setattr(incident, f"{kind}_breached_at", now)
    text = f"SLA breached: not {what}d within {target} min ({incident.severity}); escalated to the on-call"
    incidents.add_timeline(s, incident.id, "sla", text)
    audit.append(s, actor="irflow", kind=f"sla.{kind}_breached", subject=incident.id, data={"target_minutes": target})
    outbox.enqueue(s, "sla.breached", incident.id, {"kind": kind, "target_minutes": target})


def check(db: Database, settings: IrflowSettings, now: datetime | None = None) -> list[tuple[str, str]]:
    """Fire every breach that is due and not fired yet; returns (incident id, tta|ttc) pairs."""
    now = now or utcnow()
    fired: list[tuple[str, str]] = []
    with db.tx() as s:
        for incident in s.execute(select(IncidentRow).where(IncidentRow.status.in_(ACTIVE))).scalars():
            tta = settings.sla_tta_minutes.get(incident.severity)
            if (tta is not None and incident.acknowledged_at is None and incident.tta_breached_at is None
                    and incident.created_at + timedelta(minutes=tta) <= now):
                _breach(s, incident, "tta", tta, now)
                fired.append((incident.id, "tta"))
            ttc = settings.sla_ttc_minutes.get(incident.severity)
            if (ttc is not None and incident.contained_at is None and incident.ttc_breached_at is None
                    and incident.status == IncidentStatus.open.value
                    and incident.created_at + timedelta(minutes=ttc) <= now):
                _breach(s, incident, "ttc", ttc, now)
                fired.append((incident.id, "ttc"))
    return fired
