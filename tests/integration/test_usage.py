"""Volume detectors: LiteLLM telemetry that no guardrail flagged is counted per key and end user; a subject over
a limit within the window becomes a model_extraction (calls, tokens) or cost_abuse (spend) alert, once per
window, which opens an incident and runs its playbook. Counted on SQLite and PostgreSQL alike."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from irflow import incidents, intake, orchestrate, runtime, usage
from irflow.bodies import split
from irflow.models import utcnow
from irflow.settings import IrflowSettings
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, UsageRow

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "litellm" / "ignored_success.json"
KEY_HASH = "5f0b7a2c9d4e81f36a0b2c4d6e8f10213243546576879809a1b2c3d4e5f60718"


def calls(n: int, at: datetime, *, tokens: int = 100, cost: float = 0.01, user: str = "cust-7731",
          master_key: bool = False) -> bytes:
    """`n` successful calls as LiteLLM's generic_api callback logs them (the fixture, made unique)."""
    base = json.loads(FIXTURE.read_text())
    lines = []
    for i in range(n):
        call = copy.deepcopy(base)
        call |= {"id": f"call-{at.timestamp()}-{user}-{i}", "startTime": at.timestamp() + i / 1000,
                 "total_tokens": tokens, "response_cost": cost, "end_user": user}
        call["metadata"]["user_api_key_end_user_id"] = user
        if master_key:
            call["metadata"] |= {"user_api_key_alias": None, "user_api_key_user_id": "default_user_id"}
            call |= {"end_user": None}
            call["metadata"]["user_api_key_end_user_id"] = None
        lines.append(json.dumps(call))
    return "\n".join(lines).encode()


def ingest(db: Database, settings: IrflowSettings, body: bytes) -> intake.IngestReport:
    return intake.ingest(db, settings, split(body, max_bytes=1 << 26), source="litellm", via="http")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Database, IrflowSettings]:
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    settings = IrflowSettings(home=tmp_path / "home", database_url=url, usage_max_requests=5,
                              usage_max_tokens=10_000, usage_max_cost=1.0)
    return runtime.create(settings).db, settings


def test_unflagged_calls_are_counted_per_key_and_user_and_stay_ignored(store: tuple[Database, IrflowSettings]) -> None:
    db, settings = store
    now = utcnow()
    report = ingest(db, settings, calls(3, now))
    assert [r.ignored_reason for r in report.results] == ["telemetry: call not flagged by any guardrail"] * 3
    ingest(db, settings, calls(2, now, user="cust-0002"))
    with db.tx() as s:
        rows = {(r.api_key, r.user): (r.requests, r.tokens, round(r.cost, 4))
                for r in s.execute(select(UsageRow)).scalars()}
        assert s.execute(select(AlertRow)).first() is None, "telemetry is no alert"
    assert rows[(KEY_HASH, None)] == (5, 500, 0.05), "both users' calls count towards the key"
    assert rows[(KEY_HASH, "cust-7731")] == (3, 300, 0.03) and rows[(KEY_HASH, "cust-0002")] == (2, 200, 0.02)
    assert usage.over_limits(db, settings, now) == [], "five calls is the limit, not over it"


def test_over_a_limit_is_one_alert_per_subject_and_metric(store: tuple[Database, IrflowSettings]) -> None:
    db, settings = store
    now = utcnow()
    ingest(db, settings, calls(6, now, tokens=2_000, cost=0.25))  # 6 calls, 12,000 tokens, 1.50 USD
    fired = {(a["detector"], json.dumps(a["actor"], sort_keys=True)): a for a in usage.over_limits(db, settings, now)}
    key = json.dumps({"api_key": KEY_HASH})
    user = json.dumps({"api_key": KEY_HASH, "user": "cust-7731"}, sort_keys=True)
    assert set(fired) == {(f"usage:{m}", who) for m in ("requests", "tokens", "cost") for who in (key, user)}
    assert fired[("usage:requests", key)]["category"] == "model_extraction"
    assert fired[("usage:cost", user)]["category"] == "cost_abuse"
    assert fired[("usage:tokens", key)]["evidence"] == "12,000 tokens in 5 min (limit 10,000)"


def test_an_end_user_cannot_frame_another_key(store: tuple[Database, IrflowSettings]) -> None:
    db, settings = store
    now = utcnow()
    ingest(db, settings, calls(6, now, user='mallory", "victim-key'))  # ids are data, never parsed back
    actors = [a["actor"] for a in usage.over_limits(db, settings, now)]
    assert {"api_key": KEY_HASH, "user": 'mallory", "victim-key'} in actors
    assert all(a.get("api_key") == KEY_HASH for a in actors)


