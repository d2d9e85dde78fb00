"""A loopback Slack Web API over real HTTP, so slack_sdk is tested against something that behaves like Slack.

Like Slack: Bearer auth failures as HTTP 200 + ``ok: false``, 404 ``unknown_method``, each method's documented
error codes, unique channel names, cursor pagination returning fewer rows than asked; switches for 429 +
Retry-After, 5xx, stalls and any ``ok: false``. Success bodies carry the keys of ../shared/specs/slack/samples
when present, else minimal built-in shapes. Members, threads, ephemeral messages, bookmarks, users (by email)
and user groups are modelled too: posting needs the bot in the channel, an invite fails as a whole when one
invitee does (listing per-user ``errors``), ephemeral messages go only to members. Use: ``with SlackServer() as slack: WebClient(token=slack.token,
base_url=slack.url)``.
"""

from __future__ import annotations

import base64
import json
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.contract.slack_socket_server import SocketModeServer

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES_DIR = SHARED / "specs" / "slack" / "samples"
DEFAULT_TOKEN = "xoxb-loopback-1234567890-abcdefghij"
DEFAULT_APP_TOKEN = "xapp-1-A0LOOPBACK-1234567890-abcdef0123456789"
ERROR_ONLY_KEYS = frozenset({"error", "needed", "provided", "detail", "errors", "warning", "deprecated_argument"})
"""Sample keys that Slack sends only on failure or with a warning; a success answer leaves them out."""

IDENTITY = {
    "url": "https://irflow-loopback.slack.com/", "team": "irflow loopback", "user": "irflow",
    "team_id": "T0LOOPBACK", "user_id": "U0LOOPBACK", "bot_id": "B0LOOPBACK", "app_id": "A0LOOPBACK",
    "app_name": "irflow", "is_enterprise_install": False,
}
NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "-_")
Args = dict[str, Any]
Answer = tuple[int, dict[str, str], bytes]


class SlackError(Exception):
    """An ``ok: false`` answer with Slack's error code (and any extra keys Slack sends with it)."""

    def __init__(self, code: str, status: int = 200, extra: Args | None = None) -> None:
        super().__init__(code)
        self.code, self.status, self.extra = code, status, extra or {}


@dataclass(frozen=True)
class RecordedRequest:
    http_method: str
    api_method: str
    headers: dict[str, str]
    body: Args
    status: int
    error: str | None


@dataclass
class Fault:
    remaining: int
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    method: str | None = None


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


def _blank(sample: Any) -> Any:
    """Placeholder lists like ``[""]`` become ``[]``; other placeholder values keep their type."""
    if isinstance(sample, dict):
        return {k: _blank(v) for k, v in sample.items()}
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
        base = {k: _blank(v) for k, v in sample.items() if k not in ERROR_ONLY_KEYS}
        return {**base, **real, "ok": True}

    def channel(self, ch: Channel) -> Args:
        base = _blank(self.samples.get("conversations.create", {}).get("channel", {}))
        topic = {"value": ch.topic, "creator": IDENTITY["user_id"] if ch.topic else "", "last_set": ch.created}
        return {**base, "id": ch.id, "name": ch.name, "name_normalized": ch.name, "is_channel": not ch.is_private,
                "is_group": False, "is_im": ch.is_im, "is_mpim": False, "is_private": ch.is_private,
                "is_archived": ch.is_archived, "is_general": False, "is_member": ch.is_member,
                "created": ch.created, "updated": ch.created * 1000, "creator": IDENTITY["user_id"],
                "topic": topic, "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": []}


def message_json(msg: Message) -> Args:
    return {"type": "message", "text": msg.text, "user": IDENTITY["user_id"], "bot_id": IDENTITY["bot_id"],
            "app_id": IDENTITY["app_id"], "team": IDENTITY["team_id"], "ts": msg.ts, "blocks": msg.blocks}


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


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
        base = _blank(self.shaper.samples.get("bookmarks.add", {}).get("bookmark", {}))
        ch.bookmarks.append({**base, **bookmark})
        return {"bookmark": ch.bookmarks[-1]}

    def users_lookupByEmail(self, args: Args) -> Args:
        email = str(args.get("email") or "").lower()
        if not email:
            raise SlackError("invalid_arguments")
        found = next((u for u in self.users.values() if u["profile"]["email"].lower() == email), None)
        if found is None:
            raise SlackError("users_not_found")
        base = _blank(self.shaper.samples.get("users.lookupByEmail", {}).get("user", {}))
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


def _parse_body(content_type: str, raw: bytes) -> Args:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SlackError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise SlackError("invalid_json")
        return parsed
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    raise SlackError("invalid_form_data")


