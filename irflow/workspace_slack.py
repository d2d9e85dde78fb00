"""The incident's Slack presence: its channel (or a thread in the shared triage channel for low severity), the
summary edited in place, on-call invites, bookmarks, the runbook checklist and approval requests.

Outbox items retry, and a storm sends many updates, so every write here is idempotent and bounded: what
was created is recorded (the incident row's `slack_*` columns; `ExternalIntentRow` rows with system
``slack`` for the rest), and a message is re-sent only when its rendering changed (a digest is kept), so a
storm edits a handful of messages in place instead of posting new ones, and costs no call when nothing moved.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from irflow import incidents, outbox
from irflow.connectors.errors import Conflict, InvalidRequest, NotFound
from irflow.connectors.slack.interface import ChatOps
from irflow.connectors.slack.settings import CHANNEL_ID
from irflow.models import utcnow
from irflow.redaction import SafeText, compose, redact, trusted
from irflow.runbook import Runbook, RunbookError
from irflow.slack_blocks import ActionLine, Message, StepDone, approval_request, heading, runbook_checklist, summary
from irflow.store.engine import Database
from irflow.store.tables import ActionRow, ExternalIntentRow, IncidentRow, RunbookProgressRow
from irflow.systems import Systems

if TYPE_CHECKING:
    from irflow.workspace import Snapshot

log = logging.getLogger(__name__)

SYSTEM = "slack"
SUMMARY, RUNBOOK, APPROVAL, BOOKMARK, INVITE = "summary", "runbook", "approval", "bookmark", "invite"
"""`ExternalIntentRow.kind` values: what was created in Slack for an incident (the key says which one)."""
NAME_ATTEMPTS = 5
"""Suffixes tried when a channel name is taken by a channel the bot cannot use (archived, private)."""
SOFT_FAILURES = (NotFound, InvalidRequest, Conflict)
"""Errors that will not go away on retry: recorded in the timeline instead of failing the whole sync."""


@dataclass(frozen=True)
class Place:
    """Where the incident lives: a channel of its own (thread None) or a thread in the triage channel."""

    channel: str
    thread: str | None


def channel_name(row: IncidentRow, prefix: str = "inc") -> str:
    """``inc-<yyyymmdd>-<short id>-<category>``: sortable, unique enough, and says what it is about."""
    short = row.id.rsplit("-", 1)[-1][:6]
    return f"{prefix}-{row.created_at:%Y%m%d}-{short}-{row.category.replace('_', '-')}"[:80]


def place_of(row: IncidentRow) -> Place | None:
    return Place(row.slack_channel, row.slack_thread) if row.slack_channel else None


def sync(db: Database, systems: Systems, snap: Snapshot) -> str:
    """Open the channel or thread if needed, then bring everything the incident has in Slack up to date."""
    chat, row = systems.chat, _row(db, snap.row.id)
    if row.slack_thread and not chat.settings.threaded(row.severity):
        _promote(db, chat, row)
        row = _row(db, row.id)
    where = place_of(row) or _open(db, systems, snap, row)
    row = _row(db, row.id)
    _summary(db, systems, snap, row, where)
    if where.thread is None:
        _invite_oncall(db, chat, row.id, where.channel)
        _bookmarks(db, systems, row, where.channel)
    _runbook(db, chat, row, where, repost=False)
    _refresh_approvals(db, chat, row.id)
    return where.channel


def request_approval(db: Database, systems: Systems, snap: Snapshot, action_id: str) -> None:
    """Ask for a decision with Approve / Reject buttons, once per action; decided requests are edited later."""
    where = place_of(_row(db, snap.row.id))
    if where is None:
        sync(db, systems, snap)
        where = place_of(_row(db, snap.row.id))
    assert where is not None
    with db.tx() as s:
        action = s.get(ActionRow, action_id)
        assert action is not None, action_id
        msg = approval_request(action.incident_id, _line(action, undoable=False))
    _message(db, systems.chat, snap.row.id, APPROVAL, action_id, where, msg)


def post_runbook(db: Database, systems: Systems, incident_id: str) -> str | None:
    """`/irflow runbook`: post the checklist again at the bottom of the conversation; returns its ts."""
    row = _row(db, incident_id)
    where = place_of(row)
    if where is None:
        return None
    return _runbook(db, systems.chat, row, where, repost=True)


def notify(db: Database, systems: Systems, snap: Snapshot, text: SafeText) -> None:
    """A one-off notice (SLA breach, reminder) where the incident lives: its channel, or its triage thread."""
    where = place_of(_row(db, snap.row.id))
    if where is not None:
        systems.chat.post(where.channel, text, thread_ts=where.thread)


# --- opening the channel or thread --------------------------------------------------------------------------------


def _open(db: Database, systems: Systems, snap: Snapshot, row: IncidentRow) -> Place:
    chat = systems.chat
    if chat.settings.threaded(row.severity):
        triage, msg = _triage_channel(chat), _summary_message(db, systems, snap, row)
        ts = _send(chat, Place(triage, None), msg.text, msg.blocks)  # the thread's root; unpinned in a shared channel
        _save(db, row.id, channel=triage, thread=ts, summary_ts=ts,
              note=f"Slack thread opened in the triage channel {triage} with the incident summary")
        _record(db, row.id, SUMMARY, SUMMARY, {"digest": _digest(msg)})
        return Place(triage, ts)
    channel = _create_channel(chat, row)
    _save(db, row.id, channel=channel, thread=None, summary_ts=None, note=None)
    return Place(channel, None)


def _create_channel(chat: ChatOps, row: IncidentRow) -> str:
    base = channel_name(row, chat.settings.incident_channel_prefix)
    topic = compose("{heading} | irflow incident {id}", heading=heading({"severity": row.severity, "title": row.title}),
                    id=redact(row.id, pii=False))
    for attempt in range(NAME_ATTEMPTS):
        name = base if attempt == 0 else f"{base[:77]}-{attempt + 1}"
        try:
            return chat.ensure_channel(name, topic)
        except Conflict:
            continue  # taken by a channel we cannot use (archived, private): the next suffix
    raise Conflict(f"channel names {base}(-2..-{NAME_ATTEMPTS}) are all taken", system=SYSTEM)


def _triage_channel(chat: ChatOps) -> str:
    ref = chat.settings.triage_channel
    assert ref is not None
    if CHANNEL_ID.match(ref):
        return ref
    return chat.ensure_channel(ref.lstrip("#"), trusted("irflow triage: one thread per low-severity incident"))


def _promote(db: Database, chat: ChatOps, row: IncidentRow) -> None:
    """Severity rose above the thread threshold: give the incident its own channel and say so in the thread."""
    assert row.slack_channel and row.slack_thread
    channel = _create_channel(chat, row)
    moved = compose("Severity is now {sev}: this incident continues in <#{ch}>.", sev=redact(row.severity, pii=False),
                    ch=redact(channel, pii=False))
    chat.post(row.slack_channel, moved, thread_ts=row.slack_thread)
    chat.update(row.slack_channel, row.slack_thread, moved, [{"type": "section", "text": {"type": "mrkdwn", "text": moved}}])
    with db.tx() as s:
        for kind in (SUMMARY, RUNBOOK):  # both are posted again in the new channel
            for rec in _records(s, row.id, kind):
                s.delete(rec)
    _save(db, row.id, channel=channel, thread=None, summary_ts=None,
          note=f"Severity rose to {row.severity}: moved from the triage thread to Slack channel {channel}")


def _save(db: Database, incident_id: str, *, channel: str, thread: str | None, summary_ts: str | None,
          note: str | None) -> None:
    with db.tx() as s:
        row = incidents.get(s, incident_id)
        moved = row.slack_channel != channel
        row.slack_channel, row.slack_thread, row.slack_summary_ts = channel, thread, summary_ts
        if note:
            incidents.add_timeline(s, incident_id, "slack", note)
        # Jira's half may have opened the issue without the channel (it never waits for Slack): the issue
        # learns the link from a refresh, unless a Jira delivery for the incident is still to come anyway.
        # No issue yet means its creation is still to come, and it reads the channel then.
        if moved and row.jira_key and not outbox.queued_for(s, incident_id, outbox.Target.JIRA):
            outbox.enqueue(s, "incident.updated", incident_id, target=outbox.Target.JIRA)


# --- the summary ------------------------------------------------------------------------------------------------


def _summary(db: Database, systems: Systems, snap: Snapshot, row: IncidentRow, where: Place) -> None:
    msg = _summary_message(db, systems, snap, row)
    if row.slack_summary_ts:
        try:
            _edit_if_changed(db, systems.chat, row.id, SUMMARY, SUMMARY, where.channel, row.slack_summary_ts, msg)
            return
        except NotFound:
            log.warning("the Slack summary of %s was deleted; posting it again", row.id)
    threaded = where.thread is not None  # a thread's root is its summary: a new root starts a new thread
    ts = _send(systems.chat, Place(where.channel, None), msg.text, msg.blocks, pin=not threaded)
    _save(db, row.id, channel=where.channel, thread=ts if threaded else None, summary_ts=ts,
          note=f"Slack summary posted in {where.channel}, pinned" if not threaded else None)
    _record(db, row.id, SUMMARY, SUMMARY, {"digest": _digest(msg)})


def _summary_message(db: Database, systems: Systems, snap: Snapshot, row: IncidentRow) -> Message:
    with db.tx() as s:
        lines = [_line(a) for a in incidents.actions_of(s, row.id)]
    view = dict(snap.view) | {"status": row.status, "severity": row.severity, "assignee": row.assignee}
    return summary(view, lines, snap.evidence, _links(systems, row))


def _line(action: ActionRow, *, undoable: bool | None = None) -> ActionLine:
    can_undo = action.status == "done" and action.inverse is not None and action.undo_of is None
    return ActionLine(id=action.id, name=action.name, target=action.target, status=action.status,
                      reason=action.reason, approved_by=action.approved_by,
                      undoable=can_undo if undoable is None else undoable)


def _links(systems: Systems, row: IncidentRow) -> list[tuple[SafeText, str]]:
    return [(title, url) for _, title, url in _link_targets(systems, row)]


def _link_targets(systems: Systems, row: IncidentRow) -> list[tuple[str, SafeText, str]]:
    """(key, title, URL) of what the incident links to; URLs come from configuration and ids, never alert text."""
    found: list[tuple[str, SafeText, str]] = []
    if row.jira_key:
        url = systems.tickets.browse_url(row.jira_key)
        found.append(("jira", compose("Jira {key}", key=redact(row.jira_key, max_len=64, pii=False)), url))
    book = runbook_for(row)
    base = systems.chat.settings.runbook_url
    if book is not None and base:
        found.append(("runbook", compose("Runbook {name}", name=redact(book.name, max_len=80, pii=False)),
                      f"{base.rstrip('/')}/{book.name}"))
    ui = _prefect_ui(systems.chat)
    if ui:
        found.append(("prefect", trusted("Prefect runs"), f"{ui.rstrip('/')}/artifacts/key/irflow-{row.id}"))
    return [(key, title, url) for key, title, url in found if url.startswith(("https://", "http://"))]


def _prefect_ui(chat: ChatOps) -> str | None:
    if chat.settings.prefect_ui_url:
        return chat.settings.prefect_ui_url
    from prefect.settings import get_current_settings

    return get_current_settings().ui_url


# --- on-call, bookmarks -----------------------------------------------------------------------------------------


def _invite_oncall(db: Database, chat: ChatOps, incident_id: str, channel: str) -> None:
    """Invite SLACK_ONCALL once per channel; who could not be invited is said in the timeline, not retried."""
    settings = chat.settings
    if not settings.oncall or _done(db, incident_id, INVITE, channel):
        return
    users, refused = list(settings.oncall_ids()), {}
    for email in settings.oncall_emails():
        user = chat.lookup_user_by_email(email)
        if user is None:
            refused[email] = "users_not_found"
        else:
            users.append(user)
    try:
        refused |= chat.invite(channel, users) if users else {}
    except SOFT_FAILURES as exc:
        refused |= {user: str(exc) for user in users}
    _record(db, incident_id, INVITE, channel, {"invited": sorted(set(users) - set(refused)), "refused": refused})
    if refused:
        with db.tx() as s:
            incidents.add_timeline(s, incident_id, "slack", "Could not invite to Slack: " +
                                   ", ".join(f"{who} ({why})" for who, why in sorted(refused.items())))


def _bookmarks(db: Database, systems: Systems, row: IncidentRow, channel: str) -> None:
    """Each link (Jira, runbook, Prefect) is bookmarked once, as soon as it is known."""
    for key, title, url in _link_targets(systems, row):
        if _done(db, row.id, BOOKMARK, key):
            continue
        try:
            bookmark_id = systems.chat.add_bookmark(channel, title, url)
        except SOFT_FAILURES as exc:
            log.warning("bookmark %s for %s refused: %s", key, row.id, exc)
            bookmark_id = ""
        _record(db, row.id, BOOKMARK, key, {"id": bookmark_id, "link": url})


# --- runbook checklist, approvals -------------------------------------------------------------------------------


def runbook_for(row: IncidentRow) -> Runbook | None:
    if not row.playbook:
        return None
    from irflow import runbook, runtime

    rt = runtime.get()
    book = rt.playbooks.get(row.playbook)
    if book is None:
        return None
    try:
        return runbook.load(book.runbook, rt.settings.runbooks)
    except RunbookError as exc:
        log.warning("runbook of playbook %s not shown in Slack: %s", row.playbook, exc)
        return None


def progress(s: Session, incident_id: str) -> dict[str, StepDone]:
    rows = s.execute(select(RunbookProgressRow).where(RunbookProgressRow.incident_id == incident_id)).scalars()
    return {r.step_id: StepDone(r.done_by, r.done_at) for r in rows}


def _runbook(db: Database, chat: ChatOps, row: IncidentRow, where: Place, *, repost: bool) -> str | None:
    book = runbook_for(row)
    if book is None:
        return None
    with db.tx() as s:
        msg = runbook_checklist(row.id, book, progress(s, row.id))
        old = [dict(rec.detail or {}) for rec in _records(s, row.id, RUNBOOK)] if repost else []
        for rec in _records(s, row.id, RUNBOOK) if repost else []:
            s.delete(rec)
    for detail in old:  # the earlier copy stops taking ticks, and says where the live one is
        note = trusted("This runbook checklist was posted again below; tick steps there.")
        chat.update(detail["channel"], detail["ts"], note, [{"type": "section", "text": {"type": "mrkdwn", "text": note}}])
    return _message(db, chat, row.id, RUNBOOK, RUNBOOK, where, msg)  # only the summary is pinned


def _refresh_approvals(db: Database, chat: ChatOps, incident_id: str) -> None:
    """Decided approval requests lose their buttons and say who decided: edited in place, once."""
    with db.tx() as s:
        pending = [(rec.external_key, dict(rec.detail or {})) for rec in _records(s, incident_id, APPROVAL)]
        actions = {key: s.get(ActionRow, key) for key, _ in pending if key}
        renders = {key: approval_request(incident_id, _line(a, undoable=False)) for key, a in actions.items() if a}
    for key, detail in pending:
        if key in renders and detail.get("ts"):
            _edit_if_changed(db, chat, incident_id, APPROVAL, key, detail["channel"], detail["ts"], renders[key])


# --- bookkeeping ------------------------------------------------------------------------------------------------


def _message(db: Database, chat: ChatOps, incident_id: str, kind: str, key: str, where: Place, msg: Message,
             *, pin: bool = False) -> str:
    """Post `msg` once (recorded under kind/key); afterwards edit it in place, and only when it changed."""
    with db.tx() as s:
        found = [dict(r.detail or {}) for r in _records(s, incident_id, kind, key)]
    if found and found[0].get("ts"):
        _edit_if_changed(db, chat, incident_id, kind, key, found[0]["channel"], found[0]["ts"], msg)
        return str(found[0]["ts"])
    ts = _send(chat, where, msg.text, msg.blocks, pin=pin)
    _record(db, incident_id, kind, key, {"ts": ts, "channel": where.channel, "digest": _digest(msg)})
    return ts


def _edit_if_changed(db: Database, chat: ChatOps, incident_id: str, kind: str, key: str, channel: str, ts: str,
                     msg: Message) -> None:
    digest = _digest(msg)
    with db.tx() as s:
        found = [dict(r.detail or {}) for r in _records(s, incident_id, kind, key)]
    if found and found[0].get("digest") == digest:
        return
    _edit(chat, channel, ts, msg.text, msg.blocks)
    _record(db, incident_id, kind, key, (found[0] if found else {}) | {"digest": digest, "ts": ts, "channel": channel})


def _send(chat: ChatOps, where: Place, text: SafeText, blocks: list[dict[str, Any]], *, pin: bool = False) -> str:
    """Post where the incident lives: in its thread if it has one (never pinned there), else in its channel."""
    return chat.post(where.channel, text, blocks, pin=pin and where.thread is None, thread_ts=where.thread)


def _edit(chat: ChatOps, channel: str, ts: str, text: SafeText, blocks: list[dict[str, Any]]) -> None:
    chat.update(channel, ts, text, blocks)


def _digest(msg: Message) -> str:
    return hashlib.sha256(json.dumps([msg.text, msg.blocks], sort_keys=True, default=str).encode()).hexdigest()


def _records(s: Session, incident_id: str, kind: str, key: str | None = None) -> list[ExternalIntentRow]:
    query = select(ExternalIntentRow).where(ExternalIntentRow.system == SYSTEM, ExternalIntentRow.kind == kind,
                                            ExternalIntentRow.incident_id == incident_id)
    if key is not None:
        query = query.where(ExternalIntentRow.external_key == key)
    return list(s.execute(query.order_by(ExternalIntentRow.id)).scalars())


def _record(db: Database, incident_id: str, kind: str, key: str, detail: dict[str, Any]) -> None:
    with db.tx() as s:
        found = _records(s, incident_id, kind, key)
        now = utcnow()
        if found:
            found[0].detail, found[0].state, found[0].updated_at = detail, "done", now
            return
        s.add(ExternalIntentRow(system=SYSTEM, kind=kind, incident_id=incident_id, state="done", external_key=key,
                                detail=detail, created_at=now, updated_at=now))


def _done(db: Database, incident_id: str, kind: str, key: str) -> bool:
    with db.tx() as s:
        return bool(_records(s, incident_id, kind, key))


def _row(db: Database, incident_id: str) -> IncidentRow:
    with db.tx() as s:
        return incidents.get(s, incident_id)
