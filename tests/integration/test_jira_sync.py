"""The incident's Jira issue, end to end: the real `jira` client (Cloud/v3 and Data Center/v2) against the
loopback Jira, driven by intake, the outbox, the reconciler, polling and the webhook, with a real Prefect
server where containment runs. What must hold: one issue per incident whatever fails when, containment
never waits for Jira, and people's moves in Jira come back into irflow only when authenticated and allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from irflow import incidents, jira_sync, lifecycle, orchestrate, runtime, workspace_jira
from irflow.connectors.jira.client import JiraClient
from irflow.connectors.jira.settings import JiraSettings
from irflow.models import utcnow
from irflow.redaction import trusted
from irflow.outbox import PENDING
from irflow.settings import IrflowSettings
from irflow.store.tables import AuditRow, IncidentRow, OutboxRow
from tests.contract.jira_server import JiraLoopback

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "examples" / "alerts"
USER, TOKEN, SECRET = "bot@example.com", "s3cret-token", "webhook-shared-secret"
RESPONDER = "alice-1"


@pytest.fixture(params=["Cloud", "Server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraLoopback]:
    with JiraLoopback(request.param, user=USER, token=TOKEN) as loopback:
        yield loopback
    assert loopback.spec_errors == [], "the loopback or the client strayed from the v3 spec"


@pytest.fixture
def cloud() -> Iterator[JiraLoopback]:
    with JiraLoopback("Cloud", user=USER, token=TOKEN) as loopback:
        yield loopback
    assert loopback.spec_errors == []


def client_for(jira: JiraLoopback) -> JiraClient:
    return JiraClient(JiraSettings(url=jira.url, user=USER if jira.deployment == "Cloud" else None,
                                   api_token=TOKEN, project="SEC"))


def make_rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback, **env: Any) -> runtime.Runtime:
    values = {"JIRA_URL": jira.url, "JIRA_API_TOKEN": TOKEN, "JIRA_PROJECT": "SEC",
              "IRFLOW_JIRA_WEBHOOK_SECRET": SECRET, "JIRA_COMMENT_INTERVAL_S": 60} | env
    if jira.deployment == "Cloud":
        values["JIRA_USER"] = USER
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    return runtime.create(IrflowSettings(home=tmp_path / "home", rbac={f"jira:{RESPONDER}": "responder"}))


def ingest(rt: runtime.Runtime, name: str, *, wait: bool = False) -> str:
    from irflow.cli import ingest_bytes

    report = ingest_bytes(rt, (ALERTS / name).read_bytes(), None, wait)
    orchestrate.deliver(rt)
    incident_id = report.results[0].incident_id
    assert incident_id
    return incident_id


def incident(rt: runtime.Runtime, incident_id: str) -> IncidentRow:
    with rt.db.tx() as s:
        return incidents.get(s, incident_id)


def retry_outbox_now(rt: runtime.Runtime) -> int:
    """Make every pending outbox item due (the backoff has not passed in a test's time) and deliver."""
    with rt.db.tx() as s:
        s.execute(update(OutboxRow).where(OutboxRow.status == PENDING).values(next_attempt_at=utcnow()))
    return orchestrate.deliver(rt)


def audit_kinds(rt: runtime.Runtime) -> list[str]:
    with rt.db.tx() as s:
        return list(s.execute(select(AuditRow.kind).order_by(AuditRow.seq)).scalars())


# --- containment never waits for Jira ---------------------------------------------------------------

def test_contained_while_jira_is_down_and_the_issue_appears_once_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback, prefect_api: str,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, cloud, JIRA_RUNBOOK_URL="https://git.example/sec/runbooks/{playbook}.md")
    cloud.outage(500)
    incident_id = ingest(rt, "prompt_injection.json", wait=True)  # a real Prefect flow run contains the actor
    row = incident(rt, incident_id)
    assert row.status == "contained" and row.jira_key is None
    assert not rt.systems.gateway.check(session="sess-7f3a").allowed
    assert cloud.issues == {}
    with rt.db.tx() as s:
        errors = [r.last_error for r in s.execute(select(OutboxRow).where(OutboxRow.status == PENDING)).scalars()]
    assert errors and all("HTTP 500" in (e or "") for e in errors)
    cloud.heal()
    retry_outbox_now(rt)
    [issue] = cloud.issues.values()
    assert incident(rt, incident_id).jira_key == issue.key
    assert issue.status == "In Progress"  # contained
    assert "REDACTED" in json.dumps(issue.fields["description"]) and "sk-proj-" not in json.dumps(issue.fields)
    runbook = next(link for link in issue.remote_links if link["globalId"] == f"irflow-runbook-{incident_id}")
    assert runbook["object"]["url"] == f"https://git.example/sec/runbooks/{incident(rt, incident_id).playbook}.md"


