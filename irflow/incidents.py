"""Incident state: opening, attaching alerts, the timeline, and the public JSON view.

The JSON shape built by `incident_view` is a public contract (CLI `--json`, `GET /v1/incidents/{id}`);
keep it stable. Alert-derived strings in it go through redaction, since CLI output is an egress path.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from irflow import audit, outbox
from irflow.models import Actor, Alert, IncidentStatus, Severity, new_id, utcnow
from irflow.redaction import redact
from irflow.store.tables import ActionRow, AlertRow, IncidentRow, TimelineRow

ACTIVE = (IncidentStatus.open.value, IncidentStatus.contained.value)


class IncidentNotFound(LookupError):
    pass


def add_timeline(session: Session, incident_id: str, kind: str, text: str, at: datetime | None = None) -> None:
    session.add(TimelineRow(incident_id=incident_id, at=at or utcnow(), kind=kind, text=text))


def find_open(session: Session, group_key: str, since: datetime) -> IncidentRow | None:
    query = (
        select(IncidentRow)
        .where(IncidentRow.group_key == group_key, IncidentRow.status.in_(ACTIVE), IncidentRow.last_alert_at >= since)
        .order_by(IncidentRow.created_at.desc())
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def _title(alert: Alert) -> str:
    who = alert.actor.user or alert.actor.session or alert.actor.ip or alert.actor.api_key or "unknown actor"
    what = alert.category.value.replace("_", " ").capitalize()
    return f"{what} by {who}" + (f" on {alert.app}" if alert.app else "")


def open_incident(session: Session, alert: Alert) -> IncidentRow:
    now = utcnow()
    row = IncidentRow(
        id=new_id("inc"), title=_title(alert), status=IncidentStatus.open.value, severity=alert.severity.value,
        category=alert.category.value, categories=[alert.category.value], owasp=[alert.owasp] if alert.owasp else [],
        atlas=list(alert.atlas), actor=alert.actor.model_dump(), group_key=alert.group_key, alert_count=0,
        playbook=None, jira_key=None, slack_channel=None, slack_thread=None, slack_summary_ts=None, created_at=now, updated_at=now,
        last_alert_at=now, contained_at=None, resolved_at=None,
    )
    session.add(row)
    session.flush()
    add_timeline(session, row.id, "opened", f"Incident opened by alert {alert.id} from {alert.source}, classified "
                 f"{alert.category.value} by mapping row {alert.detector or 'native'}; grouped by {alert.group_key}")
    audit.append(session, actor="irflow", kind="incident.opened", subject=row.id, data={"alert": alert.id})
    outbox.enqueue(session, "incident.opened", row.id)
    return row


VOLUME_STEPS = (10, 100)
"""Alert counts at which an incident's severity rises one level: repeats are an attack in progress."""
SPREAD_STEP = 3
"""Distinct categories from one actor at which severity rises one level: the attacker is trying more."""


def escalate(session: Session, incident: IncidentRow, count_before: int, categories_before: int) -> None:
    """Raise severity one level per volume or spread threshold crossed since the counts given."""
    crossed = sum(count_before < step <= incident.alert_count for step in VOLUME_STEPS)
    crossed += categories_before < SPREAD_STEP <= len(incident.categories)
    if not crossed:
        return
    order = list(Severity)
    current = Severity(incident.severity)
    raised = order[min(order.index(current) + crossed, len(order) - 1)]
    if raised is not current:
        incident.severity = raised.value
        add_timeline(session, incident.id, "escalation", f"Severity raised to {raised.value}: "
                     f"{incident.alert_count} alerts across {len(incident.categories)} categories")
        outbox.enqueue(session, "incident.updated", incident.id)


def attach(session: Session, incident: IncidentRow, alert: Alert) -> None:
    """Count the alert in the incident; merge what it adds (categories, ATLAS ids, actor details)."""
    count_before, categories_before = incident.alert_count, len(incident.categories)
    _attach(incident, alert)
    escalate(session, incident, count_before, categories_before)


def _attach(incident: IncidentRow, alert: Alert) -> None:
    incident.alert_count += 1
    incident.last_alert_at = max(incident.last_alert_at, alert.received_at)
    incident.updated_at = utcnow()
    incident.severity = Severity.highest(Severity(incident.severity), alert.severity).value
    incident.categories = _union(incident.categories, [alert.category.value])
    incident.owasp = _union(incident.owasp, [alert.owasp] if alert.owasp else [])
    incident.atlas = _union(incident.atlas, alert.atlas)
    merged = {k: v for k, v in alert.actor.model_dump().items() if v} | {k: v for k, v in incident.actor.items() if v}
    incident.actor = Actor(**merged).model_dump()


