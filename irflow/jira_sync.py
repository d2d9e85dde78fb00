"""Jira back into irflow, and the repairs the outbox cannot make on its own.

* `apply_status` / `apply_comment`: what a person did on the issue (moved it to Done, wrote
  `/irflow ...`), from the webhook (irflow.jira_app) or from polling, with the same checks: the person
  is `jira:<accountId>` to RBAC, a comment runs at most once (an ExternalIntentRow jira/command per
  comment), and a status Jira shows only because irflow has not delivered its own change yet is ignored.
* `reconcile`: Jira has no idempotency key and Cloud search lags, so a create retried after a lost answer
  can still open a second issue. After `reconcile_after_s` the incident's label is searched again; any
  issue but the recorded one is linked to it and closed, and counted (`duplicates_closed`). It also
  re-drives syncs the outbox gave up on (Jira down for long) and flushes batched timeline comments.
* `tick`: what the serve worker calls each loop; it throttles itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from irflow import audit, incidents, lifecycle, workspace, workspace_jira
from irflow.connectors.errors import ConnectorError
from irflow.connectors.jira.interface import IssueActivity, TicketComment
from irflow.models import IncidentStatus, utcnow
from irflow.rbac import Forbidden
from irflow.redaction import SafeText, compose, redact
from irflow.render import jira_priority
from irflow.runtime import Runtime
from irflow.store.engine import Database
from irflow.store.tables import AuditRow, ExternalIntentRow, IncidentRow, TimelineRow

DUPLICATE_CLOSED = "jira.duplicate_closed"
COMMAND_PREFIX = "/irflow"
RECONCILE_EVERY_S = 30.0
REDRIVE_AFTER_S = 60.0
RECENT = timedelta(days=7)
DONE = {IncidentStatus.resolved.value, IncidentStatus.closed.value}
_last_run: dict[tuple[str, str], float] = {}


@dataclass
class SyncReport:
    """What one reconcile or poll did, for the CLI and the logs."""

    duplicates_closed: list[str] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)
    status_changes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# --- people acting in Jira --------------------------------------------------------------------------

def incident_of(rt: Runtime, key: str | None) -> str | None:
    """The incident whose recorded issue is `key`; a closed duplicate or a stranger's issue has none."""
    if not key:
        return None
    with rt.db.tx() as s:
        return s.execute(select(IncidentRow.id).where(IncidentRow.jira_key == key).limit(1)).scalar()


def apply_status(rt: Runtime, key: str, *, done: bool, actor: str | None, status_name: str,
                 fresh: bool = False) -> str | None:
    """An issue moved to a done status resolves its incident; moved out of done, reopens it.

    Returns the verb applied. A polled status (`fresh` False) is ignored while irflow's own last status
    change is undelivered: Jira then shows the old state, not a person's decision. A webhook's status
    change (`fresh`) is a decision just made. Nothing happens when the states already agree.
    """
    incident_id = incident_of(rt, key)
    if incident_id is None:
        return None
    with rt.db.tx() as s:
        current = incidents.get(s, incident_id).status
    if not fresh and workspace_jira.intent_detail(rt.db, incident_id).get("status") != current:
        return None
    verb = "resolve" if done and current not in DONE else "reopen" if not done and current in DONE else None
    if verb is None:
        return None
    principal = f"jira:{actor or 'unknown'}"
    try:
        new_status = lifecycle.transition(rt.db, rt.settings, incident_id, principal, verb,
                                          note=f"Jira issue {key} moved to {status_name}")
    except Forbidden as exc:
        _reply_once(rt, incident_id, key, f"refused:{verb}:{status_name}",
                    compose("irflow: the incident stays {s}: {why}", s=redact(current), why=redact(str(exc))))
        return None
    except lifecycle.TransitionError:
        return None
    workspace_jira.remember(rt.db, incident_id, status=new_status)  # the person put the issue where it belongs
    return verb


