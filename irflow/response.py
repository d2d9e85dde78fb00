"""Planning and executing a playbook's steps for one incident, on irflow's records.

The Prefect flow in irflow.flows.respond is a thin shell over these functions: it passes ids only (no
alert text ever becomes a Prefect parameter), and every step's state lives in the `actions` table, so a
re-run after a crash or a duplicate trigger repeats nothing that already finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from irflow import actions, audit, incidents, outbox
from irflow.connectors.errors import ConnectorError
from irflow.models import FINAL_ACTION_STATUSES, ActionStatus, IncidentStatus, new_id, utcnow
from irflow.playbook import Playbook, Step, render
from irflow.store.engine import Database
from irflow.store.tables import ActionRow, AlertRow, IncidentRow
from irflow.systems import Systems


@dataclass(frozen=True)
class PlannedStep:
    step_id: str
    action: str
    system: str
    target: str
    args: dict[str, str]
    status: ActionStatus
    reason: str
    phase: str


def template_context(session: Session, incident: IncidentRow) -> dict[str, Any]:
    """Raw values for argument templates: these go to connectors, never to humans or Prefect."""
    first = session.execute(
        select(AlertRow).where(AlertRow.incident_id == incident.id).order_by(AlertRow.received_at).limit(1)
    ).scalar_one_or_none()
    alert = {} if first is None else {
        "id": first.id, "source": first.source, "category": first.category, "severity": first.severity,
        "actor": first.actor, "app": first.app, "model": first.model,
    }
    inc = {"id": incident.id, "category": incident.category, "severity": incident.severity, "actor": incident.actor}
    return {"alert": alert, "incident": inc}


def _decide(step: Step, spec: actions.ActionSpec, args: dict[str, str], when: str | None) -> tuple[ActionStatus, str]:
    if when is not None and not when.strip():
        return ActionStatus.skipped, f"skipped: condition `{step.when}` is empty for this incident"
    if spec.capability != "manual" and not args.get(spec.target_arg):
        return ActionStatus.skipped, f"skipped: no {spec.target_arg} known for this incident"
    if spec.needs_approval_by_policy:
        return ActionStatus.awaiting_approval, "needs approval: policy gates irreversible or high-impact actions"
    if step.requires_approval:
        return ActionStatus.awaiting_approval, "needs approval: the playbook asks for it"
    if spec.capability == "manual":
        return ActionStatus.planned, "manual: waiting for a responder to do it and mark it done"
    return ActionStatus.planned, "automatic: reversible, low-impact action allowed by policy"


def plan_steps(session: Session, systems: Systems, playbook: Playbook, incident: IncidentRow) -> list[PlannedStep]:
    context = template_context(session, incident)
    planned = []
    for step in playbook.steps:
        spec = actions.get(step.action)
        args = {name: render(value, context) for name, value in step.args.items()}
        when = render(step.when, context) if step.when is not None else None
        status, reason = _decide(step, spec, args, when)
        system = "human" if spec.capability == "manual" else systems.target_for(spec.capability, step.target)
        what = step.id if spec.capability == "manual" else args.get(spec.target_arg, "")
        target = f"{system}/{spec.target_arg}:{what}"
        planned.append(PlannedStep(step.id, step.action, system, target, args, status, reason, step.phase))
    return planned


def record_plan(session: Session, incident: IncidentRow, playbook: Playbook, planned: list[PlannedStep]) -> list[str]:
    """Insert action rows that do not exist yet (keyed by incident, playbook, step, target); return all ids."""
    ids = []
    for p in planned:
        key = f"{incident.id}:{playbook.name}:{p.step_id}:{p.target}"
        row = session.execute(select(ActionRow).where(ActionRow.idempotency_key == key)).scalar_one_or_none()
        if row is None:
            spec = actions.get(p.action)
            now = utcnow()
            row = ActionRow(
                id=new_id("act"), incident_id=incident.id, step_id=p.step_id, name=p.action, system=p.system,
                target=p.target, args=p.args | {"phase": p.phase}, status=p.status.value,
                requires_approval=p.status is ActionStatus.awaiting_approval, approved_by=None, before=None,
                after=None, inverse=spec.inverse, reason=p.reason, error=None, idempotency_key=key,
                created_at=now, updated_at=now,
            )
            session.add(row)
            incidents.add_timeline(session, incident.id, "decision", f"{p.step_id} ({p.action}): {p.reason}")
        ids.append(row.id)
    session.flush()
    return ids


def start(db: Database, systems: Systems, playbook: Playbook, incident_id: str) -> list[str]:
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        if incident.playbook != playbook.name:
            incident.playbook = playbook.name
            incidents.add_timeline(
                s, incident_id, "playbook",
                f"Playbook {playbook.name} (version {playbook.version_hash[:12]}) chosen: its trigger matches "
                f"category {incident.category} at severity {incident.severity}",
            )
        return record_plan(s, incident, playbook, plan_steps(s, systems, playbook, incident))


def execute(db: Database, systems: Systems, action_id: str) -> str:
    """Run one planned action. Finished or waiting actions are left alone (idempotent re-runs)."""
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
        assert row is not None, action_id
        if row.status != ActionStatus.planned.value or row.name == "manual.task":
            return row.status
        row.status, row.updated_at = ActionStatus.running.value, utcnow()
        name, system, args = row.name, row.system, {k: v for k, v in row.args.items() if k != "phase"}
    try:
        outcome = actions.get(name).run(systems, system, args, False)
    except ConnectorError as exc:
        if exc.retryable:
            _set_status(db, action_id, ActionStatus.planned, error=str(exc))
            raise
        _set_status(db, action_id, ActionStatus.failed, error=str(exc))
        return ActionStatus.failed.value
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
        assert row is not None
        row.status, row.before, row.after, row.updated_at = ActionStatus.done.value, outcome.before, outcome.after, utcnow()
        row.error = None
        detail = f" ({outcome.detail})" if outcome.detail else ""
        incidents.add_timeline(s, row.incident_id, "action", f"{row.name} on {row.target}: done{detail}")
        audit.append(s, actor="irflow", kind="action.done", subject=row.id,
                     data={"incident": row.incident_id, "name": row.name, "system": row.system, "changed": outcome.changed})
    return ActionStatus.done.value


def _set_status(db: Database, action_id: str, status: ActionStatus, error: str | None = None) -> None:
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
        assert row is not None
        row.status, row.error, row.updated_at = status.value, error, utcnow()
        incidents.add_timeline(s, row.incident_id, "action", f"{row.name} on {row.target}: {status.value}")
        audit.append(s, actor="irflow", kind=f"action.{status.value}", subject=row.id, data={"incident": row.incident_id})


def finish(db: Database, incident_id: str) -> str:
    """Mark the incident contained once every contain-phase step is done or skipped; queue the update."""
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        rows = incidents.actions_of(s, incident_id)
        contain = [r for r in rows if r.args.get("phase", "contain") == "contain"]
        done = all(r.status in (ActionStatus.done.value, ActionStatus.skipped.value) for r in contain)
        acted = any(r.status == ActionStatus.done.value for r in contain)
        if done and acted and incident.status == IncidentStatus.open.value:
            incident.status, incident.contained_at = IncidentStatus.contained.value, utcnow()
            incidents.add_timeline(s, incident_id, "status", "Contained: every containment step is done")
            audit.append(s, actor="irflow", kind="incident.contained", subject=incident_id)
        outbox.enqueue(s, "response.finished", incident_id)
        return incident.status


def pending(rows: list[ActionRow]) -> list[ActionRow]:
    return [r for r in rows if r.status not in {s.value for s in FINAL_ACTION_STATUSES}]
