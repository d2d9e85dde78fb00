"""The outbox: Slack/Jira side effects are rows written in the transaction that changed the state they
report, and delivered later by `deliver_pending`. Containment never waits on Slack or Jira, a crash
never loses a notification, and a storm of updates to one incident coalesces into one delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from irflow.connectors.errors import ConnectorError, RateLimited
from irflow.models import utcnow
from irflow.store.tables import OutboxRow

if TYPE_CHECKING:
    from irflow.store.engine import Database
    from irflow.systems import Systems

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
log = logging.getLogger("irflow.outbox")
MAX_ATTEMPTS = 8


def enqueue(session: Session, kind: str, incident_id: str | None, payload: dict[str, Any] | None = None) -> None:
    """Queue a side effect; an identical pending one (same kind, incident and payload) is already enough,
    which is what turns a storm of updates to one incident into one delivery."""
    if incident_id is not None:
        query = select(OutboxRow.payload).where(
            OutboxRow.kind == kind, OutboxRow.incident_id == incident_id, OutboxRow.status == PENDING
        )
        if any(existing == (payload or {}) for existing in session.execute(query).scalars()):
            return
    now = utcnow()
    # A Core INSERT in the caller's transaction (not an ORM object waiting for a flush): the row is there at
    # once for the check above, and intake's group commit pays no unit-of-work flush for it.
    session.execute(_INSERT, {"kind": kind, "incident_id": incident_id, "payload": payload or {}, "status": PENDING,
                              "attempts": 0, "next_attempt_at": now, "last_error": None, "created_at": now,
                              "delivered_at": None})


_INSERT = insert(cast(Table, OutboxRow.__table__))


Handler = Callable[["Database", "Systems", OutboxRow], None]


DELIVERING = "delivering"
LEASE = timedelta(minutes=5)
"""A claimed item whose deliverer died is claimed again after this; handlers are idempotent (they check
what exists before creating), so a second attempt after a crash does not duplicate."""


def _due(db: Database, limit: int) -> list[OutboxRow]:
    """Claim due items in one transaction, so two processes (serve and a CLI command) never deliver the same
    one: SQLite's write lock serializes the claim; PostgreSQL skips rows another claimer holds."""
    now = utcnow()
    with db.tx() as s:
        query = (
            select(OutboxRow)
            .where(OutboxRow.status.in_((PENDING, DELIVERING)), OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.id)
            .limit(limit)
        )
        if s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(s.execute(query).scalars())
        for row in rows:
            row.status, row.next_attempt_at = DELIVERING, now + LEASE
        return rows


def _record(db: Database, row_id: int, error: ConnectorError | None) -> None:
    with db.tx() as s:
        row = s.get(OutboxRow, row_id)
        assert row is not None
        row.attempts += 1
        if error is None:
            row.status, row.delivered_at, row.last_error = DELIVERED, utcnow(), None
            return
        row.last_error = str(error)[:2000]
        log.warning("outbox %s #%s for %s failed (attempt %s): %s", row.kind, row.id, row.incident_id, row.attempts, error)
        if not error.retryable or row.attempts >= MAX_ATTEMPTS:
            row.status = FAILED
            return
        delay = error.retry_after if isinstance(error, RateLimited) else min(2**row.attempts, 300)
        row.status, row.next_attempt_at = PENDING, utcnow() + timedelta(seconds=delay)


def deliver_pending(db: Database, systems: Systems, handlers: dict[str, Handler], limit: int = 100) -> int:
    """Deliver what is due, oldest first; returns how many were delivered. Errors are typed and kept."""
    delivered = 0
    for row in _due(db, limit):
        handler = handlers.get(row.kind)
        if handler is None:
            _record(db, row.id, ConnectorError(f"no handler for outbox kind {row.kind!r}"))
            continue
        try:
            handler(db, systems, row)
        except ConnectorError as exc:
            _record(db, row.id, exc)
            continue
        _record(db, row.id, None)
        delivered += 1
    return delivered


def pending_count(db: Database) -> int:
    with db.tx() as s:
        return len(s.execute(select(OutboxRow.id).where(OutboxRow.status.in_((PENDING, DELIVERING)))).all())
