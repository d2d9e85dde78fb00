"""The loopback Slack's workspace model: Slack's identity for the bot, channels and messages, the ``ok: false``
error, and the shapes of success bodies (every key of ../shared/specs/slack/samples, real values on top).
slack_server_state.py implements the Web API methods on these; slack_server.py serves them over HTTP."""

from __future__ import annotations

import json
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERROR_ONLY_KEYS = frozenset({"error", "needed", "provided", "detail", "errors", "warning", "deprecated_argument"})
"""Sample keys that Slack sends only on failure or with a warning; a success answer leaves them out."""

IDENTITY = {
    "url": "https://irflow-loopback.slack.com/", "team": "irflow loopback", "user": "irflow",
    "team_id": "T0LOOPBACK", "user_id": "U0LOOPBACK", "bot_id": "B0LOOPBACK", "app_id": "A0LOOPBACK",
    "app_name": "irflow", "is_enterprise_install": False,
}
NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "-_")
Args = dict[str, Any]


class SlackError(Exception):
    """An ``ok: false`` answer with Slack's error code (and any extra keys Slack sends with it)."""

    def __init__(self, code: str, status: int = 200, extra: Args | None = None) -> None:
        super().__init__(code)
        self.code, self.status, self.extra = code, status, extra or {}


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = True
    created: int = field(default_factory=lambda: int(time.time()))
    topic: str = ""
    members: set[str] = field(default_factory=lambda: {str(IDENTITY["user_id"])})
    bookmarks: list[Args] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.is_member:  # a channel someone else made, which the bot never joined
            self.members.discard(str(IDENTITY["user_id"]))

    is_im: bool = False

    @property
    def kind(self) -> str:
        return "im" if self.is_im else "private_channel" if self.is_private else "public_channel"

    @property
    def visible(self) -> bool:
        """A private channel exists for the bot only if the bot is in it."""
        return self.is_member or not self.is_private


@dataclass
class Message:
    ts: str
    channel: str
    text: str
    blocks: list[Any]
    pinned: bool = False
    thread_ts: str | None = None
    ephemeral_to: str | None = None


def blank(sample: Any) -> Any:
    """Placeholder lists like ``[""]`` become ``[]``; other placeholder values keep their type."""
    if isinstance(sample, dict):
        return {k: blank(v) for k, v in sample.items()}
    return [] if isinstance(sample, list) else sample


class Shaper:
    """Gives success bodies every top-level key slackapi has seen for the method, real values on top."""

    def __init__(self, samples_dir: Path | None) -> None:
        self.samples: dict[str, Args] = {}
        if samples_dir is not None and samples_dir.is_dir():
            for path in samples_dir.glob("*.json"):
                self.samples[path.stem] = json.loads(path.read_text(encoding="utf-8"))

    def shape(self, method: str, real: Args) -> Args:
        sample = self.samples.get(method, {})
        base = {k: blank(v) for k, v in sample.items() if k not in ERROR_ONLY_KEYS}
        return {**base, **real, "ok": True}

    def channel(self, ch: Channel) -> Args:
        base = blank(self.samples.get("conversations.create", {}).get("channel", {}))
        topic = {"value": ch.topic, "creator": IDENTITY["user_id"] if ch.topic else "", "last_set": ch.created}
        return {**base, "id": ch.id, "name": ch.name, "name_normalized": ch.name, "is_channel": not ch.is_private,
                "is_group": False, "is_im": ch.is_im, "is_mpim": False, "is_private": ch.is_private,
                "is_archived": ch.is_archived, "is_general": False, "is_member": ch.is_member,
                "created": ch.created, "updated": ch.created * 1000, "creator": IDENTITY["user_id"],
                "topic": topic, "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": []}


def message_json(msg: Message) -> Args:
    return {"type": "message", "text": msg.text, "user": IDENTITY["user_id"], "bot_id": IDENTITY["bot_id"],
            "app_id": IDENTITY["app_id"], "team": IDENTITY["team_id"], "ts": msg.ts, "blocks": msg.blocks}
