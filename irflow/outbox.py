"""The outbox: Slack/Jira side effects are rows written in the transaction that changed the state they
report, and delivered later by `deliver_pending`. Containment never waits on Slack or Jira, a crash
never loses a notification, and a storm of updates to one incident coalesces into one delivery.

Each system gets rows of its own. A state change writes one row without a target ("every system that
handles this kind"); the deliverer fans it out into one row per system (slack, jira, prefect), each with
its own attempts, backoff, lease and coalescing, and delivers each system's rows in a lane of its own, the
lanes side by side. So Jira being down, slow or rate limited never holds up the Slack channel, the approval
buttons or an SLA notice, and a Slack outage never holds up the Jira issue. Rows written before targets
existed (revision 0008) have no target either, and are fanned out the same way.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, Select, Table, insert, select, update
from sqlalchemy.orm import Session

from irflow.connectors.errors import AuthError, ConnectorError, RateLimited
from irflow.models import utcnow
from irflow.store.tables import OutboxRow

if TYPE_CHECKING:
    from irflow.store.engine import Database
    from irflow.systems import Systems

PENDING, DELIVERING, DELIVERED, FAILED = "pending", "delivering", "delivered", "failed"
FANNED_OUT = "fanned_out"
"""A target-less row whose per-system rows have been written: its work lives on in them."""
log = logging.getLogger("irflow.outbox")
MAX_ATTEMPTS = 8
AUTH_RETRY = timedelta(minutes=5)
"""How long an item refused for authentication waits before it is tried again."""
LEASE = timedelta(minutes=5)
"""A claimed item whose deliverer died is claimed again after this; handlers are idempotent (they check
what exists before creating), so a second attempt after a crash does not duplicate."""


class Target(StrEnum):
    """The systems outbox rows are delivered to: one lane each."""

    SLACK = "slack"
    JIRA = "jira"
    PREFECT = "prefect"


Handler = Callable[["Database", "Systems", OutboxRow], None]
Handlers = Mapping[str, Mapping[str, Handler]]
"""kind -> the system (a `Target` value) it goes to -> what delivers it there."""


class ItemNotReady(RateLimited):
    """This one item cannot go yet (e.g. Jira search has not settled after a lost create): retried after
    `retry_after`. Its system is fine, so unlike a plain RateLimited it does not hold back the rest of the lane."""

    def __init__(self, message: str, *, retry_after: float, system: str = "") -> None:
        super().__init__(message, retry_after=retry_after, system=system, status=None)


def enqueue(session: Session, kind: str, incident_id: str | None, payload: dict[str, Any] | None = None, *,
            target: str | None = None) -> None:
    """Queue a side effect for every system that handles `kind`, or for `target` alone (e.g. refreshing the
    Slack summary once the Jira issue exists). An identical pending one (same kind, incident, payload and
    target) is already enough, which turns a storm of updates to one incident into one delivery per system."""
    body = payload or {}
    if incident_id is not None and _pending(session, kind, incident_id, body, target):
        return
    now = utcnow()
    # A Core INSERT in the caller's transaction (not an ORM object waiting for a flush): the row is there at
    # once for the check above, and intake's group commit pays no unit-of-work flush for it.
    session.execute(_INSERT, {"kind": kind, "incident_id": incident_id, "target": target, "payload": body,
                              "status": PENDING, "attempts": 0, "next_attempt_at": now, "last_error": None,
                              "created_at": now, "delivered_at": None})


_INSERT = insert(cast(Table, OutboxRow.__table__))


def queued_for(session: Session, incident_id: str, target: str) -> bool:
    """Is anything for `target` about this incident waiting to be delivered (its own rows, or rows not yet
    fanned out)? A refresh is then redundant: that delivery reads the incident as it is by then. A row being
    delivered right now does not count: it may have read the incident before the caller's change."""
    query = select(OutboxRow.id).where(
        OutboxRow.incident_id == incident_id, OutboxRow.status == PENDING,
        (OutboxRow.target == target) | OutboxRow.target.is_(None)).limit(1)
    return session.execute(query).first() is not None


