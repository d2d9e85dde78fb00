"""Intake: items in, alerts stored and grouped into incidents, one result per item.

Used by both `irflow ingest` and `POST /v1/alerts`, so they accept and refuse the same things. All
accepted items of one submission commit in one transaction, before anything is acknowledged; refused
items are kept in the dead-letter table with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from irflow import audit, incidents
from irflow.bodies import Item
from irflow.models import Alert, utcnow
from irflow.normalize import NormalizationError, normalize_item
from irflow.normalize.errors import Ignored
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, RejectedRow

DEAD_LETTER_MAX = 64 * 1024


@dataclass
class ItemResult:
    index: int
    alert: Alert | None = None
    incident_id: str | None = None
    new_incident: bool = False
    duplicate: bool = False
    error: str | None = None
    ignored_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The public per-item shape of `irflow ingest --json` and the HTTP intake."""
        if self.error is not None:
            return {"index": self.index, "error": self.error}
        if self.ignored_reason is not None:
            return {"index": self.index, "ignored": True, "reason": self.ignored_reason}
        assert self.alert is not None
        from irflow.incidents import actor_view

        a = self.alert
        return {
            "index": self.index, "alert_id": a.id, "source": a.source, "category": a.category.value,
            "owasp": a.owasp, "atlas": list(a.atlas), "severity": a.severity.value,
            "actor": actor_view(a.actor.model_dump()), "incident_id": self.incident_id,
            "new_incident": self.new_incident, "duplicate": self.duplicate,
        }


@dataclass
class IngestReport:
    results: list[ItemResult] = field(default_factory=list)
    new_incidents: list[str] = field(default_factory=list)
    grown_incidents: list[str] = field(default_factory=list)
    """Existing incidents that got new alerts: candidates for the next rung of their escalation ladder."""

    @property
    def rejected(self) -> int:
        return sum(r.error is not None for r in self.results)

    @property
    def accepted(self) -> int:
        return sum(r.alert is not None for r in self.results)


def _existing_duplicate(session: Session, alert: Alert, window: timedelta) -> AlertRow | None:
    query = select(AlertRow).where(AlertRow.dedup_key == alert.dedup_key)
    if not alert.vendor_id:  # id-less alerts are duplicates only within the window
        query = query.where(AlertRow.received_at >= utcnow() - window)
    return session.execute(query.limit(1)).scalar_one_or_none()


def _store(session: Session, settings: IrflowSettings, alert: Alert, result: ItemResult, report: IngestReport) -> None:
    dup = _existing_duplicate(session, alert, timedelta(minutes=settings.dedup_window_minutes))
    if dup is not None:
        result.alert, result.incident_id, result.duplicate = alert.model_copy(update={"id": dup.id}), dup.incident_id, True
        return
    since = incidents.window_start(settings.correlation_window_minutes)
    incident = incidents.find_open(session, alert.group_key, since)
    if incident is None:
        incident = incidents.open_incident(session, alert)
        report.new_incidents.append(incident.id)
        result.new_incident = True
    elif incident.id not in report.grown_incidents:
        report.grown_incidents.append(incident.id)
    incidents.attach(session, incident, alert)
    row = alert.model_dump(exclude={"actor"}) | {"actor": alert.actor.model_dump(), "incident_id": incident.id}
    if not settings.store_raw:
        row["raw"] = None
    session.add(AlertRow(**row))
    session.flush()
    result.alert, result.incident_id = alert, incident.id


def _reject(session: Session, source: str | None, error: str, body: Any) -> None:
    text = body if isinstance(body, str) else _dump(body)
    session.add(RejectedRow(at=utcnow(), source=source, error=error, body=text[:DEAD_LETTER_MAX]))


def _dump(body: Any) -> str:
    import json

    return json.dumps(body, default=str, ensure_ascii=False)


def ingest(db: Database, settings: IrflowSettings, items: list[Item], source: str | None = None,
           via: str = "cli") -> IngestReport:
    """Normalize every item, then store all accepted ones (and the dead letters) in one transaction."""
    report = IngestReport()
    normalized: list[tuple[ItemResult, Alert]] = []
    for index, item in enumerate(items):
        result = ItemResult(index=index)
        report.results.append(result)
        if item.error is not None:
            result.error = item.error
            continue
        try:
            normalized.append((result, normalize_item(item.value, f"$[{index}]", source)))
        except NormalizationError as exc:
            result.error = str(exc)
        except Ignored as exc:
            result.ignored_reason = exc.reason
    with db.tx() as session:
        for result, alert in normalized:
            _store(session, settings, alert, result, report)
        for result, item in zip(report.results, items, strict=True):
            if result.error is not None:
                _reject(session, source, result.error, item.value if item.error is None else "")
        if report.accepted:
            audit.append(session, actor=via, kind="alerts.ingested", subject=source or "auto",
                         data={"accepted": report.accepted, "rejected": report.rejected,
                               "new_incidents": report.new_incidents})
    return report
