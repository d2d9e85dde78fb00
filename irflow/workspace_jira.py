"""The incident's Jira issue: opened once (never twice), then kept in step with the incident.

Never twice: an intent row (ExternalIntentRow jira/issue) is committed before the create, the issue is
searched for by its `irflow-<incident id>` label before every create, and when an earlier attempt may
have created an issue that Cloud's eventually consistent search cannot see yet, the retry waits for the
search to settle instead of creating again. What still slips through is closed by the reconciler
(irflow.jira_sync). The intent's `detail` remembers what the issue already says (priority, status,
description digest, links, the last timeline entry commented), so each sync sends only what changed, and
timeline entries go out as one batched comment at most every `comment_interval_s`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from irflow import audit, incidents, outbox
from irflow.connectors.errors import ConnectorError, InvalidRequest, RateLimited
from irflow.connectors.jira.interface import Attributes, Ticketing
from irflow.models import utcnow
from irflow.redaction import SafeText, compose, redact, trusted
from irflow.render import incident_heading, jira_priority, join_lines, summary_text
from irflow.store.engine import Database
from irflow.store.tables import ExternalIntentRow, TimelineRow
from irflow.systems import Systems

if TYPE_CHECKING:
    from irflow.workspace import Snapshot

SYSTEM, KIND = "jira", "issue"
PENDING, CREATED = "pending", "created"
COMMENT_MAX_LINES = 25
OWN_TIMELINE_KINDS = {"jira"}  # entries about the issue itself are not echoed into it


class SearchNotSettled(outbox.ItemNotReady):
    """An earlier attempt may have created the issue and search may not show it yet: retry later. Only this
    incident waits; Jira itself is fine, so the other incidents' Jira items go on."""


def sync(db: Database, systems: Systems, snap: Snapshot) -> str:
    """Open the issue if the incident has none, then bring priority, status, links and timeline up to date."""
    key = ensure_issue(db, systems.tickets, snap)
    if snap.row.jira_key is None:
        # Opened just now, from a snapshot read before: Slack's half runs alongside and may have created the
        # channel meanwhile. Read the incident again; from here on Slack sees the key and queues a refresh.
        from irflow.workspace import snapshot

        snap = snapshot(db, snap.row.id)
    refresh(db, systems.tickets, snap, key)
    return key


def ensure_issue(db: Database, tickets: Ticketing, snap: Snapshot) -> str:
    """The incident's issue key, creating the issue at most once across crashes and retries."""
    row = snap.row
    detail, key = _begin(db, row.id, row.jira_key)
    if row.jira_key:
        return row.jira_key
    created = False
    if key is None:
        key = tickets.find_issue(row.id)
    if key is None:
        _settle_or_raise(detail, tickets.policy.search_settle_s)
        remember(db, row.id, create_started_at=utcnow().isoformat())
        key, created = _create(db, tickets, snap), True
    _adopt(db, snap, key, created=created)
    return key


def _create(db: Database, tickets: Ticketing, snap: Snapshot) -> str:
    try:
        return tickets.create_issue(
            snap.row.id, incident_heading(snap.view), description(snap), jira_priority(snap.row.severity),
            ["irflow", f"category-{snap.row.category}"], attributes=attributes(snap),
        )
    except ConnectorError as exc:
        if not exc.retryable or isinstance(exc, RateLimited):
            remember(db, snap.row.id, create_started_at=None)  # refused outright: nothing was created
        if not exc.retryable:  # e.g. a required custom field: say so where responders look, in Jira's words
            _note(db, snap.row.id, f"Jira issue could not be opened: {exc}")
        raise


def _settle_or_raise(detail: dict[str, Any], settle_s: float) -> None:
    """Refuse to create while an earlier, unanswered create may still be invisible to search."""
    started = detail.get("create_started_at")
    if not started:
        return
    waited = (utcnow() - datetime.fromisoformat(started)).total_seconds()
    if waited < settle_s:
        raise SearchNotSettled(
            f"an earlier create for this incident got no answer; searching again in {settle_s - waited:.0f} s "
            "before creating", retry_after=settle_s - waited, system=SYSTEM)


def refresh(db: Database, tickets: Ticketing, snap: Snapshot, key: str) -> None:
    """Send what changed since the last sync; each step is remembered as soon as Jira has it."""
    row = snap.row
    detail = intent_detail(db, row.id)
    body = description(snap)
    priority = jira_priority(row.severity)
    if priority != detail.get("priority") or _digest(body) != detail.get("description_digest"):
        try:
            tickets.update_issue(key, priority=priority, description=body, attributes=attributes(snap))
        except InvalidRequest as exc:  # e.g. priority not on the edit screen: reported, not retried
            _note(db, row.id, f"Jira issue {key} not updated: {exc}")
        remember(db, row.id, priority=priority, description_digest=_digest(body))
    if row.status != detail.get("status"):
        _move(db, tickets, key, row.id, row.status)
    _link_slack(db, tickets, snap, key, detail)
    _link_runbook(db, tickets, snap, key, detail)
    flush_timeline(db, tickets, row.id, key)


