"""EU AI Act Article 73: serious incidents and their reporting deadlines.

Report no later than 15 days after awareness; 2 days for a widespread infringement or a serious and
irreversible disruption of critical infrastructure; 10 days in the event of a death. irflow tracks the
deadline from when the provider became aware, reminds at half and 90% of the window and on the deadline,
and drafts the report for the provider to complete.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from irflow import audit, incidents, outbox, rbac
from irflow.models import Severity, utcnow
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import IncidentRow


class SeriousError(ValueError):
    """The incident is not in a state this EU AI Act step applies to."""


class SeriousKind(StrEnum):
    general = "general"
    widespread = "widespread"
    critical_infrastructure = "critical_infrastructure"
    death = "death"


DEADLINE_DAYS = {SeriousKind.general: 15, SeriousKind.widespread: 2, SeriousKind.critical_infrastructure: 2,
                 SeriousKind.death: 10}
REMINDERS = (("half", 0.5), ("ninety", 0.9), ("due", 1.0))


def deadline(kind: SeriousKind, aware_at: datetime) -> datetime:
    return aware_at + timedelta(days=DEADLINE_DAYS[kind])


def _flag(s: Any, incident: IncidentRow, kind: SeriousKind, aware_at: datetime, by: str, why: str) -> None:
    due = deadline(kind, aware_at)
    incident.serious = {"kind": kind.value, "aware_at": aware_at.isoformat(), "deadline": due.isoformat(),
                        "flagged_by": by, "reason": why, "reminders": [], "reported_at": None}
    incidents.add_timeline(s, incident.id, "serious", f"Flagged serious (EU AI Act Art. 73, {kind.value}) by {by}: "
                           f"report due {due:%Y-%m-%d %H:%M} UTC. {why}".strip())
    audit.append(s, actor=by, kind="incident.flagged_serious", subject=incident.id,
                 data={"kind": kind.value, "deadline": due.isoformat()})
    outbox.enqueue(s, "incident.updated", incident.id)


def flag(db: Database, settings: IrflowSettings, incident_id: str, principal: str, kind: SeriousKind,
         aware_at: datetime | None = None, reason: str = "") -> datetime:
    rbac.require(db, settings, principal, "resolve", incident_id)
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        _flag(s, incident, kind, aware_at or utcnow(), principal, reason)
        return deadline(kind, aware_at or utcnow())


def mark_reported(db: Database, settings: IrflowSettings, incident_id: str, principal: str) -> None:
    rbac.require(db, settings, principal, "resolve", incident_id)
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        if not incident.serious:
            raise SeriousError(f"incident {incident_id} is not flagged serious")
        incident.serious = incident.serious | {"reported_at": utcnow().isoformat()}
        incidents.add_timeline(s, incident_id, "serious", f"Reported to the authority (recorded by {principal})")
        audit.append(s, actor=principal, kind="incident.reported", subject=incident_id)


def apply_rules(db: Database, settings: IrflowSettings, incident_ids: list[str]) -> list[str]:
    """Flag by rule: incidents of the configured categories at or above the configured severity."""
    if not settings.serious_categories:
        return []
    flagged = []
    minimum = Severity(settings.serious_min_severity)
    with db.tx() as s:
        for incident_id in incident_ids:
            incident = incidents.get(s, incident_id)
            if (incident.serious is None and incident.category in settings.serious_categories
                    and Severity(incident.severity).rank >= minimum.rank):
                _flag(s, incident, SeriousKind.general, incident.created_at, "irflow:rule",
                      f"Rule: category {incident.category} at severity {incident.severity}.")
                flagged.append(incident_id)
    return flagged


def remind(db: Database, now: datetime | None = None) -> list[tuple[str, str]]:
    """Send each due reminder once (half, 90% of the window, deadline); returns (incident, reminder)."""
    now = now or utcnow()
    sent: list[tuple[str, str]] = []
    with db.tx() as s:
        for incident in s.execute(select(IncidentRow).where(IncidentRow.serious.is_not(None))).scalars():
            sent += [(incident.id, name) for name in _due_reminders(s, incident, now)]
    return sent


def _due_reminders(s: Any, incident: IncidentRow, now: datetime) -> list[str]:
    serious = dict(incident.serious or {})
    if serious.get("reported_at"):
        return []
    aware, due = datetime.fromisoformat(serious["aware_at"]), datetime.fromisoformat(serious["deadline"])
    fired = []
    for name, fraction in REMINDERS:
        if name not in serious["reminders"] and now >= aware + (due - aware) * fraction:
            serious["reminders"] = [*serious["reminders"], name]
            fired.append(name)
            left = due - now
            text = (f"EU AI Act report deadline {'passed' if left.total_seconds() <= 0 else 'in ' + _human(left)} "
                    f"({due:%Y-%m-%d %H:%M} UTC, {serious['kind']})")
            incidents.add_timeline(s, incident.id, "serious", text)
            outbox.enqueue(s, "serious.reminder", incident.id, {"reminder": name, "text": text})
    incident.serious = serious
    return fired


def _human(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h" if hours >= 24 else f"{hours}h {int(delta.total_seconds() % 3600 // 60)}m"


def report(db: Database, incident_id: str) -> dict[str, Any]:
    """The draft: facts irflow knows, the timeline and actions, affected systems, and what the provider must add."""
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        view = incidents.incident_view(s, incident)
        alerts = incidents.alerts_of(s, incident_id)
        systems = sorted({f"{a.app or '-'} / {a.model or '-'}" for a in alerts})
        sources = sorted({a.source for a in alerts})
        first_seen = min((a.time for a in alerts), default=incident.created_at)
    return {
        "regulation": "EU AI Act, Article 73 (serious incident report)", "incident": view["id"],
        "title": view["title"], "status": view["status"], "serious": incident.serious,
        "facts": {"category": view["category"], "categories": view["categories"], "severity": view["severity"],
                  "owasp": view["owasp"], "atlas": view["atlas"], "alerts": view["alert_count"],
                  "first_seen": first_seen.isoformat(), "detected_by": sources, "actor": view["actor"]},
        "affected_systems": systems, "actions": view["actions"], "timeline": view["timeline"],
        "to_complete_by_provider": ["provider and AI system identification", "Member State(s) concerned",
                                    "harm caused and persons affected", "causal link to the AI system",
                                    "corrective measures and their timeline"],
    }


def report_markdown(draft: dict[str, Any]) -> str:
    serious = draft["serious"] or {}
    lines = [f"# Serious incident report (draft): {draft['title']}", "",
             f"- Incident: `{draft['incident']}` ({draft['status']})",
             f"- Regulation: {draft['regulation']}",
             f"- Kind: {serious.get('kind', 'not flagged')}; aware at {serious.get('aware_at', '-')}; "
             f"deadline {serious.get('deadline', '-')}", "", "## Facts"]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in draft["facts"].items()]
    lines += ["", "## Affected systems (app / model)", *[f"- {x}" for x in draft["affected_systems"]],
              "", "## Actions taken", *[f"- {a['name']} on {a['target']}: {a['status']}" for a in draft["actions"]],
              "", "## Timeline", *[f"- {t['at']} {t['kind']}: {t['text']}" for t in draft["timeline"]],
              "", "## To complete by the provider", *[f"- [ ] {x}" for x in draft["to_complete_by_provider"]]]
    return "\n".join(lines) + "\n"

