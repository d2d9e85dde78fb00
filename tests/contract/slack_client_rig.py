"""What the Slack contract tests share: the loopback Slack with a real SlackClient on it, the ChatOps backend
rig (the real client and the local twin, each with a way to look behind it), and raw calls that check the
loopback without slack_sdk. The fixtures are defined as fixture_<name>, so a test module imports them without
its parameters shadowing the import."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from irflow.connectors.slack.client import SlackClient
from irflow.connectors.slack.interface import ChatOps
from irflow.connectors.slack.local import LocalSlack
from irflow.connectors.slack.settings import SlackSettings
from irflow.redaction import SafeText
from irflow.store.engine import Database
from irflow.store.tables import TwinSlackChannelRow, TwinSlackMessageRow
from tests.contract.slack_server import SlackServer

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES = SHARED / "specs" / "slack" / "samples"


@dataclass(frozen=True)
class Seen:
    text: str
    blocks: list[Any]
    pinned: bool


@dataclass
class Backend:
    """A ChatOps plus a way to look behind it, so one test body checks both implementations."""

    chat: ChatOps
    seen: Callable[[str, str], Seen | None]
    writes: Callable[[], int]
    thread_of: Callable[[str, str], str | None]
    members: Callable[[str], set[str]]
    ephemeral: Callable[[str], list[tuple[str, str]]]
    bookmarks: Callable[[str], list[tuple[str, str]]]
    add_user: Callable[[str, str], None]


def section(text: SafeText | str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def make_client(server: SlackServer, *, token: str | None = None, timeout: float = 5) -> SlackClient:
    settings = SlackSettings(bot_token=SecretStr(token or server.token), signing_secret=SecretStr("s3cret"),
                             api_url=server.url, timeout=timeout)
    return SlackClient(settings)


@pytest.fixture(name="slack_server")
def fixture_slack_server() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture(name="slack_client")
def fixture_slack_client(slack_server: SlackServer) -> SlackClient:
    return make_client(slack_server)


def _slack_backend(server: SlackServer) -> Backend:
    def seen(channel: str, ts: str) -> Seen | None:
        msg = server.state.messages.get((channel, ts))
        return Seen(msg.text, msg.blocks, msg.pinned) if msg else None

    def thread_of(channel: str, ts: str) -> str | None:
        return server.state.messages[(channel, ts)].thread_ts

    def add_user(user_id: str, email: str) -> None:
        server.state.add_user(user_id, email)

    return Backend(make_client(server), seen, lambda: len(server.requests), thread_of,
                   lambda ch: set(server.state.channels[ch].members),
                   lambda ch: [(m.ephemeral_to or "", m.text) for m in server.state.ephemeral if m.channel == ch],
                   lambda ch: [(b["title"], b["link"]) for b in server.state.channels[ch].bookmarks], add_user)


def _local_backend(db: Database) -> Backend:
    def seen(channel: str, ts: str) -> Seen | None:
        with db.tx() as s:
            row = s.get(TwinSlackMessageRow, ts)
            return Seen(row.text, row.blocks, row.pinned) if row and row.channel == channel else None

    def writes() -> int:
        with db.tx() as s:
            counts = [s.execute(select(func.count()).select_from(t)).scalar_one()
                      for t in (TwinSlackChannelRow, TwinSlackMessageRow)]
        return sum(counts)

    twin = LocalSlack(db, SlackSettings())

    def thread_of(channel: str, ts: str) -> str | None:
        msg = twin.message(ts)
        return msg.meta.get("thread_ts") if msg else None

    def ephemeral(channel: str) -> list[tuple[str, str]]:
        return [(m.meta["ephemeral_to"], m.text) for m in twin.ephemeral(channel)]

    return Backend(twin, seen, writes, thread_of, twin.members, ephemeral,
                   lambda ch: [(b["title"], b["link"]) for b in twin.bookmarks(ch)], lambda user_id, email: None)


@pytest.fixture(name="backend", params=["slack", "local"])
def fixture_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "slack":
        with SlackServer() as server:
            yield _slack_backend(server)
        return
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    yield _local_backend(db)
    db.engine.dispose()


def raw_call(server: SlackServer, method: str, body: dict[str, Any] | None = None, *, token: str | None = "",
             as_json: bool = False) -> tuple[int, dict[str, Any]]:
    """Talk to the server without slack_sdk, so these checks don't depend on the client under test."""
    headers = {"Content-Type": "application/json; charset=utf-8" if as_json else "application/x-www-form-urlencoded"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or server.token}"
    data = json.dumps(body or {}) if as_json else urllib.parse.urlencode(body or {})
    request = urllib.request.Request(server.url + method, data=data.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
