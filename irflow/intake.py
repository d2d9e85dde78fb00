"""Intake: items in, alerts stored and grouped into incidents, one result per item.

Used by both `irflow ingest` and `POST /v1/alerts`, so they accept and refuse the same things. All
accepted items of one submission commit in one transaction, before anything is acknowledged; refused
items are kept in the dead-letter table with the reason.

Group commit: `prepare` normalizes a submission (no database), `commit` stores one or more prepared
submissions in a single transaction (one fsync for all of them). The HTTP intake's writer thread uses it
to commit concurrently arriving submissions together; `commit_each` falls back to one transaction per
submission when a group fails, so one bad submission never costs the others. Deduplication within a
group behaves as if the submissions had been committed one after another, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from irflow import audit, events, incidents, outbox, suppression, usage
from irflow.bodies import Item
from irflow.models import Alert, utcnow
from irflow.normalize import NormalizationError, normalize_item
from irflow.normalize.errors import Ignored
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, IncidentRow, RejectedRow, SuppressionRow

_ALERTS, _INCIDENTS = cast(Table, AlertRow.__table__), cast(Table, IncidentRow.__table__)
_RULES, _REJECTED = cast(Table, SuppressionRow.__table__), cast(Table, RejectedRow.__table__)

# The per-transaction statements, built once (Core: no ORM objects on intake's hot path).
_KNOWN = select(_ALERTS.c.dedup_key, _ALERTS.c.id, _ALERTS.c.incident_id, _ALERTS.c.received_at).where(
    _ALERTS.c.dedup_key.in_(bindparam("keys", expanding=True)))
_ANY_RULE = select(_RULES.c.id).where(_RULES.c.expires_at > bindparam("now", type_=_RULES.c.expires_at.type)).limit(1)
_OPEN_COLUMNS = ("id", "group_key", "alert_count", "last_alert_at", "severity", "categories", "owasp", "atlas", "actor")
_OPEN = (select(*(_INCIDENTS.c[name] for name in _OPEN_COLUMNS))
         .where(_INCIDENTS.c.group_key.in_(bindparam("keys", expanding=True)),
                _INCIDENTS.c.status.in_(incidents.ACTIVE),
                _INCIDENTS.c.last_alert_at >= bindparam("since", type_=_INCIDENTS.c.last_alert_at.type))
         .order_by(_INCIDENTS.c.created_at.desc()))
"""What `incidents.find_open` answers, for many groups at once: per group, the first row is its incident."""
_GROWN = ("last_alert_at", "updated_at", "severity", "categories", "owasp", "atlas", "actor")
_GROW = (update(_INCIDENTS).where(_INCIDENTS.c.id == bindparam("b_id"))
         .values(alert_count=_INCIDENTS.c.alert_count + bindparam("b_added", type_=Integer),
                 **{name: bindparam(f"b_{name}", type_=_INCIDENTS.c[name].type) for name in _GROWN}))
"""What `incidents.attach_many` changed; the count as an increment, so no concurrent increment is lost."""
_ROW_FIELDS = frozenset(_ALERTS.c.keys())

DEAD_LETTER_MAX = 64 * 1024


@lru_cache(maxsize=8192)
def _actor_view(user: str | None, api_key: str | None, team: str | None, session: str | None,
                ip: str | None) -> dict[str, str | None]:
    """The redacted actor of a result; a storm repeats a handful of actors, so redaction runs once each."""
    from irflow.incidents import actor_view

    return actor_view({"user": user, "api_key": api_key, "team": team, "session": session, "ip": ip})


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
        a, actor = self.alert, self.alert.actor
        return {
            "index": self.index, "alert_id": a.id, "source": a.source, "category": a.category.value,
            "owasp": a.owasp, "atlas": list(a.atlas), "severity": a.severity.value,
            "actor": dict(_actor_view(actor.user, actor.api_key, actor.team, actor.session, actor.ip)),
            "incident_id": self.incident_id, "new_incident": self.new_incident, "duplicate": self.duplicate,
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


@dataclass
class Prepared:
    """A normalized submission, not yet stored: per item an alert, an error or an ignore reason.
    `report` is rebuilt by each commit attempt, so a retried group starts from a clean slate."""

    items: list[Item]
    source: str | None
    via: str
    outcomes: list[Alert | NormalizationError | Ignored | str]
    report: IngestReport = field(default_factory=IngestReport)

    def fresh_report(self) -> list[tuple[ItemResult, Alert]]:
        """Reset the report; the alerts to store, each with its result."""
        self.report = IngestReport()
        todo: list[tuple[ItemResult, Alert]] = []
        for index, outcome in enumerate(self.outcomes):
            result = ItemResult(index=index)
            self.report.results.append(result)
            if isinstance(outcome, Alert):
                todo.append((result, outcome))
            elif isinstance(outcome, Ignored):
                result.ignored_reason = outcome.reason
            else:
                result.error = str(outcome)
        return todo


def prepare(items: list[Item], source: str | None = None, via: str = "cli") -> Prepared:
    """Normalize every item (CPU only, no database)."""
    outcomes: list[Alert | NormalizationError | Ignored | str] = []
    for index, item in enumerate(items):
        if item.error is not None:
            outcomes.append(item.error)
            continue
        try:
            outcomes.append(normalize_item(item.value, f"$[{index}]", source))
        except (NormalizationError, Ignored) as exc:
            outcomes.append(exc)
    return Prepared(items, source, via, outcomes)


class _OpenIncident:
    """An existing incident as intake sees it: the columns `incidents.attach_many` reads and sets, read in
    the writing transaction, written back with one UPDATE (`_GROW`)."""

    __slots__ = ("actor", "alert_count", "atlas", "categories", "counted", "id", "last_alert_at", "owasp",
                 "severity", "updated_at")

    def __init__(self, row: Any) -> None:
        self.id, self.alert_count, self.last_alert_at = row.id, row.alert_count, row.last_alert_at
        self.severity, self.categories, self.owasp, self.atlas, self.actor = (
            row.severity, row.categories, row.owasp, row.atlas, row.actor)
        self.updated_at = None
        self.counted = row.alert_count

    def changes(self) -> dict[str, Any]:
        return {"b_id": self.id, "b_added": self.alert_count - self.counted,
                **{f"b_{name}": getattr(self, name) for name in _GROWN}}


class _Batch:
    """Per-transaction caches, so a 10,000-alert storm (or a group of 50 single submissions) costs a few
    queries, not 20,000: which dedup keys exist already, whether any suppression rule is active, and each
    group's open incident. Existing incidents are read and written with Core statements; an incident
    opened here is an ORM row (`incidents.open_incident`)."""

    def __init__(self, session: Session, settings: IrflowSettings, alerts: list[Alert]) -> None:
        self.session, self.settings = session, settings
        self.conn = session.connection()
        self.seen = self._known_deliveries(alerts)
        self.rules = suppression.active(session) if self.conn.execute(_ANY_RULE, {"now": utcnow()}).first() else []
        self.since = incidents.window_start(self.settings.correlation_window_minutes)
        self.open: dict[str, _OpenIncident | IncidentRow | None] = self._open_incidents(
            {a.group_key for a in alerts if a.dedup_key not in self.seen})
        self.rows: list[dict[str, Any]] = []
        self.attached: dict[str, tuple[_OpenIncident | IncidentRow, list[Alert]]] = {}

    def _known_deliveries(self, alerts: list[Alert]) -> dict[str, tuple[str, str | None]]:
        """dedup_key -> (alert id, incident id) of deliveries already stored (fingerprints: within the window)."""
        window_start = utcnow() - timedelta(minutes=self.settings.dedup_window_minutes)
        keys = sorted({a.dedup_key for a in alerts})
        known: dict[str, tuple[str, str | None]] = {}
        for chunk in (keys[i:i + 500] for i in range(0, len(keys), 500)):
            for key, alert_id, incident_id, received in self.conn.execute(_KNOWN, {"keys": chunk}):
                if key.startswith("id:") or received >= window_start:
                    known.setdefault(key, (alert_id, incident_id))
        return known

    def _open_incidents(self, group_keys: set[str]) -> dict[str, _OpenIncident | IncidentRow | None]:
        """Each group's open incident (the newest active one inside the window), 500 groups per query."""
        keys = sorted(group_keys)
        found: dict[str, _OpenIncident | IncidentRow | None] = dict.fromkeys(keys)
        for chunk in (keys[i:i + 500] for i in range(0, len(keys), 500)):
            for row in self.conn.execute(_OPEN, {"keys": chunk, "since": self.since}):
                if found[row.group_key] is None:
                    found[row.group_key] = _OpenIncident(row)
        return found

    def incident_for(self, alert: Alert) -> _OpenIncident | IncidentRow | None:
        if alert.group_key not in self.open:
            self.open.update(self._open_incidents({alert.group_key}))
        return self.open[alert.group_key]

    def _row(self, alert: Alert, incident_id: str | None, suppressed_by: int | None) -> dict[str, Any]:
        a, actor = alert, alert.actor
        return {
            "id": a.id, "time": a.time, "received_at": a.received_at, "source": a.source, "vendor_id": a.vendor_id,
            "title": a.title, "category": a.category.value, "severity": a.severity.value, "confidence": a.confidence,
            "owasp": a.owasp, "atlas": a.atlas, "direction": a.direction.value,
            "actor": {"user": actor.user, "api_key": actor.api_key, "team": actor.team, "session": actor.session,
                      "ip": actor.ip},
            "app": a.app, "model": a.model, "evidence": a.evidence, "detector": a.detector,
            "raw": a.raw if self.settings.store_raw else None, "fingerprint": a.fingerprint,
            "dedup_key": a.dedup_key, "group_key": a.group_key, "incident_id": incident_id,
            "suppressed_by": suppressed_by,
        }

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
        pending = self.attached.get(incident.id)
        if pending is None:
            pending = self.attached[incident.id] = (incident, [])
        pending[1].append(alert)
        self.rows.append(self._row(alert, incident.id, None))
        self.seen[alert.dedup_key] = (alert.id, incident.id)
        result.alert, result.incident_id = alert, incident.id

    def _suppress(self, alert: Alert, rule: SuppressionRow, result: ItemResult) -> None:
        """Stored for the record, grouped into nothing, counted on the rule."""
        self.rows.append(self._row(alert, None, rule.id))
        rule.hits += 1
        self.seen[alert.dedup_key] = (alert.id, None)
        result.alert, result.suppressed_by = alert, rule.id

    def flush(self) -> None:
        """Each incident counts its alerts (once per incident, not once per alert); existing incidents are
        updated in one executemany, then every alert is inserted in one executemany (incidents opened
        here were flushed when opened, so the alerts' foreign keys hold; their counts go out at commit)."""
        grown = []
        for incident, alerts in self.attached.values():
            incidents.attach_many(self.session, incident, alerts)  # type: ignore[arg-type]
            if isinstance(incident, _OpenIncident):
                grown.append(incident.changes())
        self.attached.clear()
        if grown:
            self.conn.execute(_GROW, grown)
        if self.rows:
            self.conn.execute(insert(_ALERTS), self.rows)
            self.rows = []