def _pending(session: Session, kind: str, incident_id: str, payload: dict[str, Any], target: str | None) -> bool:
    """Only a pending row coalesces: one being delivered may have read the incident before this change."""
    aimed = OutboxRow.target.is_(None) if target is None else OutboxRow.target == target
    query = select(OutboxRow.payload).where(OutboxRow.kind == kind, OutboxRow.incident_id == incident_id,
                                            OutboxRow.status == PENDING, aimed)
    return any(existing == payload for existing in session.execute(query).scalars())


def deliver_pending(db: Database, systems: Systems, handlers: Handlers, limit: int = 100) -> int:
    """Fan new items out per system, then deliver what is due, each system's items in a lane of its own.

    Returns how many items were handled (fanned out or delivered), so callers loop while there is work;
    errors are typed and kept on the row. `limit` applies per lane, so one system's backlog never crowds
    another's items out of a pass.
    """
    targets = sorted({target for routes in handlers.values() for target in routes})
    with db.tx() as s:  # one transaction (one write lock, one commit) for both: an idle pass stays cheap
        fanned = _fan_out(s, handlers, limit)
        lanes = _claim(s, targets, limit)
    return fanned + _run_lanes(db, systems, handlers, list(lanes.values()))


def pending_count(db: Database) -> int:
    with db.tx() as s:
        return len(s.execute(select(OutboxRow.id).where(OutboxRow.status.in_((PENDING, DELIVERING)))).all())


# --- fan-out and claims ---------------------------------------------------------------------------------


def _fan_out(s: Session, handlers: Handlers, limit: int) -> int:
    """Turn due target-less rows into one row per system, in the caller's transaction: a crash leaves the
    original or its copies, never both or neither. A copy coalesces with an identical pending row of its
    system (one backing off while that system is down, say)."""
    now = utcnow()
    rows = _locked(s, _due(now, OutboxRow.target.is_(None), limit))
    for row in rows:
        routes = handlers.get(row.kind, {})
        for target in routes:
            enqueue(s, row.kind, row.incident_id, row.payload, target=target)
        row.status, row.delivered_at = (FANNED_OUT, now) if routes else (FAILED, None)
        row.last_error = None if routes else f"no handler for outbox kind {row.kind!r}"
    return len(rows)


def _claim(s: Session, targets: list[str], limit: int) -> dict[str, list[OutboxRow]]:
    """Claim each system's due rows, oldest first, so two processes (serve and a CLI command) never deliver
    the same one: SQLite's write lock serializes the claim; PostgreSQL skips rows another claimer holds.
    Rows aimed at a system no handler knows are claimed too, to be failed."""
    now = utcnow()
    lanes = {target: _locked(s, _due(now, OutboxRow.target == target, limit)) for target in targets}
    lanes["(unhandled)"] = _locked(s, _due(now, OutboxRow.target.not_in(targets), limit))
    for row in (row for rows in lanes.values() for row in rows):
        row.status, row.next_attempt_at = DELIVERING, now + LEASE
    return {target: rows for target, rows in lanes.items() if rows}


def _due(now: datetime, aimed: ColumnElement[bool], limit: int) -> Select[OutboxRow]:
    return (select(OutboxRow)
            .where(aimed, OutboxRow.status.in_((PENDING, DELIVERING)), OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.id).limit(limit))


def _locked(s: Session, query: Select[OutboxRow]) -> list[OutboxRow]:
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(s.execute(query).scalars())


# --- the lanes ------------------------------------------------------------------------------------------


def _run_lanes(db: Database, systems: Systems, handlers: Handlers, lanes: list[list[OutboxRow]]) -> int:
    """Each lane in a thread of its own, so a system that is slow to answer (a timeout, slack_sdk sleeping
    through a 429) delays only its own items. Each thread runs in a copy of the caller's context, so what
    the caller set there (Prefect's settings, say) holds in the lane too. A single lane runs inline."""
    if len(lanes) < 2:
        return sum(_deliver_lane(db, systems, handlers, rows) for rows in lanes)
    with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="irflow-outbox") as pool:
        futures = [pool.submit(contextvars.copy_context().run, _deliver_lane, db, systems, handlers, rows)
                   for rows in lanes]
        return sum(future.result() for future in futures)


