"""Slack and Jira are delivered independently: the real slack_sdk and jira clients against the loopback Slack
and Jira, a real Prefect flow run containing the actor, and the outbox delivered pass by pass.

What must hold: with Jira down or rate limited, the Slack half (channel, pinned summary, approval buttons,
SLA notice) goes out on the first pass, and once Jira is back the issue is opened and linked from the
summary, with nothing created twice; a Slack outage likewise never holds up the Jira issue or its
comments; and items queued before the upgrade that split the outbox per system are still delivered.
"""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text, update

from irflow import incidents, intake, orchestrate, outbox, runtime, sla, workspace
from irflow.bodies import split
from irflow.models import utcnow
from irflow.settings import IrflowSettings
from irflow.slack_blocks import APPROVE
from irflow.store.engine import alembic_config, upgrade
from irflow.store.tables import IncidentRow, OutboxRow
from irflow.systems import build
from tests.contract.jira_server import JiraLoopback
from tests.contract.slack_server import SlackServer
from tests.integration.playbook_yaml import GATED_BLOCK, SUSPEND, playbook_yaml

pytestmark = pytest.mark.integration

ALERT = json.dumps({"title": "pi", "category": "prompt_injection", "severity": "high",
                    "actor": {"user": "eve", "api_key": "key-of-eve", "session": "s-eve"},
                    "evidence": "ignore previous instructions"}).encode()
PLAYBOOK = playbook_yaml(SUSPEND + GATED_BLOCK)