def _move(db: Database, tickets: Ticketing, key: str, incident_id: str, status: str) -> None:
    """Follow the incident's status; a workflow without a matching transition is reported once, not retried."""
    try:
        tickets.set_status(key, status)
    except InvalidRequest as exc:
        _note(db, incident_id, f"Jira issue {key} not moved: {exc}")
    remember(db, incident_id, status=status)


def _note(db: Database, incident_id: str, text: str) -> None:
    """A timeline entry about the issue itself (kind "jira": shown by irflow, never echoed into Jira)."""
    with db.tx() as s:
        incidents.add_timeline(s, incident_id, "jira", text)


def _link_slack(db: Database, tickets: Ticketing, snap: Snapshot, key: str, detail: dict[str, Any]) -> None:
    channel = snap.row.slack_channel
    if not channel or detail.get("slack_link") == channel:
        return
    url = tickets.policy.slack_channel_url.format(channel=channel)
    tickets.add_remote_link(key, url, compose("Slack channel {c}", c=redact(channel)), f"irflow-slack-{snap.row.id}")
    remember(db, snap.row.id, slack_link=channel)


def _link_runbook(db: Database, tickets: Ticketing, snap: Snapshot, key: str, detail: dict[str, Any]) -> None:
    """Link the playbook's runbook where JIRA_RUNBOOK_URL says runbooks are published."""
    playbook, template = snap.row.playbook, tickets.policy.runbook_url
    if not playbook or not template or detail.get("runbook_link") == playbook:
        return
    tickets.add_remote_link(key, template.format(playbook=playbook), compose("Runbook {p}", p=redact(playbook)),
                            f"irflow-runbook-{snap.row.id}")
    remember(db, snap.row.id, runbook_link=playbook)


def flush_timeline(db: Database, tickets: Ticketing, incident_id: str, key: str, *, force: bool = False) -> bool:
    """Post the timeline entries not yet in Jira as one comment, at most every `comment_interval_s`.

    A storm of alerts and escalations becomes one comment per interval, not one per event; what is
    held back goes out with the next sync or the reconciler's tick. True when a comment was posted.
    """
    detail = intent_detail(db, incident_id)
    last = detail.get("commented_at")
    if not force and last and (utcnow() - datetime.fromisoformat(last)).total_seconds() < tickets.policy.comment_interval_s:
        return False
    cursor = int(detail.get("timeline_cursor", 0))
    with db.tx() as s:
        entries = [(t.id, t.at, t.kind, t.text) for t in s.execute(
            select(TimelineRow).where(TimelineRow.incident_id == incident_id, TimelineRow.id > cursor)
            .order_by(TimelineRow.id)).scalars()]
    shown = [e for e in entries if e[2] not in OWN_TIMELINE_KINDS]
    if shown:
        tickets.add_comment(key, timeline_comment(shown))
    if entries:
        remember(db, incident_id, timeline_cursor=entries[-1][0], **({"commented_at": utcnow().isoformat()} if shown else {}))
    return bool(shown)


def timeline_comment(entries: list[tuple[int, datetime, str, str]]) -> SafeText:
    """One comment for a batch of timeline entries; the oldest are summarised past COMMENT_MAX_LINES."""
    lines = [trusted("irflow timeline:")]
    skipped = max(0, len(entries) - COMMENT_MAX_LINES)
    if skipped:
        lines.append(compose("({n} earlier entries: see `irflow incidents show`)", n=skipped))
    for _, at, kind, text in entries[skipped:]:
        lines.append(compose("{at} {kind}: {text}", at=redact(f"{at:%Y-%m-%d %H:%M:%S}Z"), kind=redact(kind),
                             text=redact(text, max_len=500, pii=False)))
    return join_lines(lines)


def comment_actions(db: Database, systems: Systems, snap: Snapshot) -> None:
    """After a response: one comment listing the actions, unless the same list was already posted."""
    row = snap.row
    if not row.jira_key or not snap.actions:
        return
    lines = [compose("{n}: {s}", n=redact(a["name"]), s=redact(a["status"])) for a in snap.actions]
    body = compose("irflow response for {id} ({status}):\n{lines}", id=redact(row.id), status=redact(row.status),
                   lines=redact("\n".join(lines), max_len=4000))
    if _digest(body) == intent_detail(db, row.id).get("actions_digest"):
        return
    systems.tickets.add_comment(row.jira_key, body)
    remember(db, row.id, actions_digest=_digest(body))