def test_connection_refused_then_the_reconciler_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, cloud)
    cloud.stop()
    incident_id = ingest(rt, "prompt_injection.json")
    assert incident(rt, incident_id).jira_key is None
    cloud.start()  # the same port: Jira is back
    report = jira_sync.reconcile(rt, now=utcnow() + timedelta(minutes=5))  # the outbox has given up, say
    assert report.synced == [incident_id] and report.errors == []
    assert incident(rt, incident_id).jira_key == next(iter(cloud.issues))


# --- never a duplicate ----------------------------------------------------------------------------------

def test_a_lost_create_answer_is_found_on_retry_not_created_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, jira, JIRA_SEARCH_SETTLE_S=1.5)
    jira.search_lag_seconds = 0.5  # search shows an issue half a second after its creation
    jira.drop_next("POST", "issue")  # Jira creates the issue; irflow never hears back
    incident_id = ingest(rt, "prompt_injection.json")
    assert len(jira.issues) == 1 and incident(rt, incident_id).jira_key is None
    assert workspace_jira.intent_detail(rt.db, incident_id)["create_started_at"]
    retry_outbox_now(rt)
    if jira.deployment == "Cloud":  # too soon: search does not show the issue yet, and nothing is created
        assert len(jira.issues) == 1 and incident(rt, incident_id).jira_key is None
        time.sleep(1.6)
        retry_outbox_now(rt)  # Data Center's search is consistent: the first retry already found it
    assert len(jira.issues) == 1 and incident(rt, incident_id).jira_key == next(iter(jira.issues))
    with rt.db.tx() as s:
        opened = s.execute(select(AuditRow).where(AuditRow.kind == "jira.issue_opened")).scalar_one()
    assert opened.data["found_by_search"] is True


def test_a_duplicate_that_slipped_past_lagging_search_is_linked_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, cloud, JIRA_SEARCH_SETTLE_S=0, JIRA_RECONCILE_AFTER_S=0)
    cloud.search_lag_count = 1  # the newest issue is invisible to search (unless reconciled by id)
    cloud.drop_next("POST", "issue")
    incident_id = ingest(rt, "prompt_injection.json")
    retry_outbox_now(rt)  # search misses the first issue: a second one is opened
    assert len(cloud.issues) == 2
    first, second = sorted(cloud.issues.values(), key=lambda i: i.seq)
    assert incident(rt, incident_id).jira_key == second.key
    report = jira_sync.reconcile(rt)
    assert report.duplicates_closed == [first.key]
    assert first.status == "Done" and first.links[0] == {"type": "Duplicate", "outward": first.key, "inward": second.key}
    assert second.status == "In Progress" or second.status == "To Do"
    assert jira_sync.duplicates_closed(rt.db) == 1
    assert jira_sync.reconcile(rt).duplicates_closed == []  # verified: not searched again
    assert jira_sync.duplicates_closed(rt.db) == 1


# --- fields, escalation, batching -------------------------------------------------------------------

