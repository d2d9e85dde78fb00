"""Slack's local twin: channels and messages in the irflow store, inspectable with `irflow incidents show`.

Channels and the messages everyone sees live in the two twin tables; a reply's ``thread_ts`` rides in an
``irflow_twin`` marker block after the content (`message`, `replies` read it back). Members, bookmarks and
ephemeral messages, which Slack shows nobody later or keeps outside the conversation, live in memory for
the life of the process: irflow's own record of what it invited and bookmarked is its ``external_intents``
rows, so nothing is lost when the process ends.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from irflow.connectors.errors import InvalidRequest, NotFound
from irflow.connectors.slack.settings import SlackSettings
from irflow.models import utcnow
from irflow.redaction import SafeText
from irflow.render import assert_blocks_safe, require_safe
from irflow.store.engine import Database
from irflow.store.tables import TwinSlackChannelRow, TwinSlackMessageRow

SYSTEM = "local"
MARKER = "irflow_twin"
"""Block type of the twin's bookkeeping block; no Slack block has it, so it cannot be confused with content."""
BOT_USER = "UIRFLOWBOT"

_counter = itertools.count()


@dataclass(frozen=True)
class TwinMessage:
    """A twin message as Slack would show it: content blocks apart from the twin's bookkeeping."""

    ts: str
    channel: str
    text: str
    blocks: list[Any]
    pinned: bool
    meta: dict[str, Any] = field(default_factory=dict)


