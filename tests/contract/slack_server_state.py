"""The loopback Slack's workspace state: one method per Web API method, with each method's documented error
codes, unique channel names, cursor pagination, members, threads, ephemeral messages, bookmarks, users (by email)
and user groups. slack_server.py serves it over HTTP."""

from __future__ import annotations

import base64
import json
import random
import string
import time
from collections.abc import Callable
from typing import Any

from tests.contract.slack_server_model import (
    IDENTITY,
    NAME_CHARS,
    Args,
    Channel,
    Message,
    Shaper,
    SlackError,
    blank,
    message_json,
)


def _truthy(value: Any) -> bool:
    return str(value).lower() in {"1", "true"}


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    try:
        prefix, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
        if prefix == "offset" and number.isdigit():
            return int(number)
    except ValueError:
        pass
    raise SlackError("invalid_cursor")


def _blocks(raw: Any) -> list[Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError:
            raise SlackError("invalid_blocks_format") from None
    if not isinstance(raw, list) or len(raw) > 50 or not all(isinstance(b, dict) and "type" in b for b in raw):
        raise SlackError("invalid_blocks")
    return raw


class SlackState:
    """The workspace as this server knows it; every method here is one Web API method."""

    def __init__(self, shaper: Shaper, page_size: int) -> None:
        self.shaper, self.page_size = shaper, page_size
        self.channels: dict[str, Channel] = {}
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemeral: list[Message] = []
        self.users: dict[str, Args] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._ts = 0
        self._rng = random.Random(1234)

    def add_channel(self, name: str, **attrs: Any) -> Channel:
        if not name or len(name) > 80 or not set(name) <= NAME_CHARS:
            raise SlackError("invalid_name_required" if not name else
                             "invalid_name_maxlength" if len(name) > 80 else "invalid_name_specials")
        if set(name) <= {"-", "_"}:
            raise SlackError("invalid_name_punctuation")
        if any(ch.name == name for ch in self.channels.values()):
            raise SlackError("name_taken")
        cid = "C" + "".join(self._rng.choices(string.ascii_uppercase + string.digits, k=10))
        self.channels[cid] = Channel(id=cid, name=name, **attrs)
        return self.channels[cid]

    def add_user(self, user_id: str, email: str | None = None, name: str | None = None) -> Args:
        self.users[user_id] = {"id": user_id, "team_id": IDENTITY["team_id"], "name": name or user_id.lower(),
                               "real_name": name or user_id, "deleted": False, "is_bot": False,
                               "profile": {"email": email or "", "real_name": name or user_id}}
        return self.users[user_id]

    def add_usergroup(self, group_id: str, users: list[str]) -> None:
        self.usergroups[group_id] = list(users)

    def dm(self, user_id: str) -> Channel:
        """The bot's direct-message conversation with a user, opened on first use."""
        found = next((c for c in self.channels.values() if c.is_im and user_id in c.members), None)
        if found is None:
            cid = "D" + "".join(self._rng.choices(string.ascii_uppercase + string.digits, k=10))
            found = self.channels[cid] = Channel(id=cid, name=f"dm-{user_id.lower()}", is_private=True, is_im=True)
            found.members.add(user_id)
        return found

    def in_channel(self, channel_id: str) -> list[Message]:
        """Messages everyone in the channel sees (not ephemeral ones), oldest first, thread replies included."""
        return sorted((m for (c, _), m in self.messages.items() if c == channel_id), key=lambda m: m.ts)

    def channel(self, args: Args) -> Channel:
        ref = str(args.get("channel") or "").lstrip("#")
        if ref in self.users:  # a user id as the channel: the app's direct message with that user, as in Slack
            return self.dm(ref)
        found = self.channels.get(ref) or next((c for c in self.channels.values() if c.name == ref), None)
        if found is None or not found.visible:
            raise SlackError("channel_not_found")
        if found.is_archived:
            raise SlackError("is_archived")
        return found

    def message(self, channel: Channel, ts: Any) -> Message:
        msg = self.messages.get((channel.id, str(ts)))
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    def routes(self) -> dict[str, Callable[[Args], Args]]:
        return {"auth.test": self.auth_test, "conversations.create": self.conversations_create,
                "conversations.list": self.conversations_list,
                "conversations.setTopic": self.conversations_setTopic, "chat.postMessage": self.chat_postMessage,
                "chat.update": self.chat_update, "pins.add": self.pins_add,
                "chat.postEphemeral": self.chat_postEphemeral, "conversations.invite": self.conversations_invite,
                "bookmarks.add": self.bookmarks_add, "users.lookupByEmail": self.users_lookupByEmail,
                "usergroups.users.list": self.usergroups_users_list}

    def auth_test(self, args: Args) -> Args:
        return dict(IDENTITY)

    def conversations_create(self, args: Args) -> Args:
        ch = self.add_channel(str(args.get("name") or ""), is_private=_truthy(args.get("is_private")))
        return {"channel": self.shaper.channel(ch)}

    def conversations_list(self, args: Args) -> Args:
        types = set(str(args.get("types") or "public_channel").split(","))
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise SlackError("invalid_types")
        limit = str(args.get("limit") or self.page_size)
        if not limit.isdigit() or not 0 < int(limit) <= 1000:
            raise SlackError("invalid_limit")
        archived_too = not _truthy(args.get("exclude_archived"))
        rows = [c for c in self.channels.values()
                if c.kind in types and c.visible and (archived_too or not c.is_archived)]
        start = _offset(str(args["cursor"])) if args.get("cursor") else 0
        end = start + min(int(limit), self.page_size)  # Slack may return fewer than asked, and does
        return {"channels": [self.shaper.channel(c) for c in rows[start:end]],
                "response_metadata": {"next_cursor": _cursor(end) if end < len(rows) else ""}}

    def conversations_setTopic(self, args: Args) -> Args:
        ch = self.channel(args)
        if "topic" not in args:
            raise SlackError("invalid_arguments")
        if len(str(args["topic"])) > 250:
            raise SlackError("too_long")
        ch.topic = str(args["topic"])
        return {"channel": self.shaper.channel(ch)}

    def chat_postMessage(self, args: Args) -> Args:
        ch = self.member_channel(args)
        text, blocks = self._content(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts is not None:
            self.message(ch, thread_ts)  # replies go under an existing message of this channel
        msg = Message(ts=self._next_ts(), channel=ch.id, text=text, blocks=blocks, thread_ts=thread_ts)
        self.messages[(ch.id, msg.ts)] = msg
        return {"channel": ch.id, "ts": msg.ts, "message": message_json(msg)}

    def chat_postEphemeral(self, args: Args) -> Args:
        ch = self.member_channel(args)
        user = str(args.get("user") or "")
        if not user:
            raise SlackError("user_not_found")
        if user not in ch.members:
            raise SlackError("user_not_in_channel")
        text, blocks = self._content(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        msg = Message(ts=self._next_ts(), channel=ch.id, text=text, blocks=blocks, thread_ts=thread_ts,
                      ephemeral_to=user)
        self.ephemeral.append(msg)
        return {"message_ts": msg.ts}

    def conversations_invite(self, args: Args) -> Args:
        ch = self.member_channel(args)
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        failed = [{"ok": False, "error": code, "user": u} for u in users if (code := self._invite_error(ch, u))]
        if failed and not (_truthy(args.get("force")) and len(failed) < len(users)):
            raise SlackError(str(failed[0]["error"]), extra={"errors": failed})  # nobody is invited
        ch.members |= {u for u in users if u not in {f["user"] for f in failed}}
        return {"channel": self.shaper.channel(ch)} | ({"errors": failed} if failed else {})

    def _invite_error(self, ch: Channel, user: str) -> str | None:
        if user == IDENTITY["user_id"]:
            return "cant_invite_self"
        if user not in self.users:
            return "user_not_found"
        return "already_in_channel" if user in ch.members else None

    def bookmarks_add(self, args: Args) -> Args:
        ch = self.member_channel({"channel": args.get("channel_id")})
        if not args.get("title") or not args.get("type"):
            raise SlackError("invalid_arguments")
        if args["type"] != "link":
            raise SlackError("invalid_bookmark_type")
        if not str(args.get("link") or "").startswith(("https://", "http://")):
            raise SlackError("invalid_link")
        now = int(time.time())
        bookmark = {"id": f"Bk{len(ch.bookmarks) + 1:09d}", "channel_id": ch.id, "title": str(args["title"]),
                    "link": str(args["link"]), "type": "link", "emoji": "", "icon_url": "", "entity_id": "",
                    "date_created": now, "date_updated": now, "rank": "", "last_updated_by_user_id":
                    IDENTITY["user_id"], "last_updated_by_team_id": IDENTITY["team_id"], "shortcut_id": "",
                    "app_id": IDENTITY["app_id"], "app_action_id": ""}
        base = blank(self.shaper.samples.get("bookmarks.add", {}).get("bookmark", {}))
        ch.bookmarks.append({**base, **bookmark})
        return {"bookmark": ch.bookmarks[-1]}

    def users_lookupByEmail(self, args: Args) -> Args:
        email = str(args.get("email") or "").lower()
        if not email:
            raise SlackError("invalid_arguments")
        found = next((u for u in self.users.values() if u["profile"]["email"].lower() == email), None)
        if found is None:
            raise SlackError("users_not_found")
        base = blank(self.shaper.samples.get("users.lookupByEmail", {}).get("user", {}))
        profile = {**base.get("profile", {}), **found["profile"]}
        return {"user": {**base, **found, "profile": profile}}

    def usergroups_users_list(self, args: Args) -> Args:
        group = str(args.get("usergroup") or "")
        if not group:
            raise SlackError("invalid_arguments")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def member_channel(self, args: Args) -> Channel:
        """The channel, which the bot must have joined to write in (Slack: ``not_in_channel``)."""
        ch = self.channel(args)
        if IDENTITY["user_id"] not in ch.members:
            raise SlackError("not_in_channel")
        return ch

    def _next_ts(self) -> str:
        self._ts += 1
        return f"{int(time.time())}.{self._ts:06d}"

    def chat_update(self, args: Args) -> Args:
        ch = self.channel(args)
        if not args.get("ts"):
            raise SlackError("invalid_arguments")
        msg = self.message(ch, args["ts"])
        text, blocks = self._content(args)
        msg.text = text
        if "blocks" in args:  # Slack keeps the old blocks unless blocks are sent
            msg.blocks = blocks
        return {"channel": ch.id, "ts": msg.ts, "text": msg.text, "message": message_json(msg)}

    def pins_add(self, args: Args) -> Args:
        ch = self.channel(args)
        if not args.get("timestamp"):
            raise SlackError("no_item_specified")
        msg = self.message(ch, args["timestamp"])
        if msg.pinned:
            raise SlackError("already_pinned")
        msg.pinned = True
        return {}

    @staticmethod
    def _content(args: Args) -> tuple[str, list[Any]]:
        text, blocks = str(args.get("text") or ""), _blocks(args.get("blocks", []))
        if not text and not blocks:
            raise SlackError("no_text")
        if len(text) > 40_000:
            raise SlackError("msg_too_long")
        return text, blocks