def _deliver_lane(db: Database, systems: Systems, handlers: Handlers, rows: list[OutboxRow]) -> int:
    """One system's rows, oldest first. At the first failure that says the system itself is unwell (down,
    timing out, rate limited) the rest of the lane waits as long as that item does: while a system is down
    it gets one probe per backoff, not one timeout per item, and Retry-After holds for all its items."""
    delivered, leased_at = 0, time.monotonic()
    for index, row in enumerate(rows):
        if time.monotonic() - leased_at > LEASE.total_seconds() / 2:  # a slow lane keeps what it claimed
            _renew(db, [later.id for later in rows[index:]])
            leased_at = time.monotonic()
        error = _deliver_one(db, systems, handlers, row)
        if error is None:
            delivered += 1
        elif error.retryable and not isinstance(error, ItemNotReady):
            _hold_back(db, [later.id for later in rows[index + 1:]], _retry_at(error, row.attempts + 1), error)
            break
    return delivered


def _deliver_one(db: Database, systems: Systems, handlers: Handlers, row: OutboxRow) -> ConnectorError | None:
    handler = handlers.get(row.kind, {}).get(row.target or "")
    error: ConnectorError | None = None
    if handler is None:
        error = ConnectorError(f"no handler for outbox kind {row.kind!r} in system {row.target!r}")
    else:
        try:
            handler(db, systems, row)
        except ConnectorError as exc:
            error = exc
    _record(db, row.id, error)
    return error


def _record(db: Database, row_id: int, error: ConnectorError | None) -> None:
    with db.tx() as s:
        row = s.get(OutboxRow, row_id)
        assert row is not None
        row.attempts += 1
        if error is None:
            row.status, row.delivered_at, row.last_error = DELIVERED, utcnow(), None
            return
        row.last_error = str(error)[:2000]
        log.warning("outbox %s #%s (%s) for %s failed (attempt %s): %s", row.kind, row.id, row.target,
                    row.incident_id, row.attempts, error)
        if isinstance(error, AuthError) and row.attempts < MAX_ATTEMPTS:
            # A revoked token or a missing scope is fixed by a person, then a restart: keep the notification
            # until then (MAX_ATTEMPTS x AUTH_RETRY) instead of losing every one queued meanwhile.
            row.status, row.next_attempt_at = PENDING, utcnow() + AUTH_RETRY
            return
        if not error.retryable or row.attempts >= MAX_ATTEMPTS:
            row.status = FAILED
            return
        row.status, row.next_attempt_at = PENDING, _retry_at(error, row.attempts)


def _retry_at(error: ConnectorError, attempts: int) -> datetime:
    delay = error.retry_after if isinstance(error, RateLimited) else min(2**attempts, 300)
    return utcnow() + timedelta(seconds=delay)


def _renew(db: Database, row_ids: list[int]) -> None:
    """Extend the lease on claimed rows not delivered yet, so another deliverer does not take them over."""
    with db.tx() as s:
        s.execute(update(OutboxRow).where(OutboxRow.id.in_(row_ids), OutboxRow.status == DELIVERING)
                  .values(next_attempt_at=utcnow() + LEASE))


def _hold_back(db: Database, row_ids: Iterable[int], until: datetime, error: ConnectorError) -> None:
    """Put claimed rows back untried (no attempt counted) until their system is tried again."""
    ids = list(row_ids)
    if not ids:
        return
    with db.tx() as s:
        s.execute(update(OutboxRow).where(OutboxRow.id.in_(ids))
                  .values(status=PENDING, next_attempt_at=until, last_error=f"held back: {error}"[:2000]))
    log.info("outbox: %s item(s) held back until %s: %s", len(ids), until.isoformat(), error)
