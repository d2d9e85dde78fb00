"""Glue between intake, decisions and the Prefect flows: which flow runs for what, and the timers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from irflow import (
    audit,
    decisions,
    euaiact,
    incidents,
    intake,
    jira_sync,
    outbox,
    playbook,
    response,
    sla,
    usage,
    workspace,
)
from irflow.bodies import Item
from irflow.models import Category, Severity, utcnow
from irflow.runtime import Runtime
from irflow.store.tables import AlertRow


def choose_playbook(rt: Runtime, incident_id: str) -> str | None:
    with rt.db.tx() as s:
        row = incidents.get(s, incident_id)
        if row.playbook:
            return row.playbook
        source = s.execute(select(AlertRow.source).where(AlertRow.incident_id == incident_id).limit(1)).scalar() or ""
        chosen = playbook.select(rt.playbooks, Category(row.category), Severity(row.severity), source)
        if chosen is None:
            incidents.add_timeline(s, incident_id, "playbook", f"No playbook's trigger matches {row.category}; "
                                   "the incident waits for a responder")
            audit.append(s, actor="irflow", kind="playbook.none", subject=incident_id)
        return chosen.name if chosen else None


def respond(rt: Runtime, incident_id: str, playbook_name: str | None = None) -> str | None:
    """Run the incident's playbook as a Prefect flow run (in this process); returns the incident status."""
    euaiact.apply_rules(rt.db, rt.settings, [incident_id])
    name = playbook_name or choose_playbook(rt, incident_id)
    if name is None:
        return None
    if name not in rt.playbooks:
        raise playbook.PlaybookError(f"no playbook named {name!r}; see `irflow playbooks list`")
    from irflow.flows.respond import respond as respond_flow

    return respond_flow(incident_id=incident_id, playbook=name)


def escalate(rt: Runtime, incident_ids: list[str]) -> list[str]:
    """Incidents that got repeats: run their flow again only when a ladder rung has been reached."""
    ran = []
    for incident_id in incident_ids:
        with rt.db.tx() as s:
            name = incidents.get(s, incident_id).playbook
        if name in rt.playbooks and response.pending_rungs(rt.db, rt.playbooks[name], incident_id):
            with rt.db.tx() as s:
                incidents.add_timeline(s, incident_id, "escalation", "Repeats reached the next rung of the ladder")
            respond(rt, incident_id)
            ran.append(incident_id)
    return ran


def run_undo(rt: Runtime, undo_ids: list[str]) -> list[str]:
    if not undo_ids:
        return []
    from irflow.flows.respond import undo as undo_flow

    return undo_flow(action_ids=undo_ids)


def tick(rt: Runtime, now: datetime | None = None) -> None:
    """Timers: escalate expired approvals, undo containments whose TTL passed. Due-at rows in the
    database drive both, so they survive restarts."""
    now = now or utcnow()
    for incident_id in decisions.expire_approvals(rt.db, now):
        respond(rt, incident_id)  # the incident may now count as contained
    expired = decisions.due_containment_expiries(rt.db, now)
    run_undo(rt, [decisions.plan_undo(rt.db, rt.settings, a, "irflow:ttl", check_role=False) for a in expired])
    sla.check(rt.db, rt.settings, now)
    euaiact.remind(rt.db, now)
    check_usage(rt, now)
    jira_sync.tick(rt)  # reconcile duplicates, poll Jira without webhooks, flush held comments


def check_usage(rt: Runtime, now: datetime | None = None) -> list[str]:
    """Raise the volume alerts the last window calls for (irflow.usage) and respond to their incidents."""
    alerts = usage.over_limits(rt.db, rt.settings, now)
    if not alerts:
        return []
    report = intake.ingest(rt.db, rt.settings, [Item(alert) for alert in alerts], source="irflow", via="usage")
    return follow_up(rt, report)


def follow_up(rt: Runtime, report: intake.IngestReport) -> list[str]:
    """After an ingest: run the playbook of each new incident, advance the ladder of each grown one."""
    for incident_id in report.new_incidents:
        respond(rt, incident_id)
    escalate(rt, report.grown_incidents)
    return report.new_incidents + report.grown_incidents


def deliver(rt: Runtime) -> int:
    """Deliver every due outbox item (Slack/Jira); loops until nothing due is left."""
    total = 0
    while (n := outbox.deliver_pending(rt.db, rt.systems, workspace.HANDLERS)) > 0:
        total += n
    return total