def test_fields_links_escalation_and_batched_timeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback,
) -> None:
    jira.custom_fields = {"customfield_10050": ("Severity", {"type": "option", "custom": "select"})}
    rt = make_rt(tmp_path, monkeypatch, jira, IRFLOW_JIRA_CUSTOM_FIELDS='{"severity": "Severity"}',
                 JIRA_COMPONENTS='["AI security"]')
    incident_id = ingest(rt, "prompt_injection.json")
    row = incident(rt, incident_id)
    issue = jira.issues[row.jira_key or ""]
    assert issue.fields["priority"] == {"name": "High"} and issue.fields["customfield_10050"] == {"value": "High"}
    assert {"irflow", f"irflow-{incident_id}", "category-prompt_injection"} <= set(issue.fields["labels"])
    assert issue.fields["components"] == [{"name": "AI security"}]
    assert issue.properties["irflow"] == {"incident_id": incident_id}
    assert len(issue.comments) == 1  # the timeline so far, in one comment
    jira_sync.reconcile(rt)  # the Slack channel was opened after the issue: now it is linked
    assert [link["globalId"] for link in issue.remote_links] == [f"irflow-slack-{incident_id}"]
    assert row.slack_channel and issue.remote_links[0]["object"]["url"].endswith(f"channel={incident(rt, incident_id).slack_channel}")

    ingest(rt, "prompt_injection_storm.ndjson")  # a storm: repeats, then a critical jailbreak
    assert incident(rt, incident_id).severity == "critical"
    # Something for the timeline that surely came after the first comment (Slack's entries race the issue's
    # creation now that Slack never waits for Jira, so they may already be in it).
    lifecycle.assign(rt.db, rt.settings, incident_id, f"jira:{RESPONDER}", "alice")
    orchestrate.deliver(rt)
    jira_sync.reconcile(rt)  # the worker's tick: the issue is behind the incident
    assert issue.fields["priority"] == {"name": "Highest"}  # priority follows the escalation
    assert issue.fields["customfield_10050"] == {"value": "Critical"}
    assert len(issue.comments) == 1  # inside the interval: the storm's timeline waits
    workspace_jira.flush_timeline(rt.db, rt.systems.tickets, incident_id, issue.key, force=True)
    assert len(issue.comments) == 2
    assert not workspace_jira.flush_timeline(rt.db, rt.systems.tickets, incident_id, issue.key, force=True)


# --- two-way: the webhook -----------------------------------------------------------------------------

def webhook(rt: runtime.Runtime, payload: dict[str, Any], *, how: str = "hmac", secret: str = SECRET) -> int:
    from irflow.server import create_app

    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    url = "/v1/jira/webhook"
    if how == "hmac":
        headers["X-Hub-Signature"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    elif how == "query":
        url += f"?secret={secret}"
    elif how == "header":
        headers["X-Irflow-Webhook-Secret"] = secret
    with TestClient(create_app(rt, None, "intake-token", None)) as client:
        return client.post(url, content=body, headers=headers).status_code


def test_webhook_refuses_without_the_secret_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, cloud)
    incident_id = ingest(rt, "prompt_injection.json")
    payload = cloud.human_transition(incident(rt, incident_id).jira_key or "", "Done", RESPONDER)
    before = audit_kinds(rt)
    assert webhook(rt, payload, how="none") == 401
    assert webhook(rt, payload, secret="wrong") == 401
    assert webhook(rt, payload, how="query", secret="wrong") == 401
    assert incident(rt, incident_id).status == "open" and audit_kinds(rt) == before
    monkeypatch.delenv("IRFLOW_JIRA_WEBHOOK_SECRET")
    assert webhook(rt, payload) == 401  # no secret configured: the endpoint is closed, not open


@pytest.mark.parametrize("how", ["hmac", "query", "header"])
def test_an_issue_moved_to_done_resolves_the_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback, how: str,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, jira)
    incident_id = ingest(rt, "prompt_injection.json")
    key = incident(rt, incident_id).jira_key or ""
    assert webhook(rt, jira.human_transition(key, "Done", RESPONDER), how=how) == 202
    assert incident(rt, incident_id).status == "resolved"
    orchestrate.deliver(rt)
    assert jira.issues[key].status == "Done"
    assert webhook(rt, jira.human_transition(key, "In Progress", RESPONDER), how=how) == 202
    assert incident(rt, incident_id).status == "open"  # moved out of done: reopened
    orchestrate.deliver(rt)
    assert jira.issues[key].status == "In Progress"  # where the person put it, not irflow's "To Do"