assert _ROW_FIELDS == set(Alert.model_fields) | {"incident_id", "suppressed_by"}, "alerts table and Alert differ"


def _dump(body: Any) -> str:
    import json

    return json.dumps(body, default=str, ensure_ascii=False)


def commit(db: Database, settings: IrflowSettings, group: list[Prepared]) -> None:
    """Store every prepared submission of `group` (and their dead letters) in one transaction: all of
    them or, on any error, none. Each one's `report` says what happened to its items. The audit log gets
    one `alerts.ingested` event per transaction and submitter (via, source), with the totals."""
    todos = [p.fresh_report() for p in group]
    with db.tx() as session:
        batch = _Batch(session, settings, [alert for todo in todos for _, alert in todo])
        for p, todo in zip(group, todos, strict=True):
            for result, alert in todo:
                batch.store(alert, result, p.report)
        batch.flush()
        accepted: list[str] = []
        rejected: list[dict[str, Any]] = []
        totals: dict[tuple[str, str | None], dict[str, Any]] = {}
        for p in group:
            report = p.report
            for result, item in zip(report.results, p.items, strict=True):
                if result.error is not None:
                    body = item.value if item.error is None else ""
                    text = body if isinstance(body, str) else _dump(body)
                    rejected.append({"at": utcnow(), "source": p.source, "error": result.error,
                                     "body": text[:DEAD_LETTER_MAX]})
                elif result.alert is not None and not result.duplicate:
                    accepted.append(result.alert.id)
            if report.accepted:
                total = totals.setdefault((p.via, p.source), {"accepted": 0, "rejected": 0, "new_incidents": []})
                total["accepted"] += report.accepted
                total["rejected"] += report.rejected
                total["new_incidents"] += report.new_incidents
        if rejected:
            batch.conn.execute(insert(_REJECTED), rejected)
        usage.record(session, settings,
                     [o.usage for p in group for o in p.outcomes if isinstance(o, Ignored) and o.usage])
        for start in range(0, len(accepted), events.CHUNK):
            outbox.enqueue(session, "alerts.received", None, {"alert_ids": accepted[start:start + events.CHUNK]},
                           target=outbox.Target.PREFECT)  # one system: no fan-out step (two writes) needed
        for (via, source), data in totals.items():
            audit.append(session, actor=via, kind="alerts.ingested", subject=source or "auto", data=data)


def commit_each(db: Database, settings: IrflowSettings, group: list[Prepared]) -> list[BaseException | None]:
    """Group commit with isolation: one transaction for the whole group; if it fails, one transaction per
    submission, so only the submission at fault fails. Per submission: None, or the error it failed with."""
    try:
        commit(db, settings, group)
        return [None] * len(group)
    except Exception as exc:  # noqa: BLE001 - whatever failed the group, each submission gets its own try
        if len(group) == 1:
            return [exc]
    outcomes: list[BaseException | None] = []
    for p in group:
        try:
            commit(db, settings, [p])
            outcomes.append(None)
        except Exception as exc:  # noqa: BLE001 - reported to that submission's request (a 500)
            outcomes.append(exc)
    return outcomes


def ingest(db: Database, settings: IrflowSettings, items: list[Item], source: str | None = None,
           via: str = "cli") -> IngestReport:
    """Normalize every item, then store all accepted ones (and the dead letters) in one transaction."""
    prepared = prepare(items, source, via)
    commit(db, settings, [prepared])
    return prepared.report