class SlackServer:
    """The Slack Web API on 127.0.0.1:<random port>, in a background thread; use it as a context manager."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, *, page_size: int = 2, samples_dir: Path | None = SAMPLES_DIR,
        socket: SocketModeServer | None = None, app_token: str = DEFAULT_APP_TOKEN,
    ) -> None:
        self.token, self.app_token, self.socket = token, app_token, socket
        self.shaper = Shaper(samples_dir)
        self.state = SlackState(self.shaper, page_size)
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/"

    def start(self) -> SlackServer:
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll keeps stop() (which waits one poll) from adding half a second to every test.
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="slack-loopback", daemon=True).start()
        if self.socket is not None:
            self.socket.start()
        return self

    def stop(self) -> None:
        if self.socket is not None:
            self.socket.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def fail_next(self, n: int, *, status: int = 200, error: str | None = None, retry_after: int | None = None,
                  delay: float = 0.0, method: str | None = None) -> None:
        """Answer the next `n` calls (of `method`, or of any method) with this failure instead."""
        with self._lock:
            self._faults.append(Fault(n, status, error, retry_after, delay, method))

    def rate_limit_next(self, n: int, *, retry_after: int = 1, method: str | None = None) -> None:
        self.fail_next(n, status=429, error="ratelimited", retry_after=retry_after, method=method)

    def calls(self, api_method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.api_method == api_method]

    def handle(self, http_method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        """One HTTP exchange: returns status, extra headers and body; records the request."""
        url = urlsplit(path)
        method = url.path.removeprefix("/api/") if url.path.startswith("/api/") else ""
        body: Args = dict(parse_qsl(url.query, keep_blank_values=True))
        extra: dict[str, str] = {}
        try:
            status, extra, payload = self._answer(http_method, method, headers, body, raw)
        except SlackError as exc:
            status, payload = exc.status, {"ok": False, "error": exc.code, **exc.extra}
        with self._lock:
            error = payload.get("error") if isinstance(payload, dict) and not payload.get("ok") else None
            self.requests.append(RecordedRequest(http_method, method, headers, body, status, error))
        if isinstance(payload, bytes):
            return status, {"Content-Type": "text/html", **extra}, payload
        return status, {"Content-Type": "application/json; charset=utf-8", **extra}, json.dumps(payload).encode()

    def _answer(self, http_method: str, method: str, headers: dict[str, str], body: Args,
                raw: bytes) -> tuple[int, dict[str, str], Args | bytes]:
        if http_method == "POST":
            body.update(_parse_body(_header(headers, "Content-Type"), raw))
        with self._lock:
            fault = self._take_fault(method)
        if fault is not None:
            status, extra, payload = self._fault_answer(fault)
            if payload is not None:
                return status, extra, payload
        return 200, {}, self._dispatch(method, headers, body)

    def _dispatch(self, method: str, headers: dict[str, str], body: Args) -> Args:
        if method == "apps.connections.open" and self.socket is not None:
            return self._connections_open(headers, body)
        handler = self.state.routes().get(method)
        if handler is None:  # also every real method this server does not implement: add it when a client needs it
            raise SlackError("unknown_method", status=404)
        self._check_token(headers, body)
        with self._lock:
            return self.shaper.shape(method, handler(body))

    def _connections_open(self, headers: dict[str, str], body: Args) -> Args:
        """Socket Mode's handshake: only the app-level token may ask; a bot token is the wrong type."""
        assert self.socket is not None
        auth = _header(headers, "Authorization")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(body.pop("token", ""))
        if not token:
            raise SlackError("not_authed")
        if token == self.token:
            raise SlackError("not_allowed_token_type")
        if token != self.app_token:
            raise SlackError("invalid_auth")
        return {"ok": True, "url": self.socket.issue_url()}

    def _check_token(self, headers: dict[str, str], body: Args) -> None:
        auth = _header(headers, "Authorization")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(body.pop("token", ""))
        if not token:
            raise SlackError("not_authed")
        if token != self.token:
            raise SlackError("invalid_auth")

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (None, method):
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _fault_answer(fault: Fault) -> tuple[int, dict[str, str], Args | bytes | None]:
        time.sleep(fault.delay)
        extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.status >= 500:
            return fault.status, extra, b"<html><body><h1>Slack is having trouble</h1></body></html>"
        if fault.error is None:
            return fault.status, extra, None  # a stall only: answer normally afterwards
        return fault.status, extra, {"ok": False, "error": fault.error}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of what we test, not a server bug


def _handler_for(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = server.handle(self.command, self.path, dict(self.headers.items()), raw)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