def apply_comment(rt: Runtime, key: str, comment: TicketComment) -> SafeText | None:
    """A comment starting with `/irflow` runs like the Slack command, once; the answer is a comment."""
    first_line = comment.text.strip().split("\n", 1)[0].strip()
    if not first_line.lower().startswith(COMMAND_PREFIX) or not comment.author:
        return None
    incident_id = incident_of(rt, key)
    if incident_id is None or not _claim(rt, incident_id, f"{key}:{comment.id}"):
        return None
    from irflow import commands  # the command handler shared with Slack

    # dispatch answers every expected failure (not allowed, wrong state) instead of raising
    reply = commands.dispatch(rt, f"jira:{comment.author}", first_line[len(COMMAND_PREFIX):].strip(), incident_id)
    answer = compose("irflow ({who}): {reply}", who=redact(comment.author, pii=False), reply=reply)
    rt.systems.tickets.add_comment(key, answer)
    return answer


def apply_activity(rt: Runtime, activity: IssueActivity, report: SyncReport) -> None:
    """One polled issue: its status, then its comments (each command runs once however often polled)."""
    verb = apply_status(rt, activity.key, done=activity.done, actor=activity.moved_by, status_name=activity.status)
    if verb:
        report.status_changes.append(f"{activity.key}: {verb}")
    for comment in activity.comments:
        if apply_comment(rt, activity.key, comment) is not None:
            report.commands.append(f"{activity.key}:{comment.id}")


def poll(rt: Runtime, minutes: int | None = None) -> SyncReport:
    """The fallback for a Jira that cannot send webhooks: look at irflow's recently updated issues."""
    tickets = rt.systems.tickets
    window = minutes or max(5, int(3 * tickets.policy.poll_interval_s / 60) + 1)
    report = SyncReport()
    for activity in tickets.recent_activity(window):
        try:
            apply_activity(rt, activity, report)
        except ConnectorError as exc:
            report.errors.append(f"{activity.key}: {exc}")
    return report


def _claim(rt: Runtime, incident_id: str, comment_ref: str) -> bool:
    """Record that this comment is being handled; False when it already was (webhook and poll overlap)."""
    with rt.db.tx() as s:
        seen = s.execute(select(ExternalIntentRow.id).where(
            ExternalIntentRow.system == "jira", ExternalIntentRow.kind == "command",
            ExternalIntentRow.external_key == comment_ref)).first()
        if seen is not None:
            return False
        now = utcnow()
        s.add(ExternalIntentRow(system="jira", kind="command", incident_id=incident_id, state="done",
                                external_key=comment_ref, detail=None, created_at=now, updated_at=now))
        return True


def _reply_once(rt: Runtime, incident_id: str, key: str, what: str, body: SafeText) -> None:
    """Tell the issue why nothing happened, once per distinct refusal (polling sees it again and again)."""
    if _claim(rt, incident_id, f"{key}:{what}"):
        rt.systems.tickets.add_comment(key, body)


# --- reconciling ------------------------------------------------------------------------------------

def reconcile(rt: Runtime, now: datetime | None = None) -> SyncReport:
    """Close duplicates that slipped through, re-drive stalled syncs, flush held-back comments."""
    now = now or utcnow()
    report = SyncReport()
    policy = rt.systems.tickets.policy
    for intent in _intents(rt):
        try:
            if intent.key is None:
                if (now - intent.updated_at).total_seconds() >= REDRIVE_AFTER_S:
                    _redrive(rt, intent.incident_id, report)
                continue
            created = intent.detail.get("created_at")
            age = (now - datetime.fromisoformat(created)).total_seconds() if created else float("inf")
            if not intent.detail.get("verified") and age >= policy.reconcile_after_s:
                _close_duplicates(rt, intent.id, intent.incident_id, intent.key, report)
            if _behind(rt, intent.incident_id, intent.detail):
                _redrive(rt, intent.incident_id, report)
        except ConnectorError as exc:
            report.errors.append(f"{intent.incident_id}: {exc}")
    return report


@dataclass(frozen=True)
class _Intent:
    id: int
    incident_id: str
    key: str | None  # None while the issue is not known to exist
    detail: dict[str, Any]
    updated_at: datetime


