"""Slack end to end: the real slack_sdk client against the loopback Slack, a real Prefect server, the FastAPI app
with a real worker thread, and interactive / slash-command requests signed like Slack signs them (built from
../shared/specs/slack/app-backend). The incident channel is set up once and edited in place; buttons and
commands decide, undo and tick runbook steps; anything unsigned, badly signed or replayed changes nothing.
The environment, users and signed payloads come from slack_rig.py (shared with test_slack_socket_mode.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from irflow import commands, incidents, orchestrate, outbox
from irflow.slack_app import ReplayGuard, verify
from irflow.slack_blocks import APPROVE, REJECT, STEP, UNDO
from irflow.store.tables import AuditRow, RunbookProgressRow
from tests.integration.slack_rig import (
    APPROVER,
    HOSTILE,
    LIVE,
    ONCALL,
    OUTSIDER,
    RESPONDER,
    SECRET,
    VIEWER,
    Env,
    block_action,
    signed,
    slash,
)
from tests.integration.slack_rig import fixture_env  # noqa: F401 - fixtures, found by name


# --- the channel ---------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_incident_channel_is_set_up_once_and_edited_in_place(env: Env) -> None:
    incident_id = env.ingest()
    view = env.respond(incident_id)
    channel = env.slack.state.channels[view["slack_channel"]]
    assert channel.name.startswith("inc-") and channel.name.endswith("-prompt-injection")
    assert incident_id.rsplit("-", 1)[-1][:6] in channel.name and "HIGH" in channel.topic
    assert {APPROVER, ONCALL, RESPONDER, VIEWER, "U0ONCALL02"} <= channel.members, "ids and the email, looked up"
    assert {b["title"] for b in channel.bookmarks} == {"Runbook prompt_injection.md", "Prefect runs"}
    assert any(b["link"] == f"https://prefect.example/artifacts/key/irflow-{incident_id}" for b in channel.bookmarks)
    pinned = [m for m in env.messages(channel.id) if m.pinned]
    assert [m.ts for m in pinned] == [env.summary_ts(incident_id)]
    summary = json.dumps(pinned[0].blocks)
    assert UNDO in summary and APPROVE in summary and "users.suspend" in summary
    texts = [m.text for m in env.messages(channel.id)]
    assert any(t.startswith("Approval needed") for t in texts) and any(t.startswith("Runbook") for t in texts)

    posts, updates = len(env.slack.calls("chat.postMessage")), len(env.slack.calls("chat.update"))
    env.respond(incident_id)
    assert len(env.slack.calls("chat.postMessage")) == posts, "nothing is posted twice"
    assert len(env.slack.calls("chat.update")) == updates, "an unchanged summary costs no call"
    assert len(env.slack.calls("conversations.invite")) == 1 and len(env.slack.calls("bookmarks.add")) == 2
    bodies = json.dumps([r.body for r in env.slack.requests], ensure_ascii=False)
    assert [needle for needle in LIVE if needle in bodies] == []


@pytest.mark.integration
def test_a_storm_edits_the_summary_instead_of_posting(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    env.worker.stop()  # from here deliveries happen only where this test says, so the count of edits is exact
    orchestrate.deliver(env.rt)  # whatever the worker had not delivered yet when it stopped
    before, earlier_edits = len(env.messages(channel)), len(env.slack.calls("chat.update"))
    for i in range(40):
        env.ingest(evidence=f"attempt {i} {HOSTILE}")
        with env.rt.db.tx() as s:  # what a grown incident queues: one pending update, however many alerts
            outbox.enqueue(s, "incident.updated", incident_id)
        if i % 10 == 9:
            orchestrate.deliver(env.rt)
    orchestrate.deliver(env.rt)
    assert env.view(incident_id)["alert_count"] == 41
    assert len(env.messages(channel)) == before, "the channel got no new message"
    edits = [c for c in env.slack.calls("chat.update")[earlier_edits:] if c.body["ts"] == env.summary_ts(incident_id)]
    assert len(edits) == 4, "one edit per delivery round (four of them): pending updates coalesce"
    summary = env.slack.state.messages[(channel, env.summary_ts(incident_id))]
    assert "41" in json.dumps(summary.blocks)


@pytest.mark.integration
def test_name_taken_by_an_unusable_channel_gets_a_suffix(env: Env) -> None:
    from irflow.workspace_slack import channel_name

    incident_id = env.ingest()
    with env.rt.db.tx() as s:
        taken = channel_name(incidents.get(s, incident_id))
    env.slack.state.add_channel(taken, is_archived=True)
    channel = env.slack.state.channels[env.respond(incident_id)["slack_channel"]]
    assert channel.name == f"{taken}-2"
    assert [c.error for c in env.slack.calls("conversations.create")] == ["name_taken", None]


@pytest.mark.integration
def test_low_severity_lives_in_a_triage_thread_until_it_grows(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_TRIAGE_CHANNEL", "ai-triage")
    from irflow.systems import build

    env.rt.__dict__["systems"] = build(env.rt.db)  # the settings are read when the connectors are built
    incident_id = env.ingest(severity="low", user="lowly")
    env.drain()
    view = env.view(incident_id)
    triage = env.slack.state.channels[view["slack_channel"]]
    assert triage.name == "ai-triage" and view["slack_thread"] == env.summary_ts(incident_id)
    assert not any(m.pinned for m in env.messages(triage.id)), "nothing is pinned in a shared channel"
    assert env.slack.calls("conversations.invite") == [] and env.slack.calls("bookmarks.add") == []

    env.respond(incident_id)
    replies = [m for m in env.messages(triage.id) if m.thread_ts == view["slack_thread"]]
    assert replies and all(m.thread_ts for m in env.messages(triage.id) if m.ts != view["slack_thread"])

    env.ingest(severity="critical", user="lowly")  # the same actor again, now critical: the incident grows
    grown = env.respond(incident_id)  # what the worker does for a grown incident that reached a rung
    assert grown["severity"] == "critical" and grown["slack_thread"] is None
    assert grown["slack_channel"] != triage.id and env.slack.state.channels[grown["slack_channel"]].name.startswith("inc-")
    assert any(f"<#{grown['slack_channel']}>" in m.text for m in env.messages(triage.id) if m.thread_ts)


# --- signatures ---------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_unsigned_badly_signed_stale_or_replayed_requests_change_nothing(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    block = env.action(incident_id, "block-key")
    body = block_action(APPROVER, channel, env.summary_ts(incident_id), APPROVE, block.id)
    command = slash(APPROVER, channel, f"approve {block.id}")
    for path, payload in (("/v1/slack/actions", body), ("/v1/slack/commands", command)):
        assert env.post(path, payload, {"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
        assert env.post(path, payload, signed(payload, secret="not-the-secret")).status_code == 401
        assert env.post(path, payload, signed(payload, at=time.time() - 360)).status_code == 401
        assert env.post(path, payload + b"&x=1", signed(payload)).status_code == 401, "body changed after signing"
    env.drain()
    assert env.action(incident_id, "block-key").status == "awaiting_approval"
    assert env.ephemeral_to(APPROVER) == []
    with env.rt.db.tx() as s:
        assert s.execute(select(AuditRow).where(AuditRow.actor == f"slack:{APPROVER}")).first() is None

    headers = signed(command)
    assert env.post("/v1/slack/commands", command, headers).status_code == 200
    assert env.post("/v1/slack/commands", command, headers).status_code == 401, "the same signed request twice"


def test_verify_checks_secret_window_and_replay() -> None:
    guard, body, now = ReplayGuard(), b"payload=%7B%7D", time.time()
    good = signed(body, at=now)
    lower = {k.lower(): v for k, v in good.items()}
    assert verify(None, guard, body, lower, now) is not None, "no secret configured: nothing is trusted"
    assert verify(SECRET, guard, body, {}, now) is not None
    assert verify(SECRET, guard, body, lower, now + 301) is not None
    assert verify(SECRET, guard, body, lower, now) is None
    assert verify(SECRET, guard, body, lower, now + 1) == "request replayed"


# --- buttons ------------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_approve_button_acknowledges_fast_then_runs_the_step(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    block = env.action(incident_id, "block-key")
    request_ts = next(m.ts for m in env.messages(channel) if m.text.startswith("Approval needed"))
    body = block_action(APPROVER, channel, request_ts, APPROVE, block.id)
    started = time.monotonic()
    assert env.post("/v1/slack/actions", body).status_code == 200
    assert time.monotonic() - started < 3, "Slack gives up after three seconds"
    env.drain()
    done = env.action(incident_id, "block-key")
    assert done.status == "done" and done.approved_by == f"slack:{APPROVER}"
    assert not env.rt.systems.gateway.check(key="key-of-eve").allowed
    request = env.slack.state.messages[(channel, request_ts)]
    assert APPROVE not in json.dumps(request.blocks) and f"slack:{APPROVER}" in json.dumps(request.blocks)
    assert any(t.startswith("Approved") for t in env.ephemeral_to(APPROVER))


@pytest.mark.integration
def test_outsider_is_told_not_allowed_and_audited(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    env.slack.state.channels[channel].members.add(OUTSIDER)  # joined the channel, but has no role
    block = env.action(incident_id, "block-key")
    assert env.post("/v1/slack/actions", block_action(OUTSIDER, channel, "1.1", APPROVE, block.id)).status_code == 200
    env.drain()
    assert env.action(incident_id, "block-key").status == "awaiting_approval"
    assert any(t.startswith("Not allowed") for t in env.ephemeral_to(OUTSIDER))
    with env.rt.db.tx() as s:
        refused = s.execute(select(AuditRow).where(AuditRow.kind == "rbac.refused")).scalars().all()
    assert [r.actor for r in refused] == [f"slack:{OUTSIDER}"]


@pytest.mark.integration
def test_reject_and_undo_buttons(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    block, suspend = env.action(incident_id, "block-key"), env.action(incident_id, "suspend")
    assert not env.rt.systems.gateway.check(user="eve").allowed
    env.post("/v1/slack/actions", block_action(APPROVER, channel, "1.1", REJECT, block.id))
    env.post("/v1/slack/actions", block_action(APPROVER, channel, env.summary_ts(incident_id), UNDO, suspend.id))
    env.drain()
    assert env.action(incident_id, "block-key").status == "rejected"
    assert env.action(incident_id, "suspend").status == "undone"
    assert env.rt.systems.gateway.check(user="eve").allowed
    summary = env.slack.state.messages[(channel, env.summary_ts(incident_id))]
    assert UNDO not in json.dumps(summary.blocks), "nothing left to undo"


@pytest.mark.integration
def test_runbook_step_button_ticks_the_step_for_group_members(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    checklist = next(m for m in env.messages(channel) if m.text.startswith("Runbook"))
    for step in ("triage-confirm", "triage-scope"):
        body = block_action(RESPONDER, channel, checklist.ts, STEP, f"{incident_id} {step}")
        assert env.post("/v1/slack/actions", body).status_code == 200
    env.drain()
    with env.rt.db.tx() as s:
        ticks = {r.step_id: r.done_by for r in s.execute(select(RunbookProgressRow)).scalars()}
        audited = s.execute(select(AuditRow).where(AuditRow.kind == "runbook.step_done")).scalars().all()
        timeline = [t.text for t in incidents.timeline_of(s, incident_id)]
    assert ticks == {"triage-confirm": f"slack:{RESPONDER}", "triage-scope": f"slack:{RESPONDER}"}
    assert len(audited) == 2 and any("triage-confirm done by slack:U0RESPOND1" in t for t in timeline)
    updated = env.slack.state.messages[(channel, checklist.ts)]
    assert "2 of" in updated.text and f"slack:{RESPONDER}" in json.dumps(updated.blocks)
    assert len(env.slack.calls("usergroups.users.list")) == 1, "membership is cached"


# --- slash commands -----------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_slash_commands(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    helped = env.post("/v1/slack/commands", slash(VIEWER, channel, "help")).json()
    assert helped["response_type"] == "ephemeral" and "false-positive" in helped["text"]
    unknown = env.post("/v1/slack/commands", slash(VIEWER, channel, "explode <!channel>")).json()
    assert "unknown command" in unknown["text"] and "<!channel>" not in unknown["text"]

    ack = env.post("/v1/slack/commands", slash(VIEWER, channel, "status")).json()
    assert ack["response_type"] == "ephemeral" and ack["text"].startswith("Working on")
    env.post("/v1/slack/commands", slash(RESPONDER, channel, f"assign <@{ONCALL}|bob>"))
    env.post("/v1/slack/commands", slash(VIEWER, channel, "runbook"))
    env.drain()
    [status] = env.ephemeral_to(VIEWER)[:1]
    assert incident_id in status and "users.suspend" in status and "Waiting for approval" in status
    assert env.view(incident_id)["assignee"] == f"slack:{ONCALL}"
    checklists = [m.text for m in env.messages(channel) if "unbook" in m.text]
    assert checklists[0].startswith("This runbook checklist was posted again") and checklists[-1].startswith("Runbook")

    env.post("/v1/slack/commands", slash(APPROVER, channel, "false-positive it was our red team"))
    env.drain()
    view = env.view(incident_id)
    assert view["status"] == "resolved" and env.action(incident_id, "suspend").status == "undone"
    assert any("false positive" in t for t in env.ephemeral_to(APPROVER))


@pytest.mark.integration
def test_commands_outside_an_incident_channel_need_the_id(env: Env) -> None:
    incident_id = env.ingest()
    env.respond(incident_id)
    reply = commands.dispatch(env.rt, f"slack:{RESPONDER}", "resolve", None)
    assert "needs an incident id" in reply
    assert commands.dispatch(env.rt, f"slack:{RESPONDER}", f"resolve {incident_id} handled", None).endswith(
        "is resolved.")
    assert commands.dispatch(env.rt, f"slack:{OUTSIDER}", f"status {incident_id}", None).startswith("Not allowed")


def test_parse_takes_the_incident_from_context_or_text() -> None:
    assert commands.parse("status", "inc-aaaaaaaaaaaa") == commands.Command("status", "inc-aaaaaaaaaaaa", [])
    assert commands.parse("/irflow resolve inc-bbbbbbbbbbbb done now", "inc-aaaaaaaaaaaa") == commands.Command(
        "resolve", "inc-bbbbbbbbbbbb", ["done", "now"])
    assert commands.parse("", None).verb == "help"
    with pytest.raises(commands.CommandError):
        commands.parse("status inc-aaaaaaaaaaaa inc-bbbbbbbbbbbb", None)
    with pytest.raises(commands.CommandError):
        commands.parse("delete everything", None)


@pytest.mark.integration
def test_jira_issue_is_linked_from_the_summary_and_bookmarked(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    from irflow.systems import build
    from tests.contract.jira_server import JiraLoopback

    with JiraLoopback("Cloud") as jira:
        for name, value in {"JIRA_URL": jira.url, "JIRA_USER": jira.user, "JIRA_API_TOKEN": jira.token,
                            "JIRA_PROJECT": "SEC"}.items():
            monkeypatch.setenv(name, value)
        env.rt.__dict__["systems"] = build(env.rt.db)
        incident_id = env.ingest()
        view = env.respond(incident_id)
    url = f"{jira.url.rstrip('/')}/browse/{view['jira_key']}"
    channel = env.slack.state.channels[view["slack_channel"]]
    assert (f"Jira {view['jira_key']}", url) in [(b["title"], b["link"]) for b in channel.bookmarks]
    summary = env.slack.state.messages[(channel.id, env.summary_ts(incident_id))]
    assert url in [e.get("url") for b in summary.blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.integration
def test_a_deleted_summary_is_posted_again(env: Env) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    old = env.summary_ts(incident_id)
    del env.slack.state.messages[(channel, old)]
    env.ingest(evidence="one more")  # the summary changes, so irflow edits it and finds it gone
    with env.rt.db.tx() as s:
        outbox.enqueue(s, "incident.updated", incident_id)
    env.drain()
    new = env.summary_ts(incident_id)
    assert new != old and env.slack.state.messages[(channel, new)].pinned


def test_the_manifest_points_at_the_endpoints_and_asks_for_the_scopes_used() -> None:
    import yaml

    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "slack" / "manifest.yaml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/irflow" and command["url"].endswith("/v1/slack/commands")
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/v1/slack/actions")
    assert manifest["settings"]["socket_mode_enabled"] is False
    needed = {"chat:write", "channels:manage", "channels:read", "pins:write", "bookmarks:write", "commands",
              "users:read.email", "usergroups:read"}
    assert needed <= set(manifest["oauth_config"]["scopes"]["bot"])


def test_the_socket_mode_manifest_is_the_same_app_without_urls() -> None:
    import yaml

    folder = Path(__file__).resolve().parents[2] / "slack"
    https, socket = (yaml.safe_load((folder / name).read_text())
                     for name in ("manifest.yaml", "manifest.socket-mode.yaml"))
    assert socket["settings"]["socket_mode_enabled"] is True and socket["settings"]["interactivity"]["is_enabled"]
    assert "url" not in json.dumps(socket["features"]) and "request_url" not in socket["settings"]["interactivity"]
    assert socket["oauth_config"] == https["oauth_config"], "same scopes: the same app, another transport"
    [command], [https_command] = socket["features"]["slash_commands"], https["features"]["slash_commands"]
    assert command == {k: v for k, v in https_command.items() if k != "url"}
