"""Response metrics from the database: MTTD (alert event time -> ingest), MTTA (-> acknowledged), MTTC
(-> contained), MTTR (-> resolved), by category and severity; incidents by status; alert counters.

`irflow metrics` prints them; `irflow serve` exposes the same numbers at `/metrics` for Prometheus.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from statistics import fmean
from typing import Any

from sqlalchemy import func, select

from irflow.store.engine import Database
from irflow.store.tables import AlertRow, AuditRow, IncidentRow, RejectedRow

STAGES = ("mttd", "mtta", "mttc", "mttr")


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 3) if values else None


def _incident_durations(rows: Iterable[IncidentRow]) -> Iterator[tuple[IncidentRow, str, float]]:
    for row in rows:
        for stage, end in (("mtta", row.acknowledged_at), ("mttc", row.contained_at), ("mttr", row.resolved_at)):
            if end is not None:
                yield row, stage, (end - row.created_at).total_seconds()


def compute(db: Database, since: datetime) -> dict[str, Any]:
    groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: {s: [] for s in STAGES})
    with db.tx() as s:
        alerts = s.execute(select(AlertRow.category, AlertRow.severity, AlertRow.time, AlertRow.received_at)
                           .where(AlertRow.received_at >= since)).all()
        rows = s.execute(select(IncidentRow).where(IncidentRow.created_at >= since,
                                                   IncidentRow.merged_into.is_(None))).scalars().all()
        for category, severity, time, received in alerts:
            groups[(category, severity)]["mttd"].append(max(0.0, (received - time).total_seconds()))
        for row, stage, seconds in _incident_durations(rows):
            groups[(row.category, row.severity)][stage].append(seconds)
        by_status = dict(s.execute(select(IncidentRow.status, func.count()).group_by(IncidentRow.status)).all())
        counters = _counters(s)
    return {"since": since.isoformat(), "unit": "seconds", "overall": _summarise(groups.values()),
            "by_category": _by(groups, 0), "by_severity": _by(groups, 1), "incidents_by_status": by_status,
            "incidents_in_window": len(rows), **counters}


def _counters(s: Any) -> dict[str, int]:
    count = lambda q: s.execute(q).scalar_one()  # noqa: E731
    return {
        "alerts_ingested_total": count(select(func.count()).select_from(AlertRow)),
        "alerts_suppressed_total": count(select(func.count()).select_from(AlertRow).where(AlertRow.suppressed_by.is_not(None))),
        "alerts_rejected_total": count(select(func.count()).select_from(RejectedRow)),
        "jira_duplicates_closed_total": count(select(func.count()).select_from(AuditRow).where(
            AuditRow.kind == "jira.duplicate_closed")),
    }


def _summarise(groups: Iterable[dict[str, list[float]]]) -> dict[str, Any]:
    merged: dict[str, list[float]] = {s: [] for s in STAGES}
    for group in groups:
        for stage in STAGES:
            merged[stage] += group[stage]
    return {stage: _mean(values) for stage, values in merged.items()} | {
        f"{stage}_n": len(values) for stage, values in merged.items()}


def _by(groups: dict[tuple[str, str], dict[str, list[float]]], index: int) -> dict[str, Any]:
    keys = sorted({key[index] for key in groups})
    return {k: _summarise(g for key, g in groups.items() if key[index] == k) for k in keys}


class PrometheusCollector:
    """Reads the database on each scrape, so every irflow replica reports the same numbers."""

    def __init__(self, db: Database, window_days: int = 30) -> None:
        self.db, self.window_days = db, window_days

    def collect(self) -> Iterator[Any]:
        from datetime import timedelta

        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from irflow.models import utcnow

        data = compute(self.db, utcnow() - timedelta(days=self.window_days))
        status = GaugeMetricFamily("irflow_incidents", "Incidents by status", labels=["status"])
        for name, n in data["incidents_by_status"].items():
            status.add_metric([name], n)
        yield status
        for name in ("alerts_ingested", "alerts_rejected", "alerts_suppressed", "jira_duplicates_closed"):
            yield CounterMetricFamily(f"irflow_{name}", name.replace("_", " "), value=data[f"{name}_total"])
        for stage in STAGES:
            gauge = GaugeMetricFamily(f"irflow_{stage}_seconds", f"{stage.upper()} over {self.window_days} days",
                                      labels=["category", "severity"])
            for category, values in data["by_category"].items():
                if values[stage] is not None:
                    gauge.add_metric([category, ""], values[stage])
            for severity, values in data["by_severity"].items():
                if values[stage] is not None:
                    gauge.add_metric(["", severity], values[stage])
            yield gauge