def _intents(rt: Runtime) -> list[_Intent]:
    """Issue intents of incidents touched in the last week: older ones are left alone."""
    since = utcnow() - RECENT
    with rt.db.tx() as s:
        rows = s.execute(
            select(ExternalIntentRow).join(IncidentRow, IncidentRow.id == ExternalIntentRow.incident_id)
            .where(ExternalIntentRow.system == "jira", ExternalIntentRow.kind == workspace_jira.KIND,
                   (IncidentRow.updated_at >= since) | (ExternalIntentRow.updated_at >= since))
            .order_by(ExternalIntentRow.id)).scalars()
        return [_Intent(r.id, r.incident_id, r.external_key if r.state == workspace_jira.CREATED else None,
                        dict(r.detail or {}), r.updated_at) for r in rows]


def _close_duplicates(rt: Runtime, intent_id: int, incident_id: str, key: str, report: SyncReport) -> None:
    tickets = rt.systems.tickets
    found = tickets.find_issues(incident_id)
    if key not in found:
        return  # search still lags behind even the recorded issue: look again on the next tick
    for duplicate in [k for k in found if k != key]:
        tickets.close_duplicate(duplicate, key, incident_id)
        with rt.db.tx() as s:
            incidents.add_timeline(s, incident_id, "jira", f"Duplicate Jira issue {duplicate} linked to {key} and closed")
            audit.append(s, actor="irflow", kind=DUPLICATE_CLOSED, subject=incident_id,
                         data={"duplicate": duplicate, "original": key})
        report.duplicates_closed.append(duplicate)
    with rt.db.tx() as s:
        row = s.get(ExternalIntentRow, intent_id)
        if row is not None:
            row.detail = {**(row.detail or {}), "verified": True}


def _behind(rt: Runtime, incident_id: str, detail: dict[str, Any]) -> bool:
    """Does the issue miss something irflow knows (status, priority, Slack link, timeline)? DB reads only."""
    with rt.db.tx() as s:
        row = incidents.get(s, incident_id)
        newest = s.execute(select(func.max(TimelineRow.id)).where(
            TimelineRow.incident_id == incident_id,
            TimelineRow.kind.not_in(workspace_jira.OWN_TIMELINE_KINDS))).scalar() or 0
        return (row.status != detail.get("status") or jira_priority(row.severity) != detail.get("priority")
                or (row.slack_channel is not None and row.slack_channel != detail.get("slack_link"))
                or newest > int(detail.get("timeline_cursor", 0)))


def _redrive(rt: Runtime, incident_id: str, report: SyncReport) -> None:
    workspace_jira.sync(rt.db, rt.systems, workspace.snapshot(rt.db, incident_id))
    report.synced.append(incident_id)


def duplicates_closed(db: Database) -> int:
    """How many duplicate Jira issues the reconciler has closed, ever (a counter to export as a metric)."""
    with db.tx() as s:
        return int(s.execute(select(func.count()).select_from(AuditRow).where(AuditRow.kind == DUPLICATE_CLOSED))
                   .scalar_one())


def tick(rt: Runtime) -> SyncReport | None:
    """For the serve worker's loop: reconcile every RECONCILE_EVERY_S, poll every `poll_interval_s` (if set).

    Cheap when there is nothing to do (database reads only), and never raises a ConnectorError: Jira
    being down must not stop the worker.
    """
    policy = rt.systems.tickets.policy
    report: SyncReport | None = None
    if _due(rt, "reconcile", RECONCILE_EVERY_S):
        report = reconcile(rt)
    if policy.poll_interval_s > 0 and _due(rt, "poll", policy.poll_interval_s):
        try:
            polled = poll(rt)
        except ConnectorError as exc:
            polled = SyncReport(errors=[str(exc)])
        report = polled if report is None else _merge(report, polled)
    return report


def _due(rt: Runtime, what: str, every_s: float) -> bool:
    slot, now = (rt.db.url, what), time.monotonic()
    if now - _last_run.get(slot, float("-inf")) < every_s:
        return False
    _last_run[slot] = now
    return True


def _merge(a: SyncReport, b: SyncReport) -> SyncReport:
    return SyncReport(*(getattr(a, f) + getattr(b, f) for f in
                        ("duplicates_closed", "synced", "status_changes", "commands", "errors")))
