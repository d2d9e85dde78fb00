"""Tamper-evident audit log: append-only, each event chained to the previous one by SHA-256."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from irflow.models import AuditEvent, canonical_json, sha256_hex, utcnow
from irflow.store.tables import AuditRow

GENESIS = "0" * 64


def _digest(prev_hash: str, seq: int, at: str, actor: str, kind: str, subject: str, data: dict[str, Any]) -> str:
    body = canonical_json({"seq": seq, "at": at, "actor": actor, "kind": kind, "subject": subject, "data": data})
    return sha256_hex(prev_hash + body)


def append(session: Session, *, actor: str, kind: str, subject: str, data: dict[str, Any] | None = None) -> AuditRow:
    """Add one event in the caller's transaction, so the audit entry commits with the change it records.

    The chain's tail is looked up once per transaction: the transaction holds the write lock (SQLite's
    BEGIN IMMEDIATE, PostgreSQL's advisory lock below) from then until it ends, so no other writer can
    extend the chain meanwhile, and later appends in the same transaction continue from the row kept in
    `session.info` (a group commit of many submissions appends many events without re-reading). The row is
    inserted at once (a Core INSERT, so no unit-of-work flush); the returned AuditRow is a detached copy."""
    tx = session.get_transaction()
    cached = session.info.get(_TAIL)
    last: Any
    if cached is not None and cached[0] is tx and tx is not None and not session.in_nested_transaction():
        last = cached[1]
    else:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(7246001)"))  # one writer extends the chain
        last = session.execute(_LAST).first()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow()
    payload = data or {}
    values = {"seq": seq, "at": at, "actor": actor, "kind": kind, "subject": subject, "data": payload,
              "prev_hash": prev, "hash": _digest(prev, seq, at.isoformat(), actor, kind, subject, payload)}
    session.execute(_INSERT, values)  # in the caller's transaction, at once (no ORM flush)
    row = AuditRow(**values)
    if tx is not None and not session.in_nested_transaction():
        session.info[_TAIL] = (tx, row)
    else:
        session.info.pop(_TAIL, None)  # a savepoint may roll back: read the tail again next time
    return row


_TAIL = "irflow.audit.tail"
_INSERT = insert(cast(Table, AuditRow.__table__))
_LAST = select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
"""The chain's tail: (seq, hash) of the newest event (with autoflush, any event added before is counted)."""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None


def _events(session: Session) -> Iterator[AuditRow]:
    yield from session.execute(select(AuditRow).order_by(AuditRow.seq)).scalars()


def verify(session: Session) -> VerifyResult:
    """Walk the chain; report the first event whose link or content does not match."""
    prev, expected_seq, checked = GENESIS, 1, 0
    for row in _events(session):
        at = row.at.isoformat()
        if row.seq != expected_seq:
            return VerifyResult(False, checked, row.seq, f"gap: expected seq {expected_seq}, found {row.seq}")
        if row.prev_hash != prev:
            return VerifyResult(False, checked, row.seq, "prev_hash does not match the previous event")
        if row.hash != _digest(prev, row.seq, at, row.actor, row.kind, row.subject, row.data):
            return VerifyResult(False, checked, row.seq, "content does not match its hash")
        prev, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    return VerifyResult(True, checked)


def export(session: Session) -> Iterable[AuditEvent]:
    for row in _events(session):
        yield AuditEvent.model_validate(row, from_attributes=True)


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(AuditRow)).scalar_one()
