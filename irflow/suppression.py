"""Suppression (snooze) rules: alerts matching a rule are stored (nothing is lost) but open no incident
and trigger nothing until the rule expires. Adding and removing rules is audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from irflow import audit, rbac
from irflow.models import Alert, utcnow
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import SuppressionRow


class SuppressionError(ValueError):
    pass


def add(db: Database, settings: IrflowSettings, principal: str, *, actor: str | None, category: str | None,
        source: str | None, hours: float, reason: str) -> int:
    rbac.require(db, settings, principal, "automation", "suppression")
    if not (actor or category or source):
        raise SuppressionError("a rule needs at least one of --actor, --category, --source")
    if not reason.strip():
        raise SuppressionError("say why (--reason): suppressions are reviewed")
    now = utcnow()
    with db.tx() as s:
        row = SuppressionRow(actor=actor, category=category, source=source, reason=reason, created_by=principal,
                             created_at=now, expires_at=now + timedelta(hours=hours), hits=0)
        s.add(row)
        s.flush()
        audit.append(s, actor=principal, kind="suppression.added", subject=str(row.id),
                     data={"actor": actor, "category": category, "source": source, "hours": hours, "reason": reason})
        return row.id


def remove(db: Database, settings: IrflowSettings, principal: str, rule_id: int) -> None:
    rbac.require(db, settings, principal, "automation", "suppression")
    with db.tx() as s:
        row = s.get(SuppressionRow, rule_id)
        if row is None:
            raise SuppressionError(f"no suppression rule {rule_id}")
        row.expires_at = utcnow()
        audit.append(s, actor=principal, kind="suppression.removed", subject=str(rule_id))


def active(session: Session, now: datetime | None = None) -> list[SuppressionRow]:
    query = select(SuppressionRow).where(SuppressionRow.expires_at > (now or utcnow())).order_by(SuppressionRow.id)
    return list(session.execute(query).scalars())


def matching(rules: list[SuppressionRow], alert: Alert) -> SuppressionRow | None:
    actor_values = {v for v in alert.actor.model_dump().values() if v}
    for rule in rules:
        if ((rule.actor is None or rule.actor in actor_values) and (rule.category in (None, alert.category.value))
                and (rule.source in (None, alert.source))):
            return rule
    return None
