"""Socket Mode: slack_sdk's own client against the loopback's apps.connections.open and a real WebSocket.

What irflow relies on: every envelope is acknowledged (a command's acknowledgement carries the reply), an
envelope delivered twice is handled once, a failing handler still acknowledges, and the connection comes
back after Slack asks for a refresh or the network drops it. Typed errors for a bad token or a down Slack.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from irflow.connectors.errors import AuthError, RateLimited, Unavailable
from irflow.connectors.slack.settings import SlackSettings
from irflow.connectors.slack.socket import SocketModeInbox, probe
from tests.contract.slack_server import DEFAULT_APP_TOKEN, SlackServer
from tests.contract.slack_socket_server import APP_ID, SocketModeServer


class Recorder:
    """The handler irflow would pass: records each call; answers commands; can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            self.calls.append((kind, payload))
        if self.fail:
            raise RuntimeError("handler bug")
        return {"response_type": "ephemeral", "text": f"got {payload.get('text')}"} if kind == "slash_commands" else None


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackServer]:
    with SlackServer(socket=SocketModeServer()) as server:
        yield server


def settings_for(slack: SlackServer, app_token: str = DEFAULT_APP_TOKEN) -> SlackSettings:
    return SlackSettings(bot_token=SecretStr(slack.token), app_token=SecretStr(app_token), api_url=slack.url, timeout=5)


@pytest.fixture(scope="module")
def connected(slack: SlackServer) -> Iterator[tuple[SocketModeInbox, Recorder]]:
    """One connection for the module: slack_sdk takes a second or more to close one."""
    handler = Recorder()
    box = SocketModeInbox(settings_for(slack), handler, ping_interval=0.3)
    try:
        assert box.start() is True
        yield box, handler
    finally:
        box.close()


@pytest.fixture
def inbox(connected: tuple[SocketModeInbox, Recorder], slack: SlackServer) -> tuple[SocketModeInbox, Recorder]:
    connected[1].calls.clear()
    connected[1].fail = False
    slack.requests.clear()
    return connected


def test_commands_are_acknowledged_with_their_reply_and_buttons_without_one(
        slack: SlackServer, inbox: tuple[SocketModeInbox, Recorder]) -> None:
    socket = slack.socket
    assert socket is not None
    command = socket.send("slash_commands", {"command": "/irflow", "text": "status", "user_id": "U0ALICE01"})
    assert socket.ack_for(command).payload == {"response_type": "ephemeral", "text": "got status"}
    press = socket.send("interactive", {"type": "block_actions", "user": {"id": "U0ALICE01"}, "actions": []})
    assert socket.ack_for(press).payload is None
    event = socket.send("events_api", {"event": {"type": "app_mention"}})
    assert socket.ack_for(event).envelope_id == event
    assert [kind for kind, _ in inbox[1].calls] == ["slash_commands", "interactive", "events_api"]


def test_an_envelope_delivered_twice_is_handled_once_and_acknowledged_twice(
        slack: SlackServer, inbox: tuple[SocketModeInbox, Recorder]) -> None:
    socket = slack.socket
    assert socket is not None
    first = socket.send("slash_commands", {"text": "approve act-1", "user_id": "U0ALICE01"})
    socket.ack_for(first)
    socket.send("slash_commands", {"text": "approve act-1", "user_id": "U0ALICE01"}, envelope_id=first)
    _wait(lambda: len(socket.acks_of(first)) == 2)
    assert len(inbox[1].calls) == 1


def test_a_failing_handler_still_acknowledges(slack: SlackServer, inbox: tuple[SocketModeInbox, Recorder]) -> None:
    socket = slack.socket
    assert socket is not None
    inbox[1].fail = True
    envelope = socket.send("slash_commands", {"text": "status", "user_id": "U0ALICE01"})
    assert socket.ack_for(envelope).payload is None


@pytest.mark.parametrize("how", ["refresh_requested", "drop"])
def test_the_connection_comes_back(slack: SlackServer, inbox: tuple[SocketModeInbox, Recorder], how: str) -> None:
    socket = slack.socket
    assert socket is not None
    before = len(socket.links)
    if how == "drop":
        socket.drop()
    else:
        socket.disconnect(how)
    socket.wait_connected(before + 1, timeout=15)
    envelope = socket.send("slash_commands", {"text": "status", "user_id": "U0ALICE01"})
    assert socket.ack_for(envelope).payload is not None
    assert len(slack.calls("apps.connections.open")) >= 1, "the new connection got a fresh ticket"
    assert socket.refused == []


def test_a_ticket_opens_one_connection_only(slack: SlackServer) -> None:
    from websockets.exceptions import InvalidStatus, ConnectionClosed
    from websockets.sync.client import connect

    socket = slack.socket
    assert socket is not None
    url = socket.issue_url()
    with connect(url) as first:
        assert '"hello"' in str(first.recv(timeout=5))
    with pytest.raises((ConnectionClosed, InvalidStatus)), connect(url) as second:
        second.recv(timeout=5)
    assert socket.refused, "the loopback refuses a used ticket, as Slack does"


def test_probe_proves_the_app_token(slack: SlackServer) -> None:
    assert probe(settings_for(slack)) == APP_ID
    with pytest.raises(AuthError, match="invalid_auth"):
        probe(settings_for(slack, "xapp-1-A0LOOPBACK-0-wrong"))
    slack.fail_next(1, status=503, method="apps.connections.open")
    with pytest.raises(Unavailable):
        probe(settings_for(slack))
    slack.rate_limit_next(1, retry_after=7, method="apps.connections.open")
    with pytest.raises(RateLimited) as limited:
        probe(settings_for(slack))
    assert limited.value.retry_after == 7


def test_the_inbox_sleeps_through_a_rate_limit_and_refuses_a_bad_token(slack: SlackServer) -> None:
    slack.requests.clear()
    slack.rate_limit_next(1, retry_after=1, method="apps.connections.open")
    box = SocketModeInbox(settings_for(slack), Recorder(), ping_interval=0.3)
    try:
        assert box.start() is True
        assert [c.error for c in slack.calls("apps.connections.open")] == ["ratelimited", None]
    finally:
        box.close()
    bad = SocketModeInbox(settings_for(slack, "xapp-1-A0LOOPBACK-0-wrong"), Recorder())
    try:
        with pytest.raises(AuthError):
            bad.start()
    finally:
        bad.close()


def test_the_bot_token_is_not_an_app_token(slack: SlackServer) -> None:
    with pytest.raises(ValidationError, match="app-level token"):
        SlackSettings(app_token=SecretStr(slack.token))
    with pytest.raises(ValidationError) as refused:
        SlackSettings(app_token=SecretStr(slack.token))
    assert slack.token not in str(refused.value), "the refused value is a secret and is not echoed"


def _wait(done: Any, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