def test_only_the_window_counts_and_old_buckets_go(store: tuple[Database, IrflowSettings]) -> None:
    db, settings = store
    now = utcnow()
    ingest(db, settings, calls(4, now - timedelta(minutes=30)))
    ingest(db, settings, calls(4, now))
    assert usage.over_limits(db, settings, now.replace(second=0)) == [], "4 now + 4 half an hour ago: within limit"
    with db.tx() as s:
        assert min(r.bucket for r in s.execute(select(UsageRow)).scalars()) >= now - timedelta(minutes=15)


def test_the_master_key_and_placeholders_are_no_one(store: tuple[Database, IrflowSettings]) -> None:
    db, settings = store
    ingest(db, settings, calls(10, utcnow(), master_key=True))
    with db.tx() as s:
        assert s.execute(select(UsageRow)).first() is None


def test_hostile_counts_and_ids_never_cost_an_alert(store: tuple[Database, IrflowSettings]) -> None:
    db, settings = store
    now = utcnow()
    huge = json.loads(calls(1, now, user="u" * 700))  # longer than the columns hold
    huge |= {"id": "call-huge", "total_tokens": 10**20, "response_cost": 1e300, "startTime": now.timestamp() + 86_400}
    alert = {"title": "pi", "category": "prompt_injection", "severity": "high", "actor": {"user": "eve"}}
    report = intake.ingest(db, settings, split(f"{json.dumps(huge)}\n{json.dumps(alert)}".encode(),
                                               max_bytes=1 << 26))
    assert report.rejected == 0 and report.accepted == 1, _results(report)
    with db.tx() as s:
        rows = {(r.api_key, r.user): r for r in s.execute(select(UsageRow)).scalars()}
        assert s.execute(select(AlertRow)).scalar_one().title == "pi"
    assert set(rows) == {(KEY_HASH, None)}, "the long user id counts only under its key"
    row = rows[(KEY_HASH, None)]
    assert (row.requests, row.tokens, row.cost) == (1, usage.MAX_TOKENS, usage.MAX_COST)
    assert row.bucket <= now, "a call stamped in the future counts now, not in every window to come"


def test_nothing_is_counted_while_every_limit_is_off(tmp_path: Path) -> None:
    settings = IrflowSettings(home=tmp_path / "home")
    db = runtime.create(settings).db
    ingest(db, settings, calls(50, utcnow()))
    with db.tx() as s:
        assert s.execute(select(UsageRow)).first() is None
    assert usage.over_limits(db, settings) == []


def _results(report: intake.IngestReport) -> list[dict[str, object]]:
    return [r.as_json() for r in report.results]


def test_garbled_counts_do_not_reject_a_call(store: tuple[Database, IrflowSettings]) -> None:
    db, settings = store
    body = json.loads(calls(1, utcnow()))
    body |= {"total_tokens": "lots", "response_cost": -3}
    report = ingest(db, settings, json.dumps(body).encode())
    assert report.rejected == 0
    with db.tx() as s:
        assert {(r.requests, r.tokens, r.cost) for r in s.execute(select(UsageRow)).scalars()} == {(1, 0, 0.0)}


@pytest.mark.integration
def test_a_flood_from_one_key_becomes_one_contained_incident(tmp_path: Path, prefect_api: str) -> None:
    settings = IrflowSettings(home=tmp_path / "home", usage_max_requests=20, usage_max_tokens=0, usage_max_cost=0)
    rt = runtime.create(settings)
    now = utcnow()
    ingest(rt.db, settings, calls(25, now, user="extractor-1"))
    first = orchestrate.check_usage(rt, now)
    assert len(first) == 1, "key and user are one actor's: one incident"
    ingest(rt.db, settings, calls(5, now, user="extractor-1"))
    assert orchestrate.check_usage(rt, now) == [], "the same window fires no second alert (a duplicate grows nothing)"
    with rt.db.tx() as s:
        view = incidents.incident_view(s, incidents.get(s, first[0]))
        alerts = s.execute(select(AlertRow).where(AlertRow.incident_id == first[0])).scalars().all()
    assert view["category"] == "model_extraction" and view["playbook"] == "model_extraction"
    assert sorted(a.detector for a in alerts) == ["usage:requests", "usage:requests"], "key and user, once each"
    assert any(a["status"] == "done" for a in view["actions"]), view["actions"]
    later = orchestrate.check_usage(rt, now + timedelta(minutes=6))
    assert later == [], "the next window has only what was sent in it: nothing"
