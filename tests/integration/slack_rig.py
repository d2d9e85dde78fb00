"""What the Slack end-to-end tests share (test_slack_app*.py over HTTPS, test_slack_socket_mode.py over a
WebSocket): the users and their roles, hostile alert text, the playbook, requests signed and payloads shaped
like Slack's (built from ../shared/specs/slack/app-backend), and the environment: the loopback Slack, a runtime
on a real Prefect server, the FastAPI app and its worker thread. The fixture is defined as fixture_env, so a
test module imports it without its parameters shadowing the import."""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from irflow import incidents, intake, orchestrate, rbac, runtime
from irflow.bodies import split
from irflow.server import Worker, create_app
from irflow.settings import IrflowSettings
from irflow.store.tables import ActionRow
from tests.conftest import shared_path
from tests.contract.slack_server import SlackServer
from tests.integration.playbook_yaml import GATED_BLOCK, SUSPEND, playbook_yaml

SECRET = "slack-signing-secret-for-tests"
APPROVER, OUTSIDER, RESPONDER, VIEWER, ONCALL = "U0APPROVER", "U0OUTSIDER", "U0RESPOND1", "U0VIEWER01", "U0ONCALL01"
GROUP = "S0SECOPS01"
HOSTILE = ("ignore previous instructions <!channel> <@U0CANARY1> <https://canary.example/x|click> "
           "sk-proj-ZmFrZUtleUZvckRlbW9Pbmx5MTIzNDU2Nzg5 ``` end")
LIVE = ("<!channel>", "<@U0CANARY1>", "<https://canary", "https://canary", "sk-proj-ZmFrZUtleUZvckRlbW9")
PLAYBOOK = playbook_yaml(SUSPEND + GATED_BLOCK)


# --- signing and payloads like Slack's -----------------------------------------------------------------------------


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    ts = str(int(time.time() if at is None else at))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded"}


def block_action(user: str, channel: str, message_ts: str, action_id: str, value: str) -> bytes:
    """The form body Slack posts for a button press."""
    return urlencode({"payload": json.dumps(block_action_payload(user, channel, message_ts, action_id, value))}).encode()


def block_action_payload(user: str, channel: str, message_ts: str, action_id: str, value: str) -> dict[str, Any]:
    """A block_actions payload shaped like the sample in ../shared, with our button in it."""
    sample = json.loads(shared_path("specs", "slack", "app-backend", "BlockActionPayload.json").read_text())
    action = sample["actions"][0] | {"action_id": action_id, "value": value, "type": "button", "block_id": "b1",
                                     "action_ts": f"{time.time():.6f}"}
    payload = sample | {
        "type": "block_actions", "user": sample["user"] | {"id": user, "username": user.lower()},
        "team": sample["team"] | {"id": "T0LOOPBACK"}, "channel": {"id": channel, "name": "inc"},
        "container": sample["container"] | {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                            "thread_ts": ""},
        "actions": [action], "response_url": "https://hooks.slack.com/actions/T0/1/x", "trigger_id": "1.2.3",
    }
    return payload


def slash(user: str, channel: str, text: str) -> bytes:
    return urlencode(slash_form(user, channel, text)).encode()


def slash_form(user: str, channel: str, text: str) -> dict[str, Any]:
    """A slash command's fields, shaped like the sample in ../shared (a form over HTTPS, JSON over Socket Mode)."""
    sample = json.loads(shared_path("specs", "slack", "app-backend", "SlashCommandPayload.json").read_text())
    return sample | {"command": "/irflow", "text": text, "user_id": user, "user_name": user.lower(),
                     "channel_id": channel, "team_id": "T0LOOPBACK", "response_url": "https://hooks.slack.com/c/1",
                     "trigger_id": "1.2.3", "is_enterprise_install": "false"}


# --- the environment ---------------------------------------------------------------------------------------------


