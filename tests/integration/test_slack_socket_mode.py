"""Slack over Socket Mode, end to end: SLACK_APP_TOKEN instead of a signing secret; the loopback Slack hands out
a WebSocket (tests/contract/slack_socket_server.py) and delivers button presses and `/irflow` commands as
envelopes built from ../shared/specs/slack/app-backend. The same decisions, RBAC and replies as over HTTPS;
an envelope redelivered after a reconnect decides nothing twice; and `irflow serve` connects by itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from irflow import rbac, runtime, slack_socket
from irflow.prefect_server import free_port
from irflow.server import Worker, create_app
from irflow.settings import IrflowSettings
from irflow.slack_blocks import APPROVE, STEP
from irflow.store.tables import AuditRow, RunbookProgressRow
from tests.contract.slack_server import SlackServer
from tests.contract.slack_socket_server import SocketModeServer
from tests.integration.procs import IRFLOW
from tests.integration.slack_rig import (
    APPROVER,
    OUTSIDER,
    PLAYBOOK,
    RESPONDER,
    VIEWER,
    Env,
    block_action_payload,
    signed,
    slash_form,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@dataclass
class SocketEnv(Env):
    socket_mode: slack_socket.SocketMode | None = None

    @property
    def wire(self) -> SocketModeServer:
        assert self.slack.socket is not None
        return self.slack.socket


@pytest.fixture
def env(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SocketEnv]:
    books = tmp_path / "books"
    books.mkdir()
    (books / "prompt_injection.yaml").write_text(textwrap.dedent(PLAYBOOK))
    with SlackServer(socket=SocketModeServer()) as slack:
        for user in (APPROVER, OUTSIDER, RESPONDER, VIEWER):
            slack.state.add_user(user, f"{user.lower()}@corp.example")
        for name, value in {"SLACK_BOT_TOKEN": slack.token, "SLACK_APP_TOKEN": slack.app_token,
                            "SLACK_API_URL": slack.url, "SLACK_ONCALL": f"{APPROVER},{RESPONDER},{VIEWER}"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
        rbac_map = {f"slack:{APPROVER}": "approver", f"slack:{VIEWER}": "viewer", f"slack:{RESPONDER}": "responder"}
        rt = runtime.create(IrflowSettings(home=tmp_path / "home", playbooks=books, rbac=rbac_map))
        worker = Worker(rt, poll_s=0.05)
        worker.start()
        socket_mode = slack_socket.start_if_configured(rt, worker.submit)
        assert socket_mode is not None, "Slack is real and SLACK_APP_TOKEN is set: Socket Mode must start"
        try:
            with TestClient(create_app(rt, worker, "intake-token", None)) as http:
                yield SocketEnv(rt, slack, http, worker, socket_mode)
        finally:
            socket_mode.stop()
            worker.stop()
            rbac.register_groups(rbac.SLACK_GROUP_PREFIX, None)


def test_the_approve_button_arrives_over_the_socket(env: SocketEnv) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    block = env.action(incident_id, "block-key")
    request_ts = next(m.ts for m in env.messages(channel) if m.text.startswith("Approval needed"))
    press = env.wire.send("interactive", block_action_payload(APPROVER, channel, request_ts, APPROVE, block.id))
    assert env.wire.ack_for(press).payload is None
    _settle(env, lambda: env.action(incident_id, "block-key").status == "done")
    assert env.action(incident_id, "block-key").approved_by == f"slack:{APPROVER}"
    assert not env.rt.systems.gateway.check(key="key-of-eve").allowed
    assert any(t.startswith("Approved") for t in env.ephemeral_to(APPROVER))


def test_commands_over_the_socket_are_answered_in_the_acknowledgement(env: SocketEnv) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    helped = env.wire.ack_for(env.wire.send("slash_commands", slash_form(VIEWER, channel, "help"))).payload
    assert helped is not None and helped["response_type"] == "ephemeral" and "false-positive" in helped["text"]
    typo = env.wire.ack_for(env.wire.send("slash_commands", slash_form(VIEWER, channel, "explode <!channel>")))
    assert typo.payload is not None and "unknown command" in typo.payload["text"]
    assert "<!channel>" not in typo.payload["text"]
    working = env.wire.ack_for(env.wire.send("slash_commands", slash_form(VIEWER, channel, "status"))).payload
    assert working is not None and working["text"].startswith("Working on")
    _settle(env, lambda: any(incident_id in t for t in env.ephemeral_to(VIEWER)))
    [status] = [t for t in env.ephemeral_to(VIEWER) if incident_id in t]
    assert "Waiting for approval" in status


def test_rbac_holds_over_the_socket(env: SocketEnv) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    env.slack.state.channels[channel].members.add(OUTSIDER)
    block = env.action(incident_id, "block-key")
    env.wire.ack_for(env.wire.send("slash_commands", slash_form(OUTSIDER, channel, f"approve {block.id}")))
    _settle(env, lambda: any(t.startswith("Not allowed") for t in env.ephemeral_to(OUTSIDER)))
    assert env.action(incident_id, "block-key").status == "awaiting_approval"
    with env.rt.db.tx() as s:
        refused = s.execute(select(AuditRow).where(AuditRow.kind == "rbac.refused")).scalars().all()
    assert [r.actor for r in refused] == [f"slack:{OUTSIDER}"]


def test_a_redelivered_press_after_a_reconnect_ticks_the_step_once(env: SocketEnv) -> None:
    incident_id = env.ingest()
    channel = env.respond(incident_id)["slack_channel"]
    checklist = next(m for m in env.messages(channel) if m.text.startswith("Runbook"))
    payload = block_action_payload(RESPONDER, channel, checklist.ts, STEP, f"{incident_id} triage-confirm")
    first = env.wire.send("interactive", payload)
    env.wire.ack_for(first)
    env.wire.disconnect("refresh_requested")
    env.wire.wait_connected(2, timeout=20)
    env.wire.send("interactive", payload, envelope_id=first)  # Slack resends what it thinks was not acknowledged
    _settle(env, lambda: len(env.wire.acks_of(first)) == 2)
    env.drain()
    with env.rt.db.tx() as s:
        ticks = s.execute(select(RunbookProgressRow)).scalars().all()
        audited = s.execute(select(AuditRow).where(AuditRow.kind == "runbook.step_done")).scalars().all()
    assert [(t.step_id, t.done_by) for t in ticks] == [("triage-confirm", f"slack:{RESPONDER}")]
    assert len(audited) == 1
    assert len(env.ephemeral_to(RESPONDER)) == 1, "handled once: one answer, not a second 'already done'"


def test_https_endpoints_refuse_everything_without_a_signing_secret(env: SocketEnv) -> None:
    body = b"payload=%7B%7D"
    refused = env.post("/v1/slack/actions", body, signed(body, secret="anything"))
    assert refused.status_code == 401 and "SLACK_SIGNING_SECRET" in refused.json()["error"]


def test_socket_mode_keeps_trying_while_slack_is_down_and_gives_up_on_a_bad_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with SlackServer(socket=SocketModeServer()) as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        monkeypatch.setenv("SLACK_API_URL", slack.url)
        monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
        for token, connects in ((slack.app_token, True), ("xapp-1-A0LOOPBACK-9-revoked", False)):
            monkeypatch.setenv("SLACK_APP_TOKEN", token)
            rt = runtime.create(IrflowSettings(home=tmp_path / token[-7:]))
            slack.requests.clear()
            links = len(slack.socket.links) if slack.socket else 0
            slack.fail_next(2, status=503, method="apps.connections.open")
            mode = slack_socket.SocketMode(rt, lambda job: None, retry_s=(0.05,))
            mode.start()
            try:
                mode._thread.join(timeout=20)
                assert not mode._thread.is_alive(), "the connecting thread ends: connected, or given up"
                assert (len(slack.socket.links) if slack.socket else 0) == links + connects
                answers = [(c.status, c.error) for c in slack.calls("apps.connections.open")]
                assert answers == [(503, None), (503, None), (200, None if connects else "invalid_auth")], answers
            finally:
                mode.stop()
    assert "Not retrying" in caplog.text and "revoked" not in caplog.text, "the token is never logged"


def test_irflow_serve_connects_over_socket_mode(tmp_path: Path, prefect_api: str) -> None:
    with SlackServer(socket=SocketModeServer()) as slack:
        assert slack.socket is not None
        env = os.environ | {"IRFLOW_HOME": str(tmp_path / "home"), "IRFLOW_INTAKE_TOKEN": "t", "PREFECT_API_URL":
                            prefect_api, "SLACK_BOT_TOKEN": slack.token, "SLACK_APP_TOKEN": slack.app_token,
                            "SLACK_API_URL": slack.url}
        env.pop("SLACK_SIGNING_SECRET", None)
        proc = subprocess.Popen([IRFLOW, "serve", "--port", str(free_port())],
                                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            slack.socket.wait_connected(1, timeout=120)
            ack = slack.socket.ack_for(slack.socket.send("slash_commands", slash_form(VIEWER, "C0NOWHERE1", "help")))
            assert ack.payload is not None and "false-positive" in json.dumps(ack.payload)
        finally:
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output


def _settle(env: SocketEnv, done: object, timeout: float = 60) -> None:
    """Wait for work the socket handed to the worker: drain the worker until `done()` holds."""
    import time

    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        env.drain()
        threading.Event().wait(0.05)
