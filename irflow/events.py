"""Prefect events: every accepted alert emits `irflow.alert.received` (resource id `irflow.alert.<id>`), so
users can hang their own Prefect automations on alerts. Emitted from the outbox, so intake speed never
waits on Prefect; the event carries ids and enums only, never alert text."""

from __future__ import annotations

from sqlalchemy import select

from irflow.store.engine import Database
from irflow.store.tables import AlertRow, OutboxRow

EVENT = "irflow.alert.received"
CHUNK = 500


def emit_received(db: Database, systems: object, item: OutboxRow) -> None:
    from prefect.events import emit_event

    with db.tx() as s:
        rows = s.execute(select(AlertRow.id, AlertRow.source, AlertRow.category, AlertRow.severity,
                                AlertRow.incident_id).where(AlertRow.id.in_(item.payload["alert_ids"]))).all()
    for alert_id, source, category, severity, incident_id in rows:
        related = [{"prefect.resource.id": f"irflow.incident.{incident_id}", "prefect.resource.role": "incident"}] \
            if incident_id else []
        emit_event(event=EVENT, resource={"prefect.resource.id": f"irflow.alert.{alert_id}",
                                          "irflow.source": source, "irflow.category": category,
                                          "irflow.severity": severity}, related=related)


def drain(timeout: float = 5.0) -> None:
    """Flush queued events while the Prefect server is still up (else the process waits at exit)."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=timeout)