def description(snap: Snapshot) -> SafeText:
    """The issue description: the incident summary (redacted evidence, actor, category, OWASP/ATLAS,
    enrichment, actions) and where to go next. Links themselves are remote links, never text, so alert
    text can never pose as one."""
    lines = [summary_text(snap.view, snap.actions, snap.evidence)]
    if snap.row.slack_channel:
        lines.append(compose("Slack channel: {c} (see Links)", c=redact(snap.row.slack_channel)))
    if snap.row.playbook:
        lines.append(compose("Playbook and runbook: {p}", p=redact(snap.row.playbook)))
    return join_lines(lines)


def attributes(snap: Snapshot) -> Attributes:
    """What a configured custom field may carry; identifiers keep PII (responders need the user)."""
    view, row = snap.view, snap.row
    actor = view["actor"].get("user") or view["actor"].get("api_key") or view["actor"].get("ip") or "unknown"
    return {
        "severity": redact(row.severity.capitalize()), "category": redact(row.category),
        "incident_id": redact(row.id), "status": redact(row.status), "playbook": redact(row.playbook or "none"),
        "owasp": [redact(x) for x in row.owasp], "atlas": [redact(x) for x in row.atlas],
        "actor": redact(actor, max_len=200, pii=False), "alert_count": redact(str(row.alert_count)),
    }


# --- the intent record ----------------------------------------------------------------------------

def intent(s: Session, incident_id: str) -> ExternalIntentRow | None:
    """The incident's Jira issue intent (the first, should two processes have raced to write one)."""
    query = (select(ExternalIntentRow).where(ExternalIntentRow.system == SYSTEM, ExternalIntentRow.kind == KIND,
                                             ExternalIntentRow.incident_id == incident_id)
             .order_by(ExternalIntentRow.id).limit(1))
    return s.execute(query).scalar_one_or_none()


def intent_detail(db: Database, incident_id: str) -> dict[str, Any]:
    with db.tx() as s:
        row = intent(s, incident_id)
        return dict(row.detail or {}) if row else {}


def _begin(db: Database, incident_id: str, known_key: str | None) -> tuple[dict[str, Any], str | None]:
    """Write the intent before anything is created; a created one returns its key (crash after create).

    An incident that got its key before intents existed gets a created intent, so syncs have a memory.
    """
    with db.tx() as s:
        row = intent(s, incident_id)
        if row is not None and (row.state == CREATED or known_key):
            if known_key and row.state != CREATED:
                row.state, row.external_key = CREATED, known_key
            return dict(row.detail or {}), row.external_key
        now = utcnow()
        if row is None:
            row = ExternalIntentRow(system=SYSTEM, kind=KIND, incident_id=incident_id, state=PENDING, external_key=None,
                                    detail={}, created_at=now, updated_at=now)
            s.add(row)
        if known_key:
            row.state, row.external_key = CREATED, known_key
        else:
            row.detail = {**(row.detail or {}), "attempts": int((row.detail or {}).get("attempts", 0)) + 1}
        return dict(row.detail or {}), row.external_key


def remember(db: Database, incident_id: str, **changes: Any) -> None:
    """Note what the issue now says (e.g. a status a person set in Jira, which irflow must not undo)."""
    with db.tx() as s:
        row = intent(s, incident_id)
        if row is not None:
            row.detail = {**(row.detail or {}), **changes}  # reassigned: JSON columns do not track in-place edits
            row.updated_at = utcnow()


def _adopt(db: Database, snap: Snapshot, key: str, *, created: bool) -> None:
    """Record the key on the intent and the incident in one transaction, and queue a Slack refresh in it.

    An issue created just now says what this snapshot says; one found by search (an earlier attempt's)
    may not, so nothing is assumed about it and the next refresh sends everything. Slack's half of the
    incident went ahead without the issue (it never waits for Jira), so its summary and bookmarks learn
    the link from the refresh.
    """
    known = {"status": "open", "priority": jira_priority(snap.row.severity),
             "description_digest": _digest(description(snap))} if created else {"status": None}
    with db.tx() as s:
        row = intent(s, snap.row.id)
        assert row is not None
        row.state, row.external_key, row.updated_at = CREATED, key, utcnow()
        row.detail = {**(row.detail or {}), "created_at": utcnow().isoformat(), **known}
        incidents.get(s, snap.row.id).jira_key = key
        incidents.add_timeline(s, snap.row.id, "jira", f"Jira issue {key} opened")
        audit.append(s, actor="irflow", kind="jira.issue_opened", subject=snap.row.id,
                     data={"key": key, "found_by_search": not created})
        outbox.enqueue(s, "incident.updated", snap.row.id, target=outbox.Target.SLACK)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
