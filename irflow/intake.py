"""Intake: items in, alerts stored and grouped into incidents, one result per item.

Used by both `irflow ingest` and `POST /v1/alerts`, so they accept and refuse the same things. All
accepted items of one submission commit in one transaction, before anything is acknowledged; refused
items are kept in the dead-letter table with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from irflow import audit, events, incidents, outbox, suppression
from irflow.bodies import Item
from irflow.models import Alert, utcnow
from irflow.normalize import NormalizationError, normalize_item
from irflow.normalize.errors import Ignored
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, IncidentRow, RejectedRow, SuppressionRow

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
    suppressed_by: int | None = None

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
        } | ({"suppressed_by": self.suppressed_by} if self.suppressed_by is not None else {})


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


class _Batch:
    """Per-submission caches, so a 10,000-alert storm costs a few queries, not 20,000: which dedup keys
    exist already, and each group's open incident."""

    def __init__(self, session: Session, settings: IrflowSettings, alerts: list[Alert]) -> None:
        self.session, self.settings = session, settings
        self.seen = self._known_deliveries(alerts)
        self.rules = suppression.active(session)
        self.open: dict[str, IncidentRow | None] = {}
        self.rows: list[dict[str, Any]] = []

    def _known_deliveries(self, alerts: list[Alert]) -> dict[str, tuple[str, str | None]]:
        """dedup_key -> (alert id, incident id) of deliveries already stored (fingerprints: within the window)."""
        window_start = utcnow() - timedelta(minutes=self.settings.dedup_window_minutes)
        keys = sorted({a.dedup_key for a in alerts})
        known: dict[str, tuple[str, str | None]] = {}
        for chunk in (keys[i:i + 500] for i in range(0, len(keys), 500)):
            query = select(AlertRow.dedup_key, AlertRow.id, AlertRow.incident_id, AlertRow.received_at).where(
                AlertRow.dedup_key.in_(chunk))
            for key, alert_id, incident_id, received in self.session.execute(query):
                if key.startswith("id:") or received >= window_start:
                    known.setdefault(key, (alert_id, incident_id))
        return known

    def incident_for(self, alert: Alert) -> IncidentRow | None:
        if alert.group_key not in self.open:
            since = incidents.window_start(self.settings.correlation_window_minutes)
            self.open[alert.group_key] = incidents.find_open(self.session, alert.group_key, since)
        return self.open[alert.group_key]

    def store(self, alert: Alert, result: ItemResult, report: IngestReport) -> None:
        if alert.dedup_key in self.seen:
            alert_id, incident_id = self.seen[alert.dedup_key]
            result.alert, result.incident_id, result.duplicate = alert.model_copy(update={"id": alert_id}), incident_id, True
            return
        rule = suppression.matching(self.rules, alert) if self.rules else None
        if rule is not None:
            self._suppress(alert, rule, result)
            return
        incident = self.incident_for(alert)
        if incident is None:
            incident = self.open[alert.group_key] = incidents.open_incident(self.session, alert)
            report.new_incidents.append(incident.id)
            result.new_incident = True
        elif incident.id not in report.grown_incidents and incident.id not in report.new_incidents:
            report.grown_incidents.append(incident.id)
        incidents.attach(self.session, incident, alert)
        row = alert.model_dump(exclude={"actor"}) | {"actor": alert.actor.model_dump(), "incident_id": incident.id,
                                                      "suppressed_by": None}
        if not self.settings.store_raw:
            row["raw"] = None
        self.rows.append(row)
        self.seen[alert.dedup_key] = (alert.id, incident.id)
        result.alert, result.incident_id = alert, incident.id

    def _suppress(self, alert: Alert, rule: SuppressionRow, result: ItemResult) -> None:
        """Stored for the record, grouped into nothing, counted on the rule."""
        row = alert.model_dump(exclude={"actor"}) | {"actor": alert.actor.model_dump(), "incident_id": None,
                                                      "suppressed_by": rule.id}
        if not self.settings.store_raw:
            row["raw"] = None
        self.rows.append(row)
        rule.hits += 1
        self.seen[alert.dedup_key] = (alert.id, None)
        result.alert, result.suppressed_by = alert, rule.id

    def flush(self) -> None:
        """Incidents first (the alerts point at them), then every alert in one executemany."""
        self.session.flush()
        if self.rows:
            self.session.execute(insert(AlertRow), self.rows)


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
        batch = _Batch(session, settings, [alert for _, alert in normalized])
        for result, alert in normalized:
            batch.store(alert, result, report)
        batch.flush()
        for result, item in zip(report.results, items, strict=True):
            if result.error is not None:
                _reject(session, source, result.error, item.value if item.error is None else "")
        accepted = [r.alert.id for r in report.results if r.alert is not None and not r.duplicate]
        for start in range(0, len(accepted), events.CHUNK):
            outbox.enqueue(session, "alerts.received", None, {"alert_ids": accepted[start:start + events.CHUNK]})
        if report.accepted:
            audit.append(session, actor=via, kind="alerts.ingested", subject=source or "auto",
                         data={"accepted": report.accepted, "rejected": report.rejected,
                               "new_incidents": report.new_incidents})
    return report