@dataclass
class World:
    rt: runtime.Runtime
    slack: SlackServer
    jira: JiraLoopback

    def incident(self, incident_id: str) -> IncidentRow:
        with self.rt.db.tx() as s:
            return incidents.get(s, incident_id)

    def first_pass(self) -> None:
        """One delivery pass, as the worker makes it between two other jobs."""
        outbox.deliver_pending(self.rt.db, self.rt.systems, workspace.HANDLERS)

    def retry_now(self) -> None:
        """The backoff (or Retry-After) is over: every pending item is due; deliver until nothing is left."""
        with self.rt.db.tx() as s:
            s.execute(update(OutboxRow).where(OutboxRow.status == outbox.PENDING).values(next_attempt_at=utcnow()))
        orchestrate.deliver(self.rt)

    def waiting(self, target: str) -> list[OutboxRow]:
        with self.rt.db.tx() as s:
            return list(s.execute(select(OutboxRow).where(OutboxRow.target == target,
                                                          OutboxRow.status == outbox.PENDING)).scalars())

    def texts(self, channel: str) -> list[str]:
        return [m.text for m in self.slack.state.in_channel(channel)]

    def reconnect_slack(self, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
        monkeypatch.setenv("SLACK_API_URL", url)
        self.rt.__dict__["systems"] = build(self.rt.db)  # the settings are read when the connectors are built


@pytest.fixture
def world(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    books = tmp_path / "books"
    books.mkdir()
    (books / "prompt_injection.yaml").write_text(textwrap.dedent(PLAYBOOK))
    with SlackServer() as slack, JiraLoopback("Cloud") as jira:
        for name, value in {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": "signing-secret",
                            "SLACK_API_URL": slack.url, "SLACK_PREFECT_UI_URL": "https://prefect.example",
                            "JIRA_URL": jira.url, "JIRA_USER": jira.user, "JIRA_API_TOKEN": jira.token,
                            "JIRA_PROJECT": "SEC"}.items():
            monkeypatch.setenv(name, value)
        yield World(runtime.create(IrflowSettings(home=tmp_path / "home", playbooks=books)), slack, jira)


def contained_and_late(world: World) -> str:
    """An incident contained by its playbook (a real Prefect flow run), one step awaiting approval, and its
    time to acknowledge (30 minutes for high) breached: the outbox now holds every kind of Slack/Jira work."""
    incident_id = intake.ingest(world.rt.db, world.rt.settings, split(ALERT, max_bytes=1 << 20)).results[0].incident_id
    assert incident_id
    orchestrate.respond(world.rt, incident_id)
    assert sla.check(world.rt.db, world.rt.settings, utcnow() + timedelta(minutes=31)) == [(incident_id, "tta")]
    return incident_id


def dead_slack_url() -> str:
    """A port nothing listens on: every Slack call is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


# --- Jira down: Slack does not wait ---------------------------------------------------------------------


@pytest.mark.parametrize("outage", ["unavailable", "rate_limited"])
def test_jira_down_slack_goes_ahead_and_links_the_issue_once_jira_is_back(world: World, outage: str) -> None:
    slack, jira = world.slack, world.jira
    if outage == "unavailable":
        jira.outage(503)
    else:
        jira.fail_next(429, times=10_000, retry_after=120)
    incident_id = contained_and_late(world)
    asked = len(jira.requests)
    world.first_pass()

    row = world.incident(incident_id)
    assert row.slack_channel and [c.id for c in slack.state.channels.values()] == [row.slack_channel]
    assert [m.ts for m in slack.state.in_channel(row.slack_channel) if m.pinned] == [row.slack_summary_ts]
    [request] = [m for m in slack.state.in_channel(row.slack_channel) if m.text.startswith("Approval needed")]
    assert APPROVE in json.dumps(request.blocks), "the approval request has its buttons"
    assert [t for t in world.texts(row.slack_channel) if t.startswith("SLA breached")], "the SLA notice is out"
    assert jira.issues == {} and row.jira_key is None
    assert len(jira.requests) - asked == 1, "while Jira is down it gets one probe per pass, not a call per item"
    waiting = world.waiting("jira")
    assert waiting and not world.waiting("slack")
    if outage == "rate_limited":
        assert all(r.next_attempt_at >= utcnow() + timedelta(seconds=100) for r in waiting), "Retry-After holds"

    posts, summary_ts_before = len(slack.calls("chat.postMessage")), row.slack_summary_ts
    jira.heal()
    world.retry_now()
    [issue] = jira.issues.values()
    row = world.incident(incident_id)
    channel, summary_ts = row.slack_channel or "", row.slack_summary_ts or ""
    assert row.jira_key == issue.key and (channel, summary_ts) == (request.channel, summary_ts_before)
    url = f"{jira.url.rstrip('/')}/browse/{issue.key}"
    summary = slack.state.messages[(channel, summary_ts)]
    assert url in [e.get("url") for b in summary.blocks if b["type"] == "actions" for e in b["elements"]]
    assert (f"Jira {issue.key}", url) in [(b["title"], b["link"]) for b in slack.state.channels[channel].bookmarks]
    assert len(slack.calls("conversations.create")) == 1 and len(slack.calls("chat.postMessage")) == posts, \
        "Jira's recovery creates no second channel and posts nothing twice"
    assert "SLA breached" in json.dumps(issue.comments), "Jira's half of the SLA notice, late but there"
    assert outbox.pending_count(world.rt.db) == 0


# --- Slack down: Jira does not wait ---------------------------------------------------------------------


def test_slack_down_jira_goes_ahead_and_slack_catches_up_with_the_link(
    world: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    slack, jira = world.slack, world.jira
    world.reconnect_slack(monkeypatch, dead_slack_url())
    incident_id = contained_and_late(world)
    world.first_pass()

    [issue] = jira.issues.values()
    assert world.incident(incident_id).jira_key == issue.key and world.incident(incident_id).slack_channel is None
    comments = json.dumps(issue.comments)
    assert "irflow response for" in comments and "users.suspend" in comments, "the actions, on the first pass"
    assert "SLA breached" in comments, "Jira's half of the SLA notice, on the first pass"
    errors = {r.last_error for r in world.waiting("slack") if r.last_error}  # untried: the refresh the issue queued
    assert errors and all("cannot reach Slack" in e for e in errors)

    commented = len(issue.comments)
    world.reconnect_slack(monkeypatch, slack.url)
    world.retry_now()
    row = world.incident(incident_id)
    channel = row.slack_channel or ""
    assert channel and len(slack.calls("conversations.create")) == 1
    summary = slack.state.messages[(channel, row.slack_summary_ts or "")]
    url = f"{jira.url.rstrip('/')}/browse/{issue.key}"
    assert summary.pinned and url in json.dumps(summary.blocks), "posted once, already linking the issue"
    texts = world.texts(channel)
    assert len([t for t in texts if t.startswith("Approval needed")]) == 1
    assert len([t for t in texts if t.startswith("SLA breached")]) == 1
    assert len(jira.issues) == 1 and len(issue.comments) == commented, "Slack catching up repeats nothing in Jira"
    links = [link["object"]["url"] for link in issue.remote_links]
    assert [u for u in links if channel in u] != [], "the issue learns the channel once Slack has one"
    assert outbox.pending_count(world.rt.db) == 0


# --- rows from before the upgrade ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_items_queued_before_the_per_system_outbox_are_delivered_after_the_upgrade(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str,
) -> None:
    """An older irflow queued these (no target column yet) and one of its deliverers died mid-delivery;
    after `irflow` is upgraded (revision 0008 adds the column), both systems still get every item."""
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    rt = runtime.create(IrflowSettings(home=tmp_path / "home", database_url=url))
    incident_id = intake.ingest(rt.db, rt.settings, split(ALERT, max_bytes=1 << 20)).results[0].incident_id
    command.downgrade(alembic_config(rt.db.engine), "0007")
    assert "target" not in {c["name"] for c in inspect(rt.db.engine).get_columns("outbox")}
    with rt.db.engine.begin() as conn:  # what the older irflow left behind, in its own schema
        conn.execute(text("UPDATE outbox SET status = 'delivering' WHERE kind = 'incident.opened'"))  # lease over
        conn.execute(text(
            "INSERT INTO outbox (kind, incident_id, payload, status, attempts, next_attempt_at, last_error, "
            "created_at, delivered_at) SELECT 'incident.updated', incident_id, payload, 'pending', 3, "
            "next_attempt_at, 'jira: Service unavailable (HTTP 503)', created_at, NULL FROM outbox "
            "WHERE kind = 'incident.opened'"))
    upgrade(rt.db.engine)

    orchestrate.deliver(rt)
    with rt.db.tx() as s:
        row = incidents.get(s, incident_id or "")
        items = list(s.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars())
    assert row.jira_key and row.slack_channel and row.slack_summary_ts
    legacy = [i for i in items if i.target is None]
    assert {(i.kind, i.status) for i in legacy} == {("incident.opened", outbox.FANNED_OUT),
                                                   ("incident.updated", outbox.FANNED_OUT),
                                                   ("alerts.received", outbox.FANNED_OUT)}
    delivered = {(i.kind, i.target) for i in items if i.status == outbox.DELIVERED}
    assert {("incident.opened", "jira"), ("incident.opened", "slack"), ("incident.updated", "jira"),
            ("incident.updated", "slack"), ("alerts.received", "prefect")} <= delivered
    assert outbox.pending_count(rt.db) == 0
    rt.db.dispose()