def test_a_person_without_a_role_cannot_resolve_from_jira(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, cloud)
    incident_id = ingest(rt, "prompt_injection.json")
    key = incident(rt, incident_id).jira_key or ""
    comments = len(cloud.issues[key].comments)
    payload = cloud.human_transition(key, "Done", "mallory-9")
    for _ in range(2):
        assert webhook(rt, payload) == 202
    assert incident(rt, incident_id).status == "open"
    assert len(cloud.issues[key].comments) == comments + 1  # told once why, not on every delivery
    assert "rbac.refused" in audit_kinds(rt)


def test_webhooks_about_other_issues_and_duplicates_are_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, cloud)
    incident_id = ingest(rt, "prompt_injection.json")
    key = incident(rt, incident_id).jira_key or ""
    stranger = cloud.human_transition(key, "Done", RESPONDER)
    stranger["issue"]["key"] = "SEC-999"  # an issue irflow never recorded for an incident
    assert webhook(rt, stranger) == 202
    assert incident(rt, incident_id).status == "open"
    duplicate = client_for(cloud).create_issue("other", trusted("s"), trusted("d"), "High", [])
    cloud.issues[duplicate].fields["labels"].append(f"irflow-{incident_id}")  # labelled, but not the record
    assert webhook(rt, cloud.human_transition(duplicate, "Done", RESPONDER)) == 202
    assert incident(rt, incident_id).status == "open"


# --- two-way: polling ---------------------------------------------------------------------------------

def test_polling_applies_a_move_to_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback) -> None:
    rt = make_rt(tmp_path, monkeypatch, jira, JIRA_POLL_INTERVAL_S=30)
    incident_id = ingest(rt, "prompt_injection.json")
    key = incident(rt, incident_id).jira_key or ""
    jira.human_transition(key, "Done", RESPONDER)
    report = jira_sync.poll(rt)
    assert report.status_changes == [f"{key}: resolve"] and incident(rt, incident_id).status == "resolved"
    assert jira_sync.poll(rt).status_changes == []  # the states agree now


# --- two-way: `/irflow` comments ----------------------------------------------------------------------

def test_an_irflow_comment_runs_the_command_once_and_answers_in_jira(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, jira, JIRA_POLL_INTERVAL_S=30)
    incident_id = ingest(rt, "prompt_injection.json")
    key = incident(rt, incident_id).jira_key or ""
    issue = jira.issues[key]
    said = jira.human_comment(key, "/irflow resolve handled in Jira", RESPONDER)
    assert webhook(rt, said) == 202
    assert incident(rt, incident_id).status == "resolved"
    answer = json.dumps(issue.comments[-1]["body"])
    assert answer.count("irflow") >= 1 and "/irflow" not in answer  # the answer is not itself a command
    comments = len(issue.comments)
    assert webhook(rt, said) == 202  # Jira retries a webhook ...
    assert jira_sync.poll(rt).commands == []  # ... and polling sees the same comment: it ran once
    assert len(issue.comments) == comments
    with rt.db.tx() as s:
        resolved = s.execute(select(AuditRow).where(AuditRow.kind == "incident.resolve")).scalar_one()
    assert resolved.actor == f"jira:{RESPONDER}"


def test_polling_runs_a_comment_command_and_a_plain_comment_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, jira, JIRA_POLL_INTERVAL_S=30)
    incident_id = ingest(rt, "prompt_injection.json")
    key = incident(rt, incident_id).jira_key or ""
    jira.human_comment(key, "looks like a false alarm to me", RESPONDER)
    jira.human_comment(key, "/irflow status", RESPONDER)
    jira.human_comment(key, "/irflow resolve", "mallory-9")
    report = jira_sync.poll(rt)
    assert len(report.commands) == 2 and report.errors == []
    status, refused = (json.dumps(c["body"]) for c in jira.issues[key].comments[-2:])
    assert incident_id in status and "Not allowed" in refused and "mallory-9" in refused
    assert incident(rt, incident_id).status == "open"


