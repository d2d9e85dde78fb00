"""Volume detectors: what no single guardrail sees. A key or end user making far more calls, burning far
more tokens or spending far more than anyone should within a few minutes is how model extraction and cost
abuse look from the gateway.

Intake counts each unflagged call a gateway logs (LiteLLM's telemetry, `Ignored.usage`) into per-minute
buckets per key (all its users) and per end user under the key they called with, in the same transaction as the rest of the submission (one upsert per
subject and minute, however many calls). The worker's tick then compares the last
`usage_window_minutes` with the limits and raises an irflow alert for each subject over one: category
model_extraction for calls and tokens, cost_abuse for spend. The alert goes through intake like any other,
so it correlates with the actor's other alerts, runs the playbook, and fires once per window (its vendor id
names the window; intake drops the repeat). irflow.orchestrate.check_usage does that part.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from irflow.models import Usage, utcnow
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import UsageRow

SOURCE = "irflow-usage"
KEEP_WINDOWS = 3
"""Buckets older than this many windows are deleted by the check: nothing reads them any more."""


@dataclass(frozen=True)
class Limit:
    metric: str
    column: str
    category: str
    severity: str
    what: str


LIMITS = (
    Limit("requests", "requests", "model_extraction", "high", "calls"),
    Limit("tokens", "tokens", "model_extraction", "high", "tokens"),
    Limit("cost", "cost", "cost_abuse", "medium", "USD of spend"),
)


def record(session: Session, usages: list[Usage]) -> None:
    """Add the calls to their subjects' minute buckets (inside the caller's transaction)."""
    sums: dict[tuple[str | None, str | None, datetime], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for usage in usages:
        bucket = usage.at.replace(second=0, microsecond=0)
        for key, user in _subjects(usage):
            counts = sums[(key, user, bucket)]
            counts[0] += 1
            counts[1] += usage.tokens
            counts[2] += usage.cost
    if not sums:
        return
    rows = [{"subject": _digest(key, user), "bucket": bucket, "api_key": key, "user": user, "requests": int(c[0]),
             "tokens": int(c[1]), "cost": c[2]} for (key, user, bucket), c in sums.items()]
    rows.sort(key=lambda row: (row["subject"], row["bucket"]))  # one lock order for concurrent writers
    session.execute(_upsert(session), rows)


def _subjects(usage: Usage) -> list[tuple[str | None, str | None]]:
    """The key as a whole, and the end user under the key they called with (or alone, without a key)."""
    subjects: list[tuple[str | None, str | None]] = [(usage.api_key, None)] if usage.api_key else []
    return subjects + ([(usage.api_key, usage.user)] if usage.user else [])


def _digest(key: str | None, user: str | None) -> str:
    return hashlib.sha256(json.dumps([key, user]).encode()).hexdigest()


def _upsert(session: Session) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(UsageRow)
    return stmt.on_conflict_do_update(
        index_elements=["subject", "bucket"],
        set_={"requests": UsageRow.requests + stmt.excluded.requests,
              "tokens": UsageRow.tokens + stmt.excluded.tokens, "cost": UsageRow.cost + stmt.excluded.cost})


def over_limits(db: Database, settings: IrflowSettings, now: datetime | None = None) -> list[dict[str, Any]]:
    """The alerts the last window calls for (as irflow native alert bodies), oldest buckets pruned."""
    now = now or utcnow()
    window = timedelta(minutes=settings.usage_window_minutes)
    since = now.replace(second=0, microsecond=0) - window + timedelta(minutes=1)
    with db.tx() as s:
        s.execute(delete(UsageRow).where(UsageRow.bucket < now - window * KEEP_WINDOWS))
        totals = s.execute(
            select(UsageRow.api_key, UsageRow.user, func.sum(UsageRow.requests), func.sum(UsageRow.tokens),
                   func.sum(UsageRow.cost))
            .where(UsageRow.bucket >= since).group_by(UsageRow.subject, UsageRow.api_key, UsageRow.user)).all()
    period = int(now.timestamp()) // int(window.total_seconds())
    alerts = []
    for key, user, requests, tokens, cost in totals:
        seen = {"requests": requests or 0, "tokens": tokens or 0, "cost": cost or 0.0}
        for limit in LIMITS:
            cap = getattr(settings, f"usage_max_{limit.metric}")
            if cap and seen[limit.metric] > cap:
                alerts.append(_alert(key, user, limit, seen[limit.metric], cap, settings, period))
    return alerts


def _alert(key: str | None, user: str | None, limit: Limit, seen: float, cap: float, settings: IrflowSettings,
           period: int) -> dict[str, Any]:
    amount = f"{seen:,.2f}" if limit.metric == "cost" else f"{int(seen):,}"
    cap_text = f"{cap:,.2f}" if limit.metric == "cost" else f"{int(cap):,}"
    actor = {"api_key": key} if key else {}
    return {
        "id": f"usage:{limit.metric}:{_digest(key, user)[:32]}:{period}",
        "source": SOURCE,
        "title": f"Unusual volume: {limit.what} by one {'end user' if user else 'API key'}",
        "category": limit.category,
        "severity": limit.severity,
        "detector": f"usage:{limit.metric}",
        "actor": actor | ({"user": user} if user else {}),
        "evidence": f"{amount} {limit.what} in {settings.usage_window_minutes} min (limit {cap_text})",
    }