def attach_many(session: Session, incident: IncidentRow, alerts: list[Alert]) -> None:
    """`attach` for each of `alerts` in order, with the same end state, in one pass: a storm's batch
    writes each incident once instead of once per alert."""
    if not alerts:
        return
    count_before, categories_before = incident.alert_count, len(incident.categories)
    severity = Severity(incident.severity)
    categories, owasp, atlas = list(incident.categories), list(incident.owasp), list(incident.atlas)
    actor = {k: v for k, v in incident.actor.items() if v}
    last = incident.last_alert_at
    seen_atlas: set[tuple[str, ...]] = set()
    seen_actor: set[tuple[str | None, ...]] = set()
    for alert in alerts:
        last = max(last, alert.received_at)
        if alert.severity.rank > severity.rank:
            severity = alert.severity
        if alert.category.value not in categories:
            categories.append(alert.category.value)
        if alert.owasp and alert.owasp not in owasp:
            owasp.append(alert.owasp)
        if alert.atlas and (key := tuple(alert.atlas)) not in seen_atlas:
            seen_atlas.add(key)
            atlas = _union(atlas, alert.atlas)
        a = alert.actor
        if (who := (a.user, a.api_key, a.team, a.session, a.ip)) not in seen_actor:
            seen_actor.add(who)
            actor = {k: v for k, v in a.model_dump().items() if v} | actor
    incident.alert_count += len(alerts)
    incident.last_alert_at = max(incident.last_alert_at, last)
    incident.updated_at = utcnow()
    incident.severity = severity.value
    incident.categories = categories
    incident.owasp = owasp
    incident.atlas = atlas
    incident.actor = Actor(**actor).model_dump()
    escalate(session, incident, count_before, categories_before)


def _absorb(target: IncidentRow, rows: list[AlertRow]) -> None:
    for row in rows:
        target.categories = _union(target.categories, [row.category])
        target.owasp = _union(target.owasp, [row.owasp] if row.owasp else [])
        target.atlas = _union(target.atlas, row.atlas)
        target.severity = Severity.highest(Severity(target.severity), Severity(row.severity)).value
    target.alert_count += len(rows)
    target.updated_at = utcnow()


def move_alerts(session: Session, source: IncidentRow, target: IncidentRow) -> int:
    rows = alerts_of(session, source.id)
    for row in rows:
        row.incident_id = target.id
    _absorb(target, rows)
    source.alert_count = 0
    return len(rows)


def move_alert(session: Session, alert_id: str, target: IncidentRow, principal: str) -> str:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise IncidentNotFound(f"no alert with id {alert_id!r}")
    origin = row.incident_id
    if origin == target.id:
        return origin
    if origin is not None:
        get(session, origin).alert_count -= 1
        add_timeline(session, origin, "alert_moved", f"Alert {alert_id} moved to {target.id} by {principal}")
    row.incident_id, row.suppressed_by = target.id, None
    _absorb(target, [row])
    add_timeline(session, target.id, "alert_moved", f"Alert {alert_id} moved here from {origin} by {principal}")
    audit.append(session, actor=principal, kind="alert.moved", subject=alert_id, data={"from": origin, "to": target.id})
    return origin or ""


def _union(current: list[Any], new: list[Any]) -> list[Any]:
    return current + [x for x in new if x not in current]


def get(session: Session, incident_id: str) -> IncidentRow:
    row = session.get(IncidentRow, incident_id)
    if row is None:
        raise IncidentNotFound(f"no incident with id {incident_id!r}")
    return row


def actions_of(session: Session, incident_id: str) -> list[ActionRow]:
    query = select(ActionRow).where(ActionRow.incident_id == incident_id).order_by(
        ActionRow.position, ActionRow.created_at, ActionRow.id)
    return list(session.execute(query).scalars())


def timeline_of(session: Session, incident_id: str) -> list[TimelineRow]:
    query = select(TimelineRow).where(TimelineRow.incident_id == incident_id).order_by(TimelineRow.id)
    return list(session.execute(query).scalars())


def _safe(value: str | None) -> str | None:
    """Identifiers and irflow's own sentences: secrets redacted and markup defanged, but PII kept, since
    a responder needs to know which user was blocked. Free alert text (evidence) is redacted fully."""
    return None if value is None else str(redact(value, max_len=500, pii=False))


def _safe_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _safe_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe_tree(v) for v in value]
    return _safe(value) if isinstance(value, str) else value


def actor_view(actor: dict[str, Any]) -> dict[str, str | None]:
    return {k: _safe(actor.get(k)) for k in ("user", "api_key", "team", "session", "ip")}


def action_view(row: ActionRow) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "target": _safe(row.target), "status": row.status,
        "approved_by": row.approved_by, "system": row.system, "step": row.step_id, "reason": _safe(row.reason),
    }


def incident_view(session: Session, row: IncidentRow, *, detail: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id, "title": _safe(row.title), "status": row.status, "severity": row.severity,
        "category": row.category, "categories": row.categories, "owasp": row.owasp, "atlas": row.atlas,
        "actor": actor_view(row.actor), "alert_count": row.alert_count, "jira_key": row.jira_key,
        "slack_channel": row.slack_channel, "slack_thread": row.slack_thread, "playbook": row.playbook,
        "enrichment": _safe_tree(row.enrichment), "assignee": _safe(row.assignee),
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
    if detail:
        view["actions"] = [action_view(a) for a in actions_of(session, row.id)]
        view["timeline"] = [
            {"at": t.at.isoformat(), "kind": t.kind, "text": _safe(t.text)} for t in timeline_of(session, row.id)
        ]
    return view


def list_incidents(session: Session, limit: int = 200) -> list[IncidentRow]:
    return list(session.execute(select(IncidentRow).order_by(IncidentRow.created_at.desc()).limit(limit)).scalars())


def alerts_of(session: Session, incident_id: str) -> list[AlertRow]:
    return list(session.execute(select(AlertRow).where(AlertRow.incident_id == incident_id)).scalars())


def window_start(minutes: int) -> datetime:
    return utcnow() - timedelta(minutes=minutes)
