"""Volume detectors: what no single guardrail sees. A key or end user making far more calls, burning far
more tokens or spending far more than anyone should within a few minutes is how model extraction and cost
abuse look from the gateway.

Intake counts each unflagged call a gateway logs (LiteLLM's telemetry, `Ignored.usage`) into per-minute
buckets per key (all its users) and per end user under the key they called with, in the same transaction
as the rest of the submission (one upsert per subject and minute, however many calls). The worker's tick
then compares the last
`usage_window_minutes` with the limits and raises an irflow alert for each subject over one: category
model_extraction for calls and tokens, cost_abuse for spend. The alert goes through intake like any other,
so it correlates with the actor's other alerts, runs the playbook, and fires once per window (its vendor id
names the window; intake drops the repeat). irflow.orchestrate.check_usage does that part.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from irflow.models import Usage, utcnow
from irflow.normalize import vendor_dedup_key
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, UsageRow

SOURCE = "irflow-usage"
KEEP_WINDOWS = 3
"""Buckets older than this many windows are deleted by the check: nothing reads them any more."""
MAX_ID = 600
"""The width of the id columns."""
MAX_TOKENS, MAX_COST = 10**12, 10.0**9
"""Caps on what one subject-minute can count: far above any real traffic, far below what the columns hold."""
log = logging.getLogger("irflow.usage")


@dataclass(frozen=True)
class Limit:
    metric: str
    """Also the counter's column and the setting's suffix (IRFLOW_USAGE_MAX_<METRIC>)."""
    category: str
    severity: str
    what: str

    def cap(self, settings: IrflowSettings) -> float:
        """The configured limit; 0 means this detector is off."""
        return float(getattr(settings, f"usage_max_{self.metric}"))


LIMITS = (
    Limit("requests", "model_extraction", "high", "calls"),
    Limit("tokens", "model_extraction", "high", "tokens"),
    Limit("cost", "cost_abuse", "medium", "USD of spend"),
)


def enabled(settings: IrflowSettings) -> bool:
    return any(limit.cap(settings) for limit in LIMITS)


def record(session: Session, settings: IrflowSettings, usages: list[Usage], now: datetime | None = None) -> None:
    """Add the calls to their subjects' minute buckets, in a savepoint of the caller's transaction.

    Nothing is counted while every limit is off. Telemetry must never cost an alert: if the counters
    cannot be written, the batch's alerts are stored anyway and the failure is logged (without the values,
    which the caller chose).
    """
    rows = _rows(usages, now or utcnow()) if enabled(settings) else []
    if not rows:
        return
    try:
        with session.begin_nested():
            session.execute(_upsert(session), rows)
    except SQLAlchemyError as exc:
        log.error("usage counters for %s call(s) not recorded: %s", len(usages), type(exc).__name__)


def _rows(usages: list[Usage], now: datetime) -> list[dict[str, Any]]:
    sums: dict[tuple[str | None, str | None, datetime], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for usage in usages:
        # The gateway's clock, but never ahead of ours: a call stamped in the future would count in every window.
        bucket = min(usage.at, now).replace(second=0, microsecond=0)
        for key, user in _subjects(usage):
            counts = sums[(key, user, bucket)]
            counts[0] += 1
            counts[1] = min(counts[1] + min(usage.tokens, MAX_TOKENS), MAX_TOKENS)
            counts[2] = min(counts[2] + min(usage.cost, MAX_COST), MAX_COST)
    rows = [{"subject": _digest(key, user), "bucket": bucket, "api_key": key, "user": user, "requests": int(c[0]),
             "tokens": int(c[1]), "cost": c[2]} for (key, user, bucket), c in sums.items()]
    rows.sort(key=lambda row: (row["subject"], row["bucket"]))  # one lock order for concurrent writers
    return rows


def _subjects(usage: Usage) -> list[tuple[str | None, str | None]]:
    """The key as a whole, and the end user under the key they called with (or alone, without a key).

    An id longer than the columns hold is not counted on its own (the key still counts every call made
    with it): the caller chooses end-user ids, and a long one must not fail the batch.
    """
    key = usage.api_key if usage.api_key and len(usage.api_key) <= MAX_ID else None
    user = usage.user if usage.user and len(usage.user) <= MAX_ID else None
    subjects: list[tuple[str | None, str | None]] = [(key, None)] if key else []
    return subjects + ([(key, user)] if user else [])


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
    if now.second < 2:  # prune about once a minute (the worker ticks every second), not on every tick
        with db.tx() as s:
            s.execute(delete(UsageRow).where(UsageRow.bucket < now - window * KEEP_WINDOWS))
    if not enabled(settings):
        return []
    with db.tx() as s:
        totals = s.execute(
            select(UsageRow.api_key, UsageRow.user, func.sum(UsageRow.requests), func.sum(UsageRow.tokens),
                   func.sum(UsageRow.cost))
            .where(UsageRow.bucket >= since, UsageRow.bucket <= now)
            .group_by(UsageRow.subject, UsageRow.api_key, UsageRow.user)).all()
        period = int(now.timestamp()) // int(window.total_seconds())
        alerts = [_alert(key, user, limit, seen, cap, settings, period)
                  for key, user, *sums in totals
                  for limit, seen in zip(LIMITS, sums, strict=True)
                  if (cap := limit.cap(settings)) and (seen or 0) > cap]
        keys = [vendor_dedup_key(SOURCE, alert["id"]) for alert in alerts]  # what intake stores (indexed)
        fired = set(s.execute(select(AlertRow.dedup_key).where(AlertRow.dedup_key.in_(keys))).scalars()) if keys else set()
    return [alert for alert, key in zip(alerts, keys, strict=True) if key not in fired]  # no re-ingest every tick


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
