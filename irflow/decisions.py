"""Human decisions and timers on actions: approve, reject, undo, mark a manual task done, false positive,
approval timeouts, containment TTLs, pausing automation.

Each function checks the principal's role first (every path: CLI, Slack, HTTP) and records who and why in
the audit log and the incident timeline. Executing what a decision unlocks is the caller's job (a new
flow run that resumes from these records), so no process ever blocks for hours waiting on a human.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from irflow import audit, incidents, outbox, rbac, sla
from irflow.models import ActionStatus, IncidentStatus, new_id, utcnow
from irflow.response import PAUSED_KEY
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import ActionRow, AutomationStateRow


class DecisionError(ValueError):
    """The decision does not apply to the action in its current state; the message says why."""


def _action(db: Database, action_id: str) -> ActionRow:
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
    if row is None:
        raise DecisionError(f"no action with id {action_id!r}")
    return row


def _decide(db: Database, action_id: str, principal: str, want: ActionStatus, status: ActionStatus, kind: str,
            note: str) -> str:
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
        assert row is not None
        if row.status != want.value:
            raise DecisionError(f"action {action_id} is {row.status}, not {want.value}")
        row.status, row.updated_at = status.value, utcnow()
        if kind == "approved":
            row.approved_by = principal
        incidents.add_timeline(s, row.incident_id, kind, f"{row.name} on {row.target} {kind} by {principal}{note}")
        sla.acknowledge(s, row.incident_id, principal)
        audit.append(s, actor=principal, kind=f"action.{kind}", subject=row.id, data={"incident": row.incident_id})
        outbox.enqueue(s, "incident.updated", row.incident_id)
        return row.incident_id


def approve(db: Database, settings: IrflowSettings, action_id: str, principal: str) -> str:
    """Unlock an awaiting action; returns the incident whose flow should run next."""
    rbac.require(db, settings, principal, "approve", action_id)
    _action(db, action_id)
    return _decide(db, action_id, principal, ActionStatus.awaiting_approval, ActionStatus.planned, "approved", "")


def reject(db: Database, settings: IrflowSettings, action_id: str, principal: str, reason: str = "") -> str:
    rbac.require(db, settings, principal, "reject", action_id)
    _action(db, action_id)
    note = f": {reason}" if reason else ""
    return _decide(db, action_id, principal, ActionStatus.awaiting_approval, ActionStatus.rejected, "rejected", note)


def complete_task(db: Database, settings: IrflowSettings, action_id: str, principal: str) -> str:
    rbac.require(db, settings, principal, "complete_task", action_id)
    row = _action(db, action_id)
    if row.name != "manual.task":
        raise DecisionError(f"action {action_id} is {row.name}, not a manual task")
    return _decide(db, action_id, principal, ActionStatus.planned, ActionStatus.done, "completed", "")


def plan_undo(db: Database, settings: IrflowSettings, action_id: str, principal: str, *, check_role: bool = True) -> str:
    """Record the inverse of a done action as a new, already-approved action; return its id (idempotent)."""
    if check_role:
        rbac.require(db, settings, principal, "undo", action_id)
    original = _action(db, action_id)
    if original.inverse is None:
        raise DecisionError(f"{original.name} cannot be undone (irreversible at {original.system})")
    key = f"undo:{original.id}"
    with db.tx() as s:
        existing = s.execute(select(ActionRow).where(ActionRow.idempotency_key == key)).scalar_one_or_none()
        if existing is not None:
            return existing.id
        if original.status != ActionStatus.done.value:
            raise DecisionError(f"action {action_id} is {original.status}; only done actions can be undone")
        now = utcnow()
        row = ActionRow(
            id=new_id("act"), incident_id=original.incident_id, step_id=f"undo-{original.step_id}",
            name=original.inverse, system=original.system, target=original.target,
            args=dict(original.args) | {"before": original.before or {}}, status=ActionStatus.planned.value,
            requires_approval=False, approved_by=principal, before=None, after=None, inverse=None,
            reason=f"undo of {original.id} requested by {principal}", error=None, idempotency_key=key,
            created_at=now, updated_at=now, playbook=original.playbook, playbook_hash=original.playbook_hash,
            phase="recover", on_failure="continue", position=original.position, approval_due_at=None,
            expires_at=None, undo_of=original.id,
        )
        s.add(row)
        incidents.add_timeline(s, original.incident_id, "undo", f"Undo of {original.name} on {original.target} "
                               f"requested by {principal}")
        sla.acknowledge(s, original.incident_id, principal)
        audit.append(s, actor=principal, kind="action.undo_requested", subject=original.id, data={"undo": row.id})
        return row.id


def plan_false_positive(db: Database, settings: IrflowSettings, incident_id: str, principal: str, reason: str) -> list[str]:
    """Undo every done reversible action of the incident, newest first, and resolve it as a false positive."""
    rbac.require(db, settings, principal, "false_positive", incident_id)
    with db.tx() as s:
        done = [r for r in incidents.actions_of(s, incident_id)
                if r.status == ActionStatus.done.value and r.inverse is not None and r.undo_of is None]
    undo_ids = [plan_undo(db, settings, r.id, principal, check_role=False)
                for r in sorted(done, key=lambda r: (r.position, r.updated_at), reverse=True)]
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        incident.status, incident.resolved_at = IncidentStatus.resolved.value, utcnow()
        incidents.add_timeline(s, incident_id, "false_positive", f"Marked false positive by {principal}: {reason}")
        audit.append(s, actor=principal, kind="incident.false_positive", subject=incident_id, data={"reason": reason})
        outbox.enqueue(s, "incident.updated", incident_id)
    return undo_ids


def expire_approvals(db: Database, now: datetime | None = None) -> list[str]:
    """Approvals past their deadline: escalate and skip them, with the reason. Returns incident ids."""
    now = now or utcnow()
    with db.tx() as s:
        due = s.execute(select(ActionRow).where(
            ActionRow.status == ActionStatus.awaiting_approval.value, ActionRow.approval_due_at <= now
        )).scalars().all()
        for row in due:
            row.status, row.updated_at = ActionStatus.skipped.value, now
            row.reason = "skipped: approval timed out; escalated to the incident's responders"
            incidents.add_timeline(s, row.incident_id, "escalation",
                                   f"Approval for {row.name} on {row.target} timed out; escalated, step skipped")
            audit.append(s, actor="irflow", kind="action.approval_timeout", subject=row.id)
            outbox.enqueue(s, "incident.updated", row.incident_id)
        return sorted({r.incident_id for r in due})


def due_containment_expiries(db: Database, now: datetime | None = None) -> list[str]:
    """Done actions whose containment TTL has passed and that are not undone yet."""
    now = now or utcnow()
    with db.tx() as s:
        rows = s.execute(select(ActionRow.id).where(
            ActionRow.status == ActionStatus.done.value, ActionRow.expires_at <= now
        )).scalars().all()
    return list(rows)


def set_paused(db: Database, settings: IrflowSettings, principal: str, paused: bool, reason: str = "") -> None:
    rbac.require(db, settings, principal, "automation", "automation")
    with db.tx() as s:
        row = s.get(AutomationStateRow, PAUSED_KEY)
        value = {"paused": paused, "reason": reason}
        if row is None:
            s.add(AutomationStateRow(key=PAUSED_KEY, value=value, updated_at=utcnow(), updated_by=principal))
        else:
            row.value, row.updated_at, row.updated_by = value, utcnow(), principal
        audit.append(s, actor=principal, kind="automation.paused" if paused else "automation.resumed",
                     subject="automation", data={"reason": reason})


def incidents_with_planned_actions(db: Database) -> list[str]:
    with db.tx() as s:
        rows = s.execute(select(ActionRow.incident_id).where(
            ActionRow.status == ActionStatus.planned.value, ActionRow.name != "manual.task"
        ).distinct()).scalars().all()
    return list(rows)