def test_tick_reconciles_and_polls_on_its_own_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback,
) -> None:
    rt = make_rt(tmp_path, monkeypatch, cloud, JIRA_POLL_INTERVAL_S=3600)
    incident_id = ingest(rt, "prompt_injection.json")
    cloud.human_transition(incident(rt, incident_id).jira_key or "", "Done", RESPONDER)
    first = jira_sync.tick(rt)
    assert first is not None and first.status_changes and incident(rt, incident_id).status == "resolved"
    assert jira_sync.tick(rt) is None  # both ran a moment ago: nothing to do yet
    cloud.outage(503)
    jira_sync._last_run.clear()
    assert jira_sync.tick(rt) is not None  # Jira down: reported, never raised into the worker


def test_polling_does_not_undo_what_irflow_has_not_delivered_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback,
) -> None:

    rt = make_rt(tmp_path, monkeypatch, jira, JIRA_POLL_INTERVAL_S=30)
    incident_id = ingest(rt, "prompt_injection.json")
    key = incident(rt, incident_id).jira_key or ""
    lifecycle.transition(rt.db, rt.settings, incident_id, f"jira:{RESPONDER}", "resolve")  # not delivered yet
    assert jira_sync.poll(rt).status_changes == []  # Jira's "To Do" is stale, not a decision to reopen
    assert incident(rt, incident_id).status == "resolved"
    orchestrate.deliver(rt)
    assert jira.issues[key].status == "Done"


def test_cli_reconcile_and_poll(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: JiraLoopback) -> None:
    from typer.testing import CliRunner

    from irflow.cli_jira import jira_cli

    rt = make_rt(tmp_path, monkeypatch, cloud)
    monkeypatch.setenv("IRFLOW_HOME", str(rt.settings.home))
    monkeypatch.setenv("IRFLOW_RBAC", json.dumps({f"jira:{RESPONDER}": "responder"}))
    incident_id = ingest(rt, "prompt_injection.json")
    cloud.human_transition(incident(rt, incident_id).jira_key or "", "Done", RESPONDER)
    polled = CliRunner().invoke(jira_cli, ["poll", "--json"])
    assert polled.exit_code == 0, polled.output
    assert json.loads(polled.output)["status_changes"] and incident(rt, incident_id).status == "resolved"
    reconciled = CliRunner().invoke(jira_cli, ["reconcile"])
    assert reconciled.exit_code == 0 and "duplicates closed so far: 0" in reconciled.output


def test_a_required_field_irflow_does_not_fill_is_shown_in_jiras_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraLoopback,
) -> None:
    jira.required_fields["customfield_10010"] = "Team"
    rt = make_rt(tmp_path, monkeypatch, jira)
    incident_id = ingest(rt, "prompt_injection.json")
    assert jira.issues == {} and incident(rt, incident_id).jira_key is None
    with rt.db.tx() as s:
        view = incidents.incident_view(s, incidents.get(s, incident_id))
        failed = s.execute(select(OutboxRow).where(OutboxRow.incident_id == incident_id, OutboxRow.target == "jira")
                           .order_by(OutboxRow.id)).scalars().first()
    notes = [t["text"] for t in view["timeline"] if t["kind"] == "jira"]
    assert any("customfield_10010: Team is required." in n for n in notes)
    assert failed is not None and failed.status == "failed" and "HTTP 400" in (failed.last_error or "")
    del jira.required_fields["customfield_10010"]
    jira_sync.reconcile(rt, now=utcnow() + timedelta(minutes=5))  # fixed in Jira: the reconciler catches up
    assert incident(rt, incident_id).jira_key == next(iter(jira.issues))
