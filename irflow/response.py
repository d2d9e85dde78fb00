"""Planning and executing a playbook's steps for one incident, on irflow's records.

The Prefect flows in irflow.flows.respond are thin shells over these functions: they pass ids only (no
alert text ever becomes a Prefect parameter), and every step's state lives in the `actions` table, so a
re-run after a crash or a duplicate trigger repeats nothing that already finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from irflow import actions, audit, incidents, outbox
from irflow.connectors.errors import ConnectorError
from irflow.models import ActionStatus, Alert, IncidentStatus, new_id, sha256_hex, utcnow
from irflow.playbook import Playbook, Step, render
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import ActionRow, AlertRow, AutomationStateRow, IncidentRow
from irflow.systems import Systems

PAUSED_KEY = "automation.paused"
STALE_RUNNING = timedelta(minutes=10)
"""A `running` action older than this was left by a crashed run; connectors are idempotent, so it is
claimed again rather than stuck forever."""


@dataclass(frozen=True)
class Guard:
    """What the automation guardrails know when a plan is made."""

    paused: bool
    protected: frozenset[str]
    blast_used: int
    blast_max: int


@dataclass(frozen=True)
class PlannedStep:
    step: Step
    system: str
    target: str
    args: dict[str, Any]
    status: ActionStatus
    reason: str
    position: int


# --- context -----------------------------------------------------------------------------------

def context_from(incident: dict[str, Any], alert: dict[str, Any]) -> dict[str, Any]:
    """Raw values for argument templates: these go to connectors, never to humans or Prefect."""
    return {"incident": incident, "alert": alert}


def alert_context(alert: Alert | AlertRow) -> dict[str, Any]:
    actor = alert.actor if isinstance(alert.actor, dict) else alert.actor.model_dump()
    return {"id": alert.id, "source": alert.source, "category": str(alert.category), "severity": str(alert.severity),
            "actor": actor, "app": alert.app, "model": alert.model, "detector": alert.detector}


def incident_context(session: Session, incident: IncidentRow) -> dict[str, Any]:
    first = session.execute(
        select(AlertRow).where(AlertRow.incident_id == incident.id).order_by(AlertRow.received_at).limit(1)
    ).scalar_one_or_none()
    inc = {"id": incident.id, "category": incident.category, "severity": incident.severity, "actor": incident.actor,
           "alert_count": incident.alert_count, "enrichment": incident.enrichment or {}}
    return context_from(inc, alert_context(first) if first is not None else {})


# --- guardrails --------------------------------------------------------------------------------

def automation_paused(session: Session) -> bool:
    row = session.get(AutomationStateRow, PAUSED_KEY)
    return bool(row and row.value.get("paused"))


def protected_identities(settings: IrflowSettings, systems: Systems) -> frozenset[str]:
    values = set(settings.protected_keys) | set(settings.protected_users) | set(systems.protected)
    return frozenset(values | {sha256_hex(v) for v in values})


def guard(session: Session, settings: IrflowSettings, systems: Systems, now: datetime) -> Guard:
    since = now - timedelta(minutes=settings.blast_radius_window_minutes)
    used = session.execute(
        select(func.count()).select_from(ActionRow).where(
            ActionRow.created_at >= since, ActionRow.requires_approval.is_(False), ActionRow.phase == "contain",
            ActionRow.name != "manual.task", ActionRow.undo_of.is_(None),
            ActionRow.status.in_([ActionStatus.planned.value, ActionStatus.running.value, ActionStatus.done.value]),
        )
    ).scalar_one()
    return Guard(automation_paused(session), protected_identities(settings, systems), used, settings.blast_radius_max)


# --- planning ----------------------------------------------------------------------------------

_NOT_YET = "not yet"


def _decide(step: Step, spec: actions.ActionSpec, args: dict[str, Any], when: str | None, g: Guard,
            auto_so_far: int, alert_count: int) -> tuple[ActionStatus, str]:
    """One decision per step, with the reason a responder reads in the timeline."""
    if when is not None and not when.strip():
        why = f"`{step.unless}` is set" if step.unless and step.when is None else f"`{step.when or step.unless}` rules it out"
        return ActionStatus.skipped, f"skipped: condition {why} for this incident"
    if alert_count < step.min_alerts:
        return ActionStatus.planned, _NOT_YET
    subject = args.get(spec.target_arg)
    if spec.capability != "manual" and not subject:
        return ActionStatus.skipped, f"skipped: no {spec.target_arg} known for this incident"
    if spec.capability == "manual":
        return ActionStatus.planned, "manual: waiting for a responder to do it and mark it done"
    if subject in g.protected:
        return ActionStatus.awaiting_approval, "needs approval: guardrail, the target is a protected identity"
    if spec.needs_approval_by_policy:
        return ActionStatus.awaiting_approval, "needs approval: policy gates irreversible or high-impact actions"
    if step.requires_approval:
        return ActionStatus.awaiting_approval, "needs approval: the playbook asks for it"
    if g.blast_used + auto_so_far >= g.blast_max:
        return ActionStatus.awaiting_approval, (
            f"needs approval: guardrail, over {g.blast_max} automatic containments in the blast-radius window")
    if g.paused:
        return ActionStatus.planned, "automatic, but automation is paused: waits for `irflow automation resume`"
    return ActionStatus.planned, "automatic: reversible, low-impact action allowed by policy"


def plan_steps(systems: Systems, playbook: Playbook, context: dict[str, Any], g: Guard) -> list[PlannedStep]:
    planned: list[PlannedStep] = []
    auto = 0
    alerts = int(context.get("incident", {}).get("alert_count") or 1)
    for position, step in enumerate(playbook.steps):
        spec = actions.get(step.action)
        args: dict[str, Any] = {name: render(value, context) for name, value in step.args.items()}
        if spec.capability == "flow":
            args["incident"] = context["incident"]["id"]
        when = render(step.when, context) if step.when is not None else None
        if step.unless is not None and render(step.unless, context).strip():
            when = ""  # an `unless` that holds skips the step like an empty `when`
        status, reason = _decide(step, spec, args, when, g, auto, alerts)
        if reason == _NOT_YET:  # a later rung of the escalation ladder: planned when repeats reach it
            continue
        auto += status is ActionStatus.planned and spec.capability != "manual" and step.phase == "contain"
        system = {"manual": "human", "flow": "prefect"}.get(spec.capability) or systems.target_for(
            spec.capability, step.target)
        what = step.id if spec.capability == "manual" else args.get(spec.target_arg, "")
        planned.append(PlannedStep(step, system, f"{system}/{spec.target_arg}:{what}", args, status, reason, position))
    return planned


def record_plan(session: Session, settings: IrflowSettings, incident: IncidentRow, playbook: Playbook,
                planned: list[PlannedStep], now: datetime) -> list[str]:
    """Insert the action rows that do not exist yet (keyed by incident, playbook, step, target); return all ids."""
    ids = []
    for p in planned:
        key = f"{incident.id}:{playbook.name}:{p.step.id}:{p.target}"
        row = session.execute(select(ActionRow).where(ActionRow.idempotency_key == key)).scalar_one_or_none()
        if row is None:
            row = _new_row(settings, incident.id, playbook, p, key, now)
            session.add(row)
            incidents.add_timeline(session, incident.id, "decision", f"{p.step.id} ({p.step.action}): {p.reason}")
            if row.requires_approval:
                outbox.enqueue(session, "approval.requested", incident.id, {"action_id": row.id})
        ids.append(row.id)
    session.flush()
    return ids


def _new_row(settings: IrflowSettings, incident_id: str, playbook: Playbook, p: PlannedStep, key: str,
             now: datetime) -> ActionRow:
    waiting = p.status is ActionStatus.awaiting_approval
    timeout = p.step.approval_timeout_minutes or settings.approval_timeout_minutes
    return ActionRow(
        id=new_id("act"), incident_id=incident_id, step_id=p.step.id, name=p.step.action, system=p.system,
        target=p.target, args=p.args, status=p.status.value, requires_approval=waiting, approved_by=None,
        before=None, after=None, inverse=actions.get(p.step.action).inverse, reason=p.reason, error=None,
        idempotency_key=key, created_at=now, updated_at=now, playbook=playbook.name,
        playbook_hash=playbook.version_hash, phase=p.step.phase, on_failure=p.step.on_failure.value,
        position=p.position, approval_due_at=now + timedelta(minutes=timeout) if waiting else None,
        expires_at=None, undo_of=None,
    )


def start(db: Database, settings: IrflowSettings, systems: Systems, playbook: Playbook, incident_id: str) -> list[str]:
    now = utcnow()
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        if incident.playbook != playbook.name:
            incident.playbook = playbook.name
            incidents.add_timeline(
                s, incident_id, "playbook",
                f"Playbook {playbook.name} (version {playbook.version_hash[:12]}) chosen: its trigger matches "
                f"category {incident.category} at severity {incident.severity}",
            )
        planned = plan_steps(systems, playbook, incident_context(s, incident), guard(s, settings, systems, now))
        return record_plan(s, settings, incident, playbook, planned, now)


def dry_run(systems: Systems, playbook: Playbook, context: dict[str, Any], g: Guard) -> list[dict[str, Any]]:
    """The plan and the calls it would make, changing nothing anywhere (connectors run with dry_run=True)."""
    rows = []
    for p in plan_steps(systems, playbook, context, g):
        call = None
        if p.status is not ActionStatus.skipped and p.system != "human":
            try:
                call = actions.get(p.step.action).run(systems, p.system, p.args, True).call.describe()
            except ConnectorError as exc:
                call = f"cannot plan this call: {exc}"
        rows.append({"step": p.step.id, "action": p.step.action, "system": p.system, "target": p.target,
                     "args": p.args, "decision": p.status.value, "needs_approval": p.status is ActionStatus.awaiting_approval,
                     "reason": p.reason, "phase": p.step.phase, "call": call})
    return rows


# --- execution ---------------------------------------------------------------------------------

def _claim(db: Database, action_id: str) -> tuple[str, str, dict[str, Any], bool] | str:
    """Move a planned action to running (or say why not): the one place that decides to call a connector."""
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
        assert row is not None, action_id
        stale = row.status == ActionStatus.running.value and row.updated_at < utcnow() - STALE_RUNNING
        if (row.status != ActionStatus.planned.value and not stale) or row.name == "manual.task":
            return row.status
        if automation_paused(s) and row.approved_by is None and row.undo_of is None:
            return row.status
        row.status, row.updated_at = ActionStatus.running.value, utcnow()
        # The last item: an earlier attempt that failed retryably (row.error) or died mid-call (stale) may have acted.
        return row.name, row.system, dict(row.args), bool(row.error) or stale


UNCERTAIN_BEFORE = ("an earlier attempt ended without an answer and may have made this change, so the state "
                    "recorded as before may be the state after it: check before relying on an undo")
"""A retry that finds the change already made cannot tell whether its own earlier attempt made it (a timeout
after the target acted) or the state was so before; the timeline and audit say so instead of guessing."""
NO_TTL = "its time limit is not applied: nothing undoes it automatically with a state that may be wrong"


def execute(db: Database, systems: Systems, action_id: str, ttl_seconds: int | None = None) -> str:
    """Run one planned action. Finished or waiting actions are left alone (idempotent re-runs)."""
    claimed = _claim(db, action_id)
    if isinstance(claimed, str):
        return claimed
    name, system, args, retried = claimed
    try:
        outcome = actions.get(name).run(systems, system, args, False)
    except ConnectorError as exc:
        status = ActionStatus.planned if exc.retryable else ActionStatus.failed
        set_status(db, action_id, status, error=str(exc))
        if exc.retryable:
            raise
        return status.value
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
        assert row is not None
        row.status, row.before, row.after, row.error = ActionStatus.done.value, outcome.before, outcome.after, None
        row.updated_at = utcnow()
        uncertain = retried and not outcome.changed
        if ttl_seconds and not uncertain:
            row.expires_at = row.updated_at + timedelta(seconds=ttl_seconds)
        notes = [outcome.detail or "", UNCERTAIN_BEFORE if uncertain else "",
                 NO_TTL if uncertain and ttl_seconds else ""]
        detail = f" ({'; '.join(n for n in notes if n)})" if any(notes) else ""
        incidents.add_timeline(s, row.incident_id, "action", f"{row.name} on {row.target}: done{detail}")
        if row.undo_of is not None:
            _mark_undone(s, row)
        audit.append(s, actor=row.approved_by or "irflow", kind="action.done", subject=row.id,
                     data={"incident": row.incident_id, "name": row.name, "system": row.system,
                           "changed": outcome.changed, "playbook_hash": row.playbook_hash,
                           **({"before_uncertain": True} if uncertain else {})})
    return ActionStatus.done.value


def _mark_undone(s: Session, undo: ActionRow) -> None:
    """The inverse ran: the original is undone, and an incident contained by it is open again."""
    original = s.get(ActionRow, undo.undo_of)
    assert original is not None
    original.status, original.updated_at = ActionStatus.undone.value, utcnow()
    incident = incidents.get(s, undo.incident_id)
    if original.phase == "contain" and incident.status == IncidentStatus.contained.value:
        incident.status, incident.contained_at = IncidentStatus.open.value, None
        incidents.add_timeline(s, incident.id, "status", f"Open again: {original.name} was undone")
    outbox.enqueue(s, "incident.updated", incident.id)


def set_status(db: Database, action_id: str, status: ActionStatus, error: str | None = None, actor: str = "irflow",
               reason: str | None = None) -> None:
    with db.tx() as s:
        row = s.get(ActionRow, action_id)
        assert row is not None
        row.status, row.error, row.updated_at = status.value, error, utcnow()
        if reason is not None:
            row.reason = reason
        why = f": {reason or error}" if (reason or error) else ""
        incidents.add_timeline(s, row.incident_id, "action", f"{row.name} on {row.target}: {status.value}{why}")
        audit.append(s, actor=actor, kind=f"action.{status.value}", subject=row.id,
                     data={"incident": row.incident_id, "error": error})


def pending_rungs(db: Database, playbook: Playbook, incident_id: str) -> bool:
    """Has the incident reached a ladder rung (min_alerts) that has no action yet? Checked on repeats, so a
    storm re-plans an incident a handful of times, not once per alert."""
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        have = {r.step_id for r in incidents.actions_of(s, incident_id)}
        return any(step.min_alerts > 1 and step.min_alerts <= incident.alert_count and step.id not in have
                   for step in playbook.steps)


def ordered(db: Database, action_ids: list[str]) -> list[ActionRow]:
    with db.tx() as s:
        rows = [s.get(ActionRow, a) for a in action_ids]
    return sorted((r for r in rows if r is not None), key=lambda r: r.position)


def finish(db: Database, incident_id: str) -> str:
    """Mark the incident contained once every contain-phase step is done or skipped; queue the update."""
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        contain = [r for r in incidents.actions_of(s, incident_id) if r.phase == "contain" and r.undo_of is None]
        settled_states = (ActionStatus.done.value, ActionStatus.skipped.value, ActionStatus.rejected.value)
        settled = all(r.status in settled_states for r in contain)
        acted = any(r.status == ActionStatus.done.value for r in contain)
        if settled and acted and incident.status == IncidentStatus.open.value:
            incident.status, incident.contained_at = IncidentStatus.contained.value, utcnow()
            incidents.add_timeline(s, incident_id, "status", "Contained: every containment step is done")
            audit.append(s, actor="irflow", kind="incident.contained", subject=incident_id)
        outbox.enqueue(s, "response.finished", incident_id)
        return incident.status