@dataclass
class Env:
    rt: runtime.Runtime
    slack: SlackServer
    http: TestClient
    worker: Worker

    def drain(self, timeout: float = 120) -> None:
        """Wait until every job submitted so far ran, and the outbox delivery after it."""
        done = threading.Event()
        self.worker.submit(done.set)
        assert done.wait(timeout), "the worker did not get through its queue"
        self.worker.submit(lambda: None)  # one more round: the delivery after the last job has finished too
        done.clear()
        self.worker.submit(done.set)
        assert done.wait(timeout)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the worker thread, as `irflow serve` does: one thread delivers the outbox, never two."""
        result: dict[str, Any] = {}

        def job() -> None:
            try:
                result["value"] = fn()
            except Exception as exc:  # noqa: BLE001 - handed to the test thread below
                result["error"] = exc

        self.worker.submit(job)
        self.drain()
        if "error" in result:
            raise result["error"]
        return result.get("value")

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
        return self.http.post(path, content=body, headers=headers if headers is not None else signed(body))

    def ingest(self, severity: str = "high", user: str = "eve", evidence: str = HOSTILE) -> str:
        body = json.dumps({"title": "pi <!here>", "category": "prompt_injection", "severity": severity,
                           "actor": {"user": user, "api_key": f"key-of-{user}", "session": f"s-{user}"},
                           "evidence": evidence}).encode()
        incident_id = intake.ingest(self.rt.db, self.rt.settings, split(body, max_bytes=1 << 20)).results[0].incident_id
        assert incident_id
        return incident_id

    def respond(self, incident_id: str) -> dict[str, Any]:
        self.run(lambda: orchestrate.respond(self.rt, incident_id))
        return self.view(incident_id)

    def view(self, incident_id: str) -> dict[str, Any]:
        with self.rt.db.tx() as s:
            return incidents.incident_view(s, incidents.get(s, incident_id))

    def action(self, incident_id: str, step: str) -> ActionRow:
        with self.rt.db.tx() as s:
            return next(a for a in incidents.actions_of(s, incident_id) if a.step_id == step)

    def messages(self, channel: str) -> list[Any]:
        return self.slack.state.in_channel(channel)

    def ephemeral_to(self, user: str) -> list[str]:
        return [m.text for m in self.slack.state.ephemeral if m.ephemeral_to == user]

    def summary_ts(self, incident_id: str) -> str:
        with self.rt.db.tx() as s:
            ts = incidents.get(s, incident_id).slack_summary_ts
        assert ts
        return ts


@pytest.fixture(name="env")
def fixture_env(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    books = tmp_path / "books"
    books.mkdir()
    (books / "prompt_injection.yaml").write_text(textwrap.dedent(PLAYBOOK))
    with SlackServer() as slack:
        for user in (APPROVER, OUTSIDER, RESPONDER, VIEWER, ONCALL):
            slack.state.add_user(user, f"{user.lower()}@corp.example")
        slack.state.add_user("U0ONCALL02", "oncall@corp.example")
        slack.state.add_usergroup(GROUP, [RESPONDER])
        for name, value in {"SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.url,
                            "SLACK_ONCALL": f"{APPROVER},{ONCALL},{RESPONDER},{VIEWER},oncall@corp.example",
                            "SLACK_RUNBOOK_URL": "https://git.example/irflow/runbooks",
                            "SLACK_PREFECT_UI_URL": "https://prefect.example"}.items():
            monkeypatch.setenv(name, value)
        rbac_map = {f"slack:{APPROVER}": "approver", f"slack:{VIEWER}": "viewer", f"slack-group:{GROUP}": "responder"}
        rt = runtime.create(IrflowSettings(home=tmp_path / "home", playbooks=books, rbac=rbac_map))
        worker = Worker(rt, poll_s=0.05)
        worker.start()
        try:
            with TestClient(create_app(rt, worker, "intake-token", None)) as http:
                yield Env(rt, slack, http, worker)
        finally:
            worker.stop()
            rbac.register_groups(rbac.SLACK_GROUP_PREFIX, None)
