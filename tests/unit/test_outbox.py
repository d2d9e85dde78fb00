"""The outbox's per-system delivery, on a real SQLite store with plain handler functions standing in for the
systems (no wire here; tests/integration/test_outbox_targets.py drives the real clients against loopbacks).

What must hold: one change becomes one item per system; a system that is down, slow or rate limited holds
up only its own items (and gets one probe per backoff, not one call per item); pending items coalesce per
system; rows written without a target (before revision 0008) are still delivered."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from irflow import outbox
from irflow.connectors.errors import AuthError, ConnectorError, InvalidRequest, RateLimited, Unavailable
from irflow.models import utcnow
from irflow.outbox import DELIVERED, FANNED_OUT, PENDING, ItemNotReady
from irflow.store.engine import Database
from irflow.store.tables import OutboxRow

INCIDENT = "inc-000000000001"


class System:
    """What a handler reaches: it records each delivery, and raises `failure` while one is set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failure: ConnectorError | None = None
        self.calls: list[tuple[str, str | None, dict[str, Any]]] = []
        self.before: threading.Event | None = None
        """If set, each delivery waits for it first (a system slow to answer)."""
        self.after: threading.Event | None = None
        """If set, set once a delivery went through."""

    def __call__(self, db: object, systems: object, item: OutboxRow) -> None:
        if self.before is not None:
            assert self.before.wait(10), f"{self.name} waited 10 s for the other system's lane"
        self.calls.append((item.kind, item.incident_id, dict(item.payload)))
        if self.failure is not None:
            raise self.failure
        if self.after is not None:
            self.after.set()


@pytest.fixture
def slack() -> System:
    return System("slack")


@pytest.fixture
def jira() -> System:
    return System("jira")


@pytest.fixture
def handlers(slack: System, jira: System) -> dict[str, dict[str, outbox.Handler]]:
    both: dict[str, outbox.Handler] = {"jira": jira, "slack": slack}  # Jira first: its rows are the older ones
    return {"incident.updated": both, "sla.breached": both}


def enqueue(db: Database, kind: str = "incident.updated", incident_id: str = INCIDENT,
            payload: dict[str, Any] | None = None) -> None:
    with db.tx() as s:
        outbox.enqueue(s, kind, incident_id, payload)


def deliver(db: Database, handlers: outbox.Handlers) -> int:
    return outbox.deliver_pending(db, None, handlers)  # type: ignore[arg-type]  # the fakes ignore Systems


def rows(db: Database, target: str | None = None) -> list[OutboxRow]:
    with db.tx() as s:
        query = select(OutboxRow).order_by(OutboxRow.id)
        return list(s.execute(query if target is None else query.where(OutboxRow.target == target)).scalars())


def make_due(db: Database) -> None:
    """Time passes: every pending item is due (its backoff or Retry-After is over)."""
    with db.tx() as s:
        s.execute(update(OutboxRow).where(OutboxRow.status == PENDING).values(next_attempt_at=utcnow()))


def test_one_change_is_one_item_per_system_and_a_failure_stays_in_its_system(
    db: Database, handlers: outbox.Handlers, slack: System, jira: System,
) -> None:
    jira.failure = Unavailable("Service unavailable", system="jira", status=503)
    enqueue(db)
    deliver(db, handlers)
    assert slack.calls == [("incident.updated", INCIDENT, {})], "Slack went ahead on the first pass"
    assert len(jira.calls) == 1
    [original, *per_system] = rows(db)
    assert original.target is None and original.status == FANNED_OUT
    assert {(r.target, r.status) for r in per_system} == {("slack", DELIVERED), ("jira", PENDING)}
    [waiting] = rows(db, "jira")
    assert waiting.attempts == 1 and "HTTP 503" in (waiting.last_error or "") and waiting.next_attempt_at > utcnow()

    jira.failure = None
    make_due(db)
    deliver(db, handlers)
    assert len(jira.calls) == 2 and len(slack.calls) == 1, "Jira's retry does not repeat Slack's half"
    assert [r.status for r in rows(db, "jira")] == [DELIVERED]


def test_a_slow_system_does_not_hold_up_the_other(
    db: Database, handlers: outbox.Handlers, slack: System, jira: System,
) -> None:
    """Jira's item is the older one and answers only once Slack has delivered: one lane after the other
    would wait here until System gives up; lanes side by side finish at once."""
    jira.before = slack.after = threading.Event()
    enqueue(db)
    assert deliver(db, handlers) == 3  # the original fanned out, then both delivered
    assert slack.calls and jira.calls


def test_a_down_system_gets_one_probe_per_pass_and_retry_after_holds_for_all_its_items(
    db: Database, handlers: outbox.Handlers, slack: System, jira: System,
) -> None:
    jira.failure = RateLimited("Rate limit exceeded.", retry_after=120, system="jira")
    for n in range(5):
        enqueue(db, incident_id=f"inc-00000000000{n}")
    deliver(db, handlers)
    assert len(slack.calls) == 5 and len(jira.calls) == 1, "one probe, not one call per item"
    waiting = rows(db, "jira")
    assert all(r.status == PENDING for r in waiting)
    assert [r.attempts for r in waiting] == [1, 0, 0, 0, 0], "the items held back were not tried"
    assert all(r.next_attempt_at >= utcnow() + timedelta(seconds=110) for r in waiting), "Retry-After holds for all"
    assert all("held back" in (r.last_error or "") for r in waiting[1:])
    assert deliver(db, handlers) == 0 and len(jira.calls) == 1, "nothing is tried before Retry-After"

    jira.failure = None
    make_due(db)
    deliver(db, handlers)
    assert len(jira.calls) == 6 and {r.status for r in rows(db, "jira")} == {DELIVERED}


