"""Incidents: storm collapse, escalation, SLA breaches that fire once and survive a process restart,
metrics against hand-computed values, EU AI Act deadlines and report, suppression, merge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from irflow import euaiact, incidents, intake, lifecycle, metrics, orchestrate, runtime, sla, suppression
from irflow.bodies import split
from irflow.models import utcnow
from irflow.settings import IrflowSettings
from irflow.store.tables import AlertRow, IncidentRow, OutboxRow, TwinSlackMessageRow

pytestmark = pytest.mark.integration

ADMIN = "cli:alice"


@pytest.fixture
def rt(tmp_path: Path) -> runtime.Runtime:
    return runtime.create(IrflowSettings(home=tmp_path / "home", rbac={ADMIN: "admin"}))


def _body(n: int, actors: int, category: str = "prompt_injection", severity: str = "high", start: int = 0) -> bytes:
    return "\n".join(json.dumps({
        "title": f"attack {i}", "category": category, "severity": severity,
        "actor": {"user": f"attacker-{i % actors}", "api_key": "shared-app-key"},
    }) for i in range(start, start + n)).encode()


def _ingest(rt: runtime.Runtime, body: bytes) -> intake.IngestReport:
    return intake.ingest(rt.db, rt.settings, split(body, max_bytes=1 << 26))


def test_storm_of_10000_from_10_actors_is_10_incidents(rt: runtime.Runtime, prefect_api: str) -> None:
    report = _ingest(rt, _body(10_000, 10))
    assert report.accepted == 10_000 and len(report.new_incidents) == 10
    with rt.db.tx() as s:
        counts = {r.actor["user"]: r.alert_count for r in s.execute(select(IncidentRow)).scalars()}
        assert counts == {f"attacker-{n}": 1000 for n in range(10)}
        assert s.execute(select(func.count()).select_from(AlertRow)).scalar_one() == 10_000
    for incident_id in report.new_incidents:  # one flow run per incident, never per alert
        orchestrate.respond(rt, incident_id)
    second = _ingest(rt, _body(2_000, 10, start=10_000))
    assert second.new_incidents == [] and len(second.grown_incidents) == 10
    orchestrate.escalate(rt, second.grown_incidents)
    orchestrate.deliver(rt)
    with rt.db.tx() as s:
        messages = s.execute(select(func.count()).select_from(TwinSlackMessageRow)).scalar_one()
        pending = s.execute(select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")).scalar_one()
    # per incident: the pinned summary (edited in place), the runbook checklist, bookmarks, approval requests —
    # a handful each, never one per alert (12,000 alerts went in)
    assert messages <= 10 * 6, "a storm must not flood the channels"
    assert pending == 0


def test_severity_rises_with_repeats_and_spread(rt: runtime.Runtime) -> None:
    first = _ingest(rt, _body(1, 1, severity="medium")).results[0].incident_id
    _ingest(rt, _body(1, 1, category="jailbreak", severity="critical", start=1))
    with rt.db.tx() as s:
        incident = incidents.get(s, first or "")
        assert incident.severity == "critical" and incident.categories == ["prompt_injection", "jailbreak"]
        assert incident.alert_count == 2


def test_sla_breach_fires_once(rt: runtime.Runtime) -> None:
    incident_id = _ingest(rt, _body(1, 1, severity="critical")).results[0].incident_id or ""
    start = utcnow()
    assert sla.check(rt.db, rt.settings, start + timedelta(minutes=14)) == []
    assert sla.check(rt.db, rt.settings, start + timedelta(minutes=16)) == [(incident_id, "tta")]
    assert sla.check(rt.db, rt.settings, start + timedelta(minutes=17)) == []
    fired = sla.check(rt.db, rt.settings, start + timedelta(minutes=61))
    assert fired == [(incident_id, "ttc")]
    assert sla.check(rt.db, rt.settings, start + timedelta(hours=5)) == []
    with rt.db.tx() as s:
        notices = s.execute(select(OutboxRow).where(OutboxRow.kind == "sla.breached")).scalars().all()
    assert sorted(n.payload["kind"] for n in notices) == ["tta", "ttc"]


def test_acknowledging_stops_the_tta_clock(rt: runtime.Runtime) -> None:
    incident_id = _ingest(rt, _body(1, 1, severity="critical")).results[0].incident_id or ""
    lifecycle.acknowledge(rt.db, rt.settings, incident_id, ADMIN)
    assert sla.check(rt.db, rt.settings, utcnow() + timedelta(minutes=30)) == []


def test_sla_timer_survives_a_real_process_restart(tmp_path: Path) -> None:
    """The breach is computed from rows in the database: a new process (no state in memory) fires it
    exactly once, and a third process does not fire it again."""
    home = tmp_path / "restart-home"
    rt = runtime.create(IrflowSettings(home=home))
    incident_id = _ingest(rt, _body(1, 1, severity="critical")).results[0].incident_id
    rt.db.dispose()
    later = (utcnow() + timedelta(minutes=20)).isoformat()
    script = ("import json, sys; from datetime import datetime; from irflow import runtime, sla; "
              "from irflow.settings import IrflowSettings; rt = runtime.create(IrflowSettings()); "
              "print(json.dumps(sla.check(rt.db, rt.settings, datetime.fromisoformat(sys.argv[1]))))")
    env = os.environ | {"IRFLOW_HOME": str(home)}
    runs = [subprocess.run([sys.executable, "-c", script, later], env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)]
    assert [json.loads(r.stdout) for r in runs] == [[[incident_id, "tta"]], []], [r.stderr for r in runs]


def test_metrics_match_hand_computed_values(rt: runtime.Runtime) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    report = _ingest(rt, _body(2, 2, category="jailbreak"))
    a, b = (r.incident_id for r in report.results)
    with rt.db.tx() as s:
        for incident_id, created, ack, contained, resolved in (
            (a, base, 60, 300, 3600), (b, base, 180, None, None),
        ):
            row = incidents.get(s, incident_id or "")
            row.created_at = created
            row.acknowledged_at = created + timedelta(seconds=ack)
            row.contained_at = created + timedelta(seconds=contained) if contained else None
            row.resolved_at = created + timedelta(seconds=resolved) if resolved else None
        for alert, delay in zip(s.execute(select(AlertRow).order_by(AlertRow.id)).scalars(), (10, 30), strict=True):
            alert.time = base
            alert.received_at = base + timedelta(seconds=delay)
    data = metrics.compute(rt.db, base - timedelta(days=1))
    assert data["overall"]["mttd"] == 20.0 and data["overall"]["mtta"] == 120.0
    assert data["overall"]["mttc"] == 300.0 and data["overall"]["mttr"] == 3600.0
    assert data["overall"]["mttc_n"] == 1 and data["by_category"]["jailbreak"]["mtta"] == 120.0
    assert data["incidents_by_status"] == {"open": 2} and data["alerts_ingested_total"] == 2


def test_eu_ai_act_deadlines_reminders_and_report(rt: runtime.Runtime) -> None:
    incident_id = _ingest(rt, _body(1, 1)).results[0].incident_id or ""
    aware = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    due = euaiact.flag(rt.db, rt.settings, incident_id, ADMIN, euaiact.SeriousKind.widespread, aware, "many users")
    assert due == aware + timedelta(days=2)
    assert euaiact.deadline(euaiact.SeriousKind.general, aware) == aware + timedelta(days=15)
    assert euaiact.deadline(euaiact.SeriousKind.death, aware) == aware + timedelta(days=10)
    assert euaiact.remind(rt.db, aware + timedelta(hours=23)) == []
    assert euaiact.remind(rt.db, aware + timedelta(hours=25)) == [(incident_id, "half")]
    assert euaiact.remind(rt.db, aware + timedelta(hours=26)) == []
    assert euaiact.remind(rt.db, aware + timedelta(days=3)) == [(incident_id, "ninety"), (incident_id, "due")]
    draft = euaiact.report(rt.db, incident_id)
    assert draft["serious"]["kind"] == "widespread" and draft["facts"]["category"] == "prompt_injection"
    assert "## Timeline" in euaiact.report_markdown(draft)


def test_serious_by_rule(tmp_path: Path) -> None:
    rt = runtime.create(IrflowSettings(home=tmp_path / "h", serious_categories=["sensitive_data_leak"],
                                       serious_min_severity="high"))
    leak = _ingest(rt, _body(1, 1, category="sensitive_data_leak")).results[0].incident_id or ""
    other = _ingest(rt, _body(1, 1, category="jailbreak", start=5)).results[0].incident_id or ""
    assert euaiact.apply_rules(rt.db, rt.settings, [leak, other]) == [leak]


def test_suppression_holds_alerts_back_until_it_expires(rt: runtime.Runtime) -> None:
    rule = suppression.add(rt.db, rt.settings, ADMIN, actor="attacker-0", category=None, source=None, hours=1,
                           reason="red-team exercise")
    held = _ingest(rt, _body(3, 1))
    assert held.new_incidents == [] and all(r.suppressed_by == rule for r in held.results)
    assert held.results[0].as_json()["incident_id"] is None
    with rt.db.tx() as s:
        assert s.execute(select(func.count()).select_from(AlertRow)).scalar_one() == 3  # stored, nothing lost
    suppression.remove(rt.db, rt.settings, ADMIN, rule)
    assert _ingest(rt, _body(1, 1, start=7)).new_incidents != []


def test_merge_moves_alerts_and_closes_the_other(rt: runtime.Runtime) -> None:
    report = _ingest(rt, _body(4, 2))
    a, b = report.new_incidents
    assert lifecycle.merge(rt.db, rt.settings, a, b, ADMIN) == 2
    with rt.db.tx() as s:
        assert incidents.get(s, a).alert_count == 4
        merged = incidents.get(s, b)
        assert merged.status == "closed" and merged.merged_into == a
    with pytest.raises(lifecycle.TransitionError, match="already merged"):
        lifecycle.merge(rt.db, rt.settings, a, b, ADMIN)


def test_severity_rises_with_volume() -> None:
    """Crossing 10 and 100 alerts raises the severity one level each, once; a timeline entry says why."""
    import tempfile

    rt = runtime.create(IrflowSettings(home=Path(tempfile.mkdtemp())))
    incident_id = _ingest(rt, _body(9, 1, severity="low")).results[0].incident_id or ""
    with rt.db.tx() as s:
        assert incidents.get(s, incident_id).severity == "low"
    _ingest(rt, _body(1, 1, severity="low", start=9))
    with rt.db.tx() as s:
        assert incidents.get(s, incident_id).severity == "medium"
    _ingest(rt, _body(95, 1, severity="low", start=10))
    with rt.db.tx() as s:
        incident = incidents.get(s, incident_id)
        raised = [t.text for t in incidents.timeline_of(s, incident_id) if t.kind == "escalation"]
    assert incident.alert_count == 105 and incident.severity == "high" and len(raised) == 2