def _split(blocks: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    if blocks and isinstance(blocks[-1], dict) and blocks[-1].get("type") == MARKER:
        return blocks[:-1], dict(blocks[-1])
    return list(blocks), {}


def _join(blocks: list[Any], meta: dict[str, Any]) -> list[Any]:
    return [*blocks, {"type": MARKER, **meta}] if meta else list(blocks)


class LocalSlack:
    """ChatOps against the irflow store: the default when no Slack workspace is configured."""

    system = SYSTEM

    def __init__(self, db: Database, settings: SlackSettings | None = None) -> None:
        """Keep the database; the workspace choices (on-call, triage threads) come from SLACK_* like the client's."""
        self._db = db
        self.settings = settings if settings is not None else SlackSettings()
        self._members: dict[str, set[str]] = {}
        self._bookmarks: dict[str, list[dict[str, str]]] = {}
        self._ephemeral: list[TwinMessage] = []

    def ensure_channel(self, name: str, topic: SafeText) -> str:
        require_safe(topic)
        with self._db.tx() as s:
            existing = s.execute(select(TwinSlackChannelRow).where(TwinSlackChannelRow.name == name)).scalar()
            if existing is not None:
                existing.topic = str(topic)
                return existing.id
            count = len(s.execute(select(TwinSlackChannelRow.id)).all())
            channel_id = f"CL{count + 1:08d}"
            s.add(TwinSlackChannelRow(id=channel_id, name=name, topic=str(topic), created_at=utcnow()))
        return channel_id

    def post(self, channel: str, text: SafeText, blocks: list[dict[str, Any]] | None = None, *, pin: bool = False,
             thread_ts: str | None = None) -> str:
        require_safe(text)
        assert_blocks_safe(blocks or [])
        meta = {"thread_ts": thread_ts} if thread_ts else {}
        return self._add(channel, str(text), _join(blocks or [], meta), pinned=pin)

    def update(self, channel: str, ts: str, text: SafeText, blocks: list[dict[str, Any]] | None = None) -> None:
        require_safe(text)
        assert_blocks_safe(blocks or [])
        with self._db.tx() as s:
            row = s.get(TwinSlackMessageRow, ts)
            if row is None or row.channel != channel:
                raise NotFound(f"message {ts} not in channel {channel}", system="slack")
            meta = _split(row.blocks)[1]
            row.text, row.blocks, row.updated_at = str(text), _join(blocks or [], meta), utcnow()

    def post_ephemeral(self, channel: str, user: str, text: SafeText, blocks: list[dict[str, Any]] | None = None,
                       *, thread_ts: str | None = None) -> None:
        require_safe(text)
        assert_blocks_safe(blocks or [])
        self._require_channel(channel)
        if user not in self.members(channel):  # as in Slack: only members can be shown an ephemeral message
            raise InvalidRequest("user_not_in_channel", system="slack")
        meta: dict[str, Any] = {"ephemeral_to": user} | ({"thread_ts": thread_ts} if thread_ts else {})
        self._ephemeral.append(TwinMessage(f"{time.time():.6f}", channel, str(text), list(blocks or []), False, meta))

    def invite(self, channel: str, users: list[str]) -> dict[str, str]:
        """Members already there are success, as in Slack; the twin knows no directory, so nobody is refused."""
        self._require_channel(channel)
        self._members.setdefault(channel, set()).update(users)
        return {}

    def add_bookmark(self, channel: str, title: SafeText, link: str) -> str:
        require_safe(title)
        if not link.startswith(("https://", "http://")):
            raise InvalidRequest("bookmarks need an http(s) link", system="slack")
        self._require_channel(channel)
        bookmark_id = f"Bk{next(_counter):08d}"
        self._bookmarks.setdefault(channel, []).append({"id": bookmark_id, "title": str(title), "link": link})
        return bookmark_id

    def lookup_user_by_email(self, email: str) -> str | None:
        """The twin has no directory: every email maps to a stable made-up id, so the demo can invite by email."""
        return "U" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:10].upper()

    def usergroup_members(self, group: str) -> frozenset[str]:
        """The twin knows no user groups: RBAC entries for groups grant nobody until a real Slack is configured."""
        return frozenset()

    # --- looking behind the twin (tests, demo) ---------------------------------------------------------------

    def message(self, ts: str) -> TwinMessage | None:
        with self._db.tx() as s:
            row = s.get(TwinSlackMessageRow, ts)
            if row is None:
                return None
            blocks, meta = _split(row.blocks)
            return TwinMessage(row.ts, row.channel, row.text, blocks, row.pinned, meta)

    def messages(self, channel: str) -> list[TwinMessage]:
        with self._db.tx() as s:
            rows = s.execute(select(TwinSlackMessageRow).where(TwinSlackMessageRow.channel == channel)
                             .order_by(TwinSlackMessageRow.ts)).scalars().all()
            return [TwinMessage(r.ts, r.channel, r.text, *self._content(r)) for r in rows]

    def members(self, channel: str) -> set[str]:
        return {BOT_USER} | self._members.get(channel, set())

    def bookmarks(self, channel: str) -> list[dict[str, str]]:
        return [dict(b) for b in self._bookmarks.get(channel, [])]

    def ephemeral(self, channel: str) -> list[TwinMessage]:
        return [m for m in self._ephemeral if m.channel == channel]

    def replies(self, channel: str, thread_ts: str) -> list[TwinMessage]:
        return [m for m in self.messages(channel) if m.meta.get("thread_ts") == thread_ts]

    @staticmethod
    def _content(row: TwinSlackMessageRow) -> tuple[list[Any], bool, dict[str, Any]]:
        blocks, meta = _split(row.blocks)
        return blocks, row.pinned, meta

    def _require_channel(self, channel: str) -> None:
        with self._db.tx() as s:
            if s.get(TwinSlackChannelRow, channel) is None:
                raise NotFound(f"channel_not_found: {channel}", system="slack")

    def _add(self, channel: str, text: str, blocks: list[Any], *, pinned: bool) -> str:
        ts = f"{time.time():.6f}{next(_counter) % 10}"
        with self._db.tx() as s:
            if s.get(TwinSlackChannelRow, channel) is None:
                raise NotFound(f"channel_not_found: {channel}", system="slack")
            s.add(TwinSlackMessageRow(ts=ts, channel=channel, text=text, blocks=blocks, pinned=pinned,
                                      updated_at=utcnow()))
        return ts