def test_an_item_that_is_not_ready_waits_alone(db: Database, handlers: outbox.Handlers, jira: System) -> None:
    """E.g. one incident's Jira search has not settled: the other incidents' Jira items go on."""
    calls = 0

    def not_ready_first(db: object, systems: object, item: OutboxRow) -> None:
        nonlocal calls
        calls += 1
        if item.incident_id == "inc-000000000000":
            raise ItemNotReady("search has not settled", retry_after=30, system="jira")

    handlers["incident.updated"]["jira"] = not_ready_first  # type: ignore[index]
    for n in range(3):
        enqueue(db, incident_id=f"inc-00000000000{n}")
    deliver(db, handlers)
    assert calls == 3
    assert [r.status for r in rows(db, "jira")] == [PENDING, DELIVERED, DELIVERED]


def test_a_storm_coalesces_per_system_while_one_is_down(
    db: Database, handlers: outbox.Handlers, slack: System, jira: System,
) -> None:
    jira.failure = Unavailable("connection refused", system="jira")
    enqueue(db, "sla.breached", payload={"kind": "tta", "target_minutes": 15})
    for _ in range(4):
        for _ in range(25):
            enqueue(db)
        deliver(db, handlers)
    assert len(slack.calls) == 1 + 4, "the SLA notice, then one update per round: pending updates coalesce"
    assert len(rows(db, "jira")) == 2, "Jira's pending items coalesce while it is down: one per kind"
    assert len(jira.calls) <= 4, "at most one probe per pass"
    jira.failure = None
    make_due(db)
    deliver(db, handlers)
    assert sorted(kind for kind, _, _ in jira.calls[-2:]) == ["incident.updated", "sla.breached"]


def test_rows_written_before_targets_are_delivered_to_every_system(
    db: Database, handlers: outbox.Handlers, slack: System, jira: System,
) -> None:
    """An old process wrote these (no target), one of them claimed by a deliverer that then died."""
    long_ago = utcnow() - timedelta(hours=1)
    common: dict[str, Any] = {"incident_id": INCIDENT, "payload": {}, "last_error": None, "created_at": long_ago,
              "delivered_at": None, "next_attempt_at": long_ago}
    with db.tx() as s:
        s.execute(insert(OutboxRow), [
            {**common, "kind": "incident.updated", "status": "pending", "attempts": 2},
            {**common, "kind": "sla.breached", "status": "delivering", "attempts": 0,
             "payload": {"kind": "ttc", "target_minutes": 60}},  # its lease ran out long ago
        ])
    while deliver(db, handlers):
        pass
    assert sorted(k for k, _, _ in slack.calls) == sorted(k for k, _, _ in jira.calls) == [
        "incident.updated", "sla.breached"]
    assert {r.status for r in rows(db) if r.target is None} == {FANNED_OUT}
    assert outbox.pending_count(db) == 0


def test_a_kind_or_system_without_a_handler_fails_readably(db: Database, handlers: outbox.Handlers) -> None:
    enqueue(db, "nobody.handles")
    with db.tx() as s:
        outbox.enqueue(s, "incident.updated", INCIDENT, target="pager")
    deliver(db, handlers)
    errors = {r.kind: (r.status, r.last_error) for r in rows(db)}
    assert errors["nobody.handles"] == ("failed", "no handler for outbox kind 'nobody.handles'")
    assert errors["incident.updated"][0] == "failed" and "'pager'" in (errors["incident.updated"][1] or "")


def test_a_refused_item_fails_without_holding_back_its_system(
    db: Database, handlers: outbox.Handlers, jira: System,
) -> None:
    """InvalidRequest (e.g. a required field) is about that item, not about Jira being unwell."""
    jira.failure = InvalidRequest("customfield_10010: Team is required.", system="jira", status=400)
    enqueue(db, incident_id="inc-000000000001")
    enqueue(db, incident_id="inc-000000000002")
    deliver(db, handlers)
    assert len(jira.calls) == 2 and {r.status for r in rows(db, "jira")} == {"failed"}


def test_a_slow_lane_keeps_its_lease_on_what_it_has_not_delivered_yet(
    db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=0.4))
    seen: list[tuple[Any, Any]] = []  # (now, the lease of the lane's next row) as another deliverer would see it

    def slow(db_: Database, systems: object, item: OutboxRow) -> None:
        with db.tx() as s:
            later = s.execute(select(OutboxRow).where(OutboxRow.target == "slack", OutboxRow.id > item.id)
                              .order_by(OutboxRow.id).limit(1)).scalar_one_or_none()
            if later is not None:
                seen.append((utcnow(), later.next_attempt_at))
        threading.Event().wait(0.25)

    for n in range(4):
        enqueue(db, payload={"n": n})
    deliver(db, {"incident.updated": {"slack": slow}})
    assert all(r.status == DELIVERED for r in rows(db, "slack")) and len(seen) == 3
    assert [lease > now for now, lease in seen] == [True, True, True], "another deliverer could have taken a row"


def test_a_refused_token_keeps_the_notifications_until_it_is_fixed(
    db: Database, handlers: outbox.Handlers, slack: System,
) -> None:
    slack.failure = AuthError("token_revoked", system="slack", status=200)
    for n in range(3):
        enqueue(db, payload={"n": n})
    deliver(db, handlers)
    waiting = rows(db, "slack")
    assert [r.status for r in waiting] == [PENDING] * 3 and all(r.next_attempt_at > utcnow() for r in waiting)
    slack.failure = None  # the token is fixed (and irflow restarted)
    make_due(db)
    deliver(db, handlers)
    assert [r.status for r in rows(db, "slack")] == [DELIVERED] * 3, "nothing queued meanwhile was lost"
