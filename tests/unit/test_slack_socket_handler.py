"""What irflow does with each Socket Mode envelope, without a socket: commands are answered in the
acknowledgement and their work is queued; presses queue one job per irflow button; anything malformed or
unknown is acknowledged with nothing queued (Slack must not retry it, and nothing must run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from irflow import runtime, slack_socket
from irflow.settings import IrflowSettings
from irflow.slack_blocks import APPROVE


@pytest.fixture
def handle(tmp_path: Path) -> tuple[Any, list[Any]]:
    queued: list[Any] = []
    rt = runtime.create(IrflowSettings(home=tmp_path / "home"))
    return slack_socket.handler(rt, queued.append), queued


def test_a_command_is_answered_in_the_acknowledgement_and_its_work_queued(handle: tuple[Any, list[Any]]) -> None:
    handle_, queued = handle
    reply = handle_("slash_commands", {"user_id": "U0ALICE01", "channel_id": "C0SECOPS1", "text": "status inc-1"})
    assert reply == {"response_type": "ephemeral", "text": "Working on `status inc-1`…"} and len(queued) == 1


def test_help_and_typos_need_no_job(handle: tuple[Any, list[Any]]) -> None:
    handle_, queued = handle
    assert "false-positive" in handle_("slash_commands", {"user_id": "U0ALICE01", "text": "help"})["text"]
    typo = handle_("slash_commands", {"user_id": "U0ALICE01", "text": "explode <!channel>"})
    assert "unknown command" in typo["text"] and "<!channel>" not in typo["text"]
    assert queued == []


@pytest.mark.parametrize(("kind", "payload"), [
    ("slash_commands", {"user_id": "not-a-user", "text": "status"}),
    ("slash_commands", {"text": "status"}),
    ("interactive", {"type": "block_actions", "user": "U0ALICE01", "actions": [{"action_id": APPROVE}]}),
    ("interactive", {"type": "block_actions", "user": {"id": "U0ALICE01"}, "actions": "approve everything"}),
    ("interactive", {"type": "block_actions", "user": {"id": "U0ALICE01"},
                     "actions": [{"action_id": APPROVE, "value": "act-1; rm -rf /"}]}),
    ("interactive", {"type": "view_submission", "user": {"id": "U0ALICE01"}}),
    ("events_api", {"event": {"type": "app_mention", "text": "<@U0IRFLOW> approve act-1"}}),
])
def test_malformed_or_unknown_envelopes_queue_nothing(handle: tuple[Any, list[Any]], kind: str,
                                                      payload: dict[str, Any]) -> None:
    handle_, queued = handle
    assert handle_(kind, payload) is None
    assert queued == []


def test_an_approve_press_queues_one_job(handle: tuple[Any, list[Any]]) -> None:
    handle_, queued = handle
    press = {"type": "block_actions", "user": {"id": "U0ALICE01"}, "channel": {"id": "C0SECOPS1"},
             "container": {"channel_id": "C0SECOPS1", "message_ts": "1.2"},
             "actions": [{"action_id": APPROVE, "value": "act-0123456789ab"}]}
    assert handle_("interactive", press) is None and len(queued) == 1


def test_a_store_that_does_not_answer_is_said_in_the_acknowledgement(
        handle: tuple[Any, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from irflow import commands

    def locked(*_: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(commands, "incident_for_channel", locked)
    handle_, queued = handle
    reply = handle_("slash_commands", {"user_id": "U0ALICE01", "channel_id": "C0SECOPS1", "text": "status"})
    assert reply is not None and "try again" in reply["text"] and queued == []
