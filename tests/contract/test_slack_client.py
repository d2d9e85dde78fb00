"""ChatOps contract: the real SlackClient (over HTTP against the loopback Slack) and the local twin must
behave the same; then what only the real client meets (auth, 429, 5xx, pagination); then proof that the
loopback server itself is strict enough that a client bug cannot pass against it."""

from __future__ import annotations

import json
import socket
import time
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

from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from irflow.connectors.slack.client import TOPIC_MAX, SlackClient, channel_name
from irflow.connectors.slack.interface import ChatOps
from irflow.connectors.slack.local import LocalSlack
from irflow.connectors.slack.settings import SlackSettings
from irflow.redaction import SafeText, redact
from irflow.render import UnsafeTextError
from irflow.store.engine import Database
from irflow.store.tables import TwinSlackChannelRow, TwinSlackMessageRow
from tests.contract.slack_server import ERROR_ONLY_KEYS, SlackServer

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


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def slack_client(slack_server: SlackServer) -> SlackClient:
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


@pytest.fixture(params=["slack", "local"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "slack":
        with SlackServer() as server:
            yield _slack_backend(server)
        return
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    yield _local_backend(db)
    db.engine.dispose()


# --- the contract, run against both ------------------------------------------------------------------------------


def test_satisfies_the_chatops_protocol(backend: Backend) -> None:
    assert isinstance(backend.chat, ChatOps)
    assert backend.chat.system in {"slack", "local"}


def test_ensure_channel_is_idempotent(backend: Backend) -> None:
    first = backend.chat.ensure_channel("inc-2024-0001", redact("prompt injection on gateway"))
    again = backend.chat.ensure_channel("inc-2024-0001", redact("prompt injection on gateway"))
    other = backend.chat.ensure_channel("inc-2024-0002", redact("another incident"))
    assert first == again
    assert other != first


def test_post_pin_and_update(backend: Backend) -> None:
    channel = backend.chat.ensure_channel("inc-2024-0003", redact("status"))
    text, blocks = redact("status: open"), [section(redact("*Status:* open"))]
    ts = backend.chat.post(channel, text, blocks, pin=True)
    assert backend.seen(channel, ts) == Seen(text, blocks, True)

    new_text, new_blocks = redact("status: contained"), [section(redact("*Status:* contained"))]
    backend.chat.update(channel, ts, new_text, new_blocks)
    assert backend.seen(channel, ts) == Seen(new_text, new_blocks, True)
    backend.chat.update(channel, ts, redact("status: closed"))
    assert backend.seen(channel, ts) == Seen(redact("status: closed"), [], True)


def test_posts_get_distinct_ts_and_stay_unpinned(backend: Backend) -> None:
    channel = backend.chat.ensure_channel("inc-2024-0004", redact("t"))
    first, second = (backend.chat.post(channel, redact(f"note {i}")) for i in range(2))
    assert first != second
    assert backend.seen(channel, first) == Seen(redact("note 0"), [], False)


def test_update_of_unknown_message_is_not_found(backend: Backend) -> None:
    channel = backend.chat.ensure_channel("inc-2024-0005", redact("t"))
    with pytest.raises(NotFound):
        backend.chat.update(channel, "1700000000.000001", redact("nope"))


def test_replies_go_into_the_thread(backend: Backend) -> None:
    channel = backend.chat.ensure_channel("inc-2024-0010", redact("t"))
    root = backend.chat.post(channel, redact("root"))
    reply = backend.chat.post(channel, redact("reply"), thread_ts=root)
    assert backend.thread_of(channel, reply) == root and backend.thread_of(channel, root) is None


def test_invite_is_idempotent_and_members_get_ephemeral_messages(backend: Backend) -> None:
    channel = backend.chat.ensure_channel("inc-2024-0011", redact("t"))
    backend.add_user("U0ONCALL1", "oncall@corp.example")
    with pytest.raises(InvalidRequest):  # not a member yet: Slack refuses to show it
        backend.chat.post_ephemeral(channel, "U0ONCALL1", redact("not yet"))
    assert backend.chat.invite(channel, ["U0ONCALL1"]) == {}
    assert backend.chat.invite(channel, ["U0ONCALL1", "U0ONCALL1"]) == {}, "already a member is success"
    assert "U0ONCALL1" in backend.members(channel)
    backend.chat.post_ephemeral(channel, "U0ONCALL1", redact("only you"))
    assert backend.ephemeral(channel) == [("U0ONCALL1", "only you")]


def test_bookmarks_take_http_links_only(backend: Backend) -> None:
    channel = backend.chat.ensure_channel("inc-2024-0012", redact("t"))
    assert backend.chat.add_bookmark(channel, redact("Jira SEC-1"), "https://jira.example/browse/SEC-1")
    with pytest.raises(InvalidRequest):
        backend.chat.add_bookmark(channel, redact("x"), "javascript:alert(1)")
    assert backend.bookmarks(channel) == [("Jira SEC-1", "https://jira.example/browse/SEC-1")]


def test_unknown_channel_is_not_found_everywhere(backend: Backend) -> None:
    for call in (lambda: backend.chat.post("C0NOSUCH01", redact("x")),
                 lambda: backend.chat.invite("C0NOSUCH01", ["U0ONCALL1"]),
                 lambda: backend.chat.post_ephemeral("C0NOSUCH01", "U0ONCALL1", redact("x"))):
        with pytest.raises(NotFound):
            call()


def test_lookup_by_email_answers_a_user_id(backend: Backend) -> None:
    backend.add_user("U0ONCALL2", "second@corp.example")
    user = backend.chat.lookup_user_by_email("second@corp.example")
    assert user and user.startswith("U") and user == backend.chat.lookup_user_by_email("second@corp.example")


UNSAFE_CALLS: dict[str, Callable[[ChatOps, str], object]] = {
    "topic": lambda chat, ch: chat.ensure_channel("inc-unsafe", "raw topic"),
    "text": lambda chat, ch: chat.post(ch, "raw text"),
    "block text": lambda chat, ch: chat.post(ch, redact("ok"), [section("raw block text")]),
    "update text": lambda chat, ch: chat.update(ch, "1.0", "raw text"),
    "update block": lambda chat, ch: chat.update(ch, "1.0", redact("ok"), [section("raw")]),
    "ephemeral": lambda chat, ch: chat.post_ephemeral(ch, "U0LOOPBACK", "raw"),
    "bookmark title": lambda chat, ch: chat.add_bookmark(ch, "raw", "https://x.example"),
}


@pytest.mark.parametrize("what", UNSAFE_CALLS)
def test_plain_str_is_refused_before_anything_is_sent(backend: Backend, what: str) -> None:
    channel = backend.chat.ensure_channel("inc-2024-0006", redact("t"))
    before = backend.writes()
    with pytest.raises(UnsafeTextError):
        UNSAFE_CALLS[what](backend.chat, channel)
    assert backend.writes() == before


# --- the real client only -----------------------------------------------------------------------------------------


def test_channel_names_are_folded_to_slacks_rules(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("INC 42: Prompt.Injection!", redact("t"))
    assert slack_server.state.channels[channel].name == "inc-42-prompt-injection"
    assert len(channel_name("x" * 200)) == 80
    with pytest.raises(InvalidRequest):
        channel_name(":::")


def test_long_topic_is_cut_to_slacks_limit(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("inc-long-topic", redact("word " * 100))
    assert len(slack_server.state.channels[channel].topic) == TOPIC_MAX


def test_name_taken_pages_through_conversations_list(slack_server: SlackServer, slack_client: SlackClient) -> None:
    for name in ("alpha", "bravo", "charlie", "delta", "echo"):
        slack_server.state.add_channel(name)
    existing = slack_server.state.add_channel("inc-2024-0100", is_private=True).id
    assert slack_client.ensure_channel("inc-2024-0100", redact("t")) == existing

    lists = slack_server.calls("conversations.list")
    assert len(lists) == 3, "6 channels at 2 per page: the match is on page 3"
    assert "cursor" not in lists[0].body and all(r.body.get("cursor") for r in lists[1:])
    assert lists[0].body["types"] == "public_channel,private_channel" and lists[0].body["exclude_archived"] == "1"
    assert [r.error for r in slack_server.calls("conversations.create")] == ["name_taken"]


def test_name_taken_by_an_archived_channel_is_a_conflict(slack_server: SlackServer, slack_client: SlackClient) -> None:
    slack_server.state.add_channel("inc-archived", is_archived=True)
    with pytest.raises(Conflict):
        slack_client.ensure_channel("inc-archived", redact("t"))


def test_wrong_token_is_auth_error(slack_server: SlackServer) -> None:
    with pytest.raises(AuthError) as caught:
        make_client(slack_server, token="xoxb-wrong").post("C0000000000", redact("hi"))
    assert caught.value.system == "slack"
    assert slack_server.requests[0].headers["Authorization"] == "Bearer xoxb-wrong"


@pytest.mark.parametrize(("code", "error"), [
    ("invalid_auth", AuthError), ("not_authed", AuthError), ("account_inactive", AuthError),
    ("token_revoked", AuthError), ("missing_scope", AuthError), ("channel_not_found", NotFound),
    ("message_not_found", NotFound), ("invalid_blocks", InvalidRequest), ("msg_too_long", InvalidRequest),
])
def test_error_codes_map_to_typed_errors(
    slack_server: SlackServer, slack_client: SlackClient, code: str, error: type[ConnectorError]
) -> None:
    slack_server.fail_next(1, error=code)
    with pytest.raises(error) as caught:
        slack_client.post("C0000000000", redact("hi"))
    assert type(caught.value) is error and code in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception), "raise ... from exc keeps the SlackApiError"


def test_already_pinned_is_success(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("inc-pinned", redact("t"))
    slack_server.fail_next(1, error="already_pinned", method="pins.add")
    assert slack_client.post(channel, redact("hi"), pin=True)


def test_unknown_channel_is_not_found(slack_client: SlackClient) -> None:
    with pytest.raises(NotFound):
        slack_client.post("C0000000000", redact("hi"))


def test_429_is_waited_out_per_retry_after(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("inc-429", redact("t"))
    slack_server.rate_limit_next(1, retry_after=1, method="chat.postMessage")
    started = time.monotonic()
    assert slack_client.post(channel, redact("hi"))
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in slack_server.calls("chat.postMessage")] == [429, 200]


def test_persistent_429_is_rate_limited_with_retry_after(slack_server: SlackServer, slack_client: SlackClient) -> None:
    slack_server.rate_limit_next(10, retry_after=1)
    with pytest.raises(RateLimited) as caught:
        slack_client.post("C0000000000", redact("hi"))
    assert caught.value.retry_after == 1.0 and caught.value.retryable
    assert len(slack_server.requests) == 3, "the first try and max_retry_count=2 retries"


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable(slack_server: SlackServer, slack_client: SlackClient, status: int) -> None:
    slack_server.fail_next(1, status=status)
    with pytest.raises(Unavailable) as caught:
        slack_client.auth_test()
    assert caught.value.status == status and not isinstance(caught.value, RateLimited)


def test_timeout_is_unavailable(slack_server: SlackServer) -> None:
    slack_server.fail_next(1, delay=1.0)
    with pytest.raises(Unavailable):
        make_client(slack_server, timeout=0.2).auth_test()


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = SlackSettings(bot_token=SecretStr("xoxb-x"), signing_secret=SecretStr("s"),
                             api_url=f"http://127.0.0.1:{port}/api/")
    with pytest.raises(Unavailable):
        SlackClient(settings).auth_test()


def test_auth_test_names_the_bot(slack_server: SlackServer, slack_client: SlackClient) -> None:
    identity = slack_client.auth_test()
    assert identity["user_id"] == "U0LOOPBACK" and identity["team_id"] == "T0LOOPBACK"


def test_client_without_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SlackClient(SlackSettings(bot_token=None, signing_secret=SecretStr("s")))


@pytest.mark.parametrize(("env", "configured", "missing"), [
    ({}, False, []),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, False, ["SLACK_SIGNING_SECRET or SLACK_APP_TOKEN"]),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-A1-2-ff"}, True, []),
    ({"SLACK_APP_TOKEN": "xapp-1-A1-2-ff"}, False, ["SLACK_BOT_TOKEN"]),
    ({"SLACK_SIGNING_SECRET": "s"}, False, ["SLACK_BOT_TOKEN"]),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, True, []),
    ({"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "s"}, False, ["SLACK_BOT_TOKEN"]),
])
def test_settings_tell_real_from_twin_from_half_configured(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], configured: bool, missing: list[str]
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = SlackSettings()
    assert (settings.configured(), settings.missing()) == (configured, missing)
    assert SlackSettings(api_url="http://x/api").api_url == "http://x/api/"


# --- the loopback server is strict -------------------------------------------------------------------------------


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


def test_server_rejects_unknown_method(slack_server: SlackServer) -> None:
    assert raw_call(slack_server, "chat.postMesage", {"channel": "C1", "text": "x"}) == (
        404, {"ok": False, "error": "unknown_method"})


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
def test_server_rejects_bad_or_missing_token(slack_server: SlackServer, token: str | None, error: str) -> None:
    assert raw_call(slack_server, "auth.test", token=token) == (200, {"ok": False, "error": error})


@pytest.mark.parametrize(("method", "body", "error"), [
    ("conversations.create", {}, "invalid_name_required"),
    ("conversations.create", {"name": "Has Spaces"}, "invalid_name_specials"),
    ("conversations.create", {"name": "general"}, "name_taken"),
    ("chat.postMessage", {"text": "x"}, "channel_not_found"),
    ("chat.postMessage", {"channel": "{general}"}, "no_text"),
    ("chat.postMessage", {"channel": "{general}", "blocks": "[{"}, "invalid_blocks_format"),
    ("chat.update", {"channel": "{general}", "text": "x"}, "invalid_arguments"),
    ("pins.add", {"channel": "{general}"}, "no_item_specified"),
    ("conversations.setTopic", {"channel": "{general}", "topic": "x" * 251}, "too_long"),
    ("conversations.list", {"cursor": "not-a-cursor"}, "invalid_cursor"),
])
def test_server_rejects_missing_or_bad_arguments(
    slack_server: SlackServer, method: str, body: dict[str, str], error: str
) -> None:
    general = slack_server.state.add_channel("general").id
    body = {k: v.replace("{general}", general) for k, v in body.items()}
    assert raw_call(slack_server, method, body) == (200, {"ok": False, "error": error})


@pytest.mark.parametrize("as_json", [False, True])
def test_server_takes_form_and_json_bodies(slack_server: SlackServer, as_json: bool) -> None:
    general = slack_server.state.add_channel("general").id
    blocks: Any = [section("hi")] if as_json else json.dumps([section("hi")])
    status, body = raw_call(slack_server, "chat.postMessage", {"channel": general, "text": "hi", "blocks": blocks},
                            as_json=as_json)
    assert status == 200 and body["ok"] and slack_server.state.messages[(general, body["ts"])].blocks == [section("hi")]


def test_server_success_bodies_carry_every_sample_key(slack_server: SlackServer) -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is absent: the Slack response samples live in ../shared beside the repo")
    channel = raw_call(slack_server, "conversations.create", {"name": "inc-keys"})[1]["channel"]["id"]
    ts = raw_call(slack_server, "chat.postMessage", {"channel": channel, "text": "x"})[1]["ts"]
    answers = {
        "auth.test": raw_call(slack_server, "auth.test"),
        "conversations.create": raw_call(slack_server, "conversations.create", {"name": "inc-keys-2"}),
        "conversations.setTopic": raw_call(slack_server, "conversations.setTopic", {"channel": channel, "topic": "t"}),
        "chat.postMessage": raw_call(slack_server, "chat.postMessage", {"channel": channel, "text": "x"}),
        "chat.update": raw_call(slack_server, "chat.update", {"channel": channel, "ts": ts, "text": "y"}),
        "pins.add": raw_call(slack_server, "pins.add", {"channel": channel, "timestamp": ts}),
    }
    for method, (status, body) in answers.items():
        sample = json.loads((SAMPLES / f"{method}.json").read_text(encoding="utf-8"))
        assert status == 200 and body["ok"] is True, (method, body)
        assert set(sample) - ERROR_ONLY_KEYS <= set(body), (method, set(sample) - ERROR_ONLY_KEYS - set(body))


def test_server_works_without_the_samples() -> None:
    with SlackServer(samples_dir=None) as server:
        channel = raw_call(server, "conversations.create", {"name": "inc-bare"})[1]["channel"]["id"]
        status, body = raw_call(server, "chat.postMessage", {"channel": channel, "text": "x"})
    assert status == 200 and body["ok"] and body["channel"] == channel and body["ts"]


# --- the real client: invites, bookmarks, users, groups, ephemeral --------------------------------------------------


def test_invite_drops_the_refused_and_invites_the_rest(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("inc-invite", redact("t"))
    for user in ("U0MEMBER1", "U0NEW0001"):
        slack_server.state.add_user(user)
    slack_server.state.channels[channel].members.add("U0MEMBER1")
    refused = slack_client.invite(channel, ["U0MEMBER1", "U0GHOST01", "U0NEW0001"])
    assert refused == {"U0GHOST01": "user_not_found"}, "already a member is not a refusal"
    assert {"U0MEMBER1", "U0NEW0001"} <= slack_server.state.channels[channel].members
    calls = slack_server.calls("conversations.invite")
    assert [c.error for c in calls] == ["already_in_channel", None], "Slack invites nobody when one fails"
    assert calls[1].body["users"] == "U0NEW0001"


def test_invite_of_a_channel_the_bot_left_is_refused(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_server.state.add_channel("inc-left", is_member=False).id
    slack_server.state.add_user("U0NEW0002")
    with pytest.raises(InvalidRequest, match="not_in_channel"):
        slack_client.invite(channel, ["U0NEW0002"])


def test_invite_honours_429(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("inc-invite-429", redact("t"))
    slack_server.state.add_user("U0NEW0003")
    slack_server.rate_limit_next(1, retry_after=1, method="conversations.invite")
    started = time.monotonic()
    assert slack_client.invite(channel, ["U0NEW0003"]) == {}
    assert time.monotonic() - started >= 1.0


def test_post_ephemeral_and_threads_go_over_the_wire(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("inc-eph", redact("t"))
    root = slack_client.post(channel, redact("root"))
    slack_client.post(channel, redact("reply"), [section(redact("r"))], thread_ts=root)
    post = slack_server.calls("chat.postMessage")[-1].body
    assert post["thread_ts"] == root and post["unfurl_links"] is False and post["unfurl_media"] is False
    slack_server.state.add_user("U0EPH0001")
    with pytest.raises(InvalidRequest, match="user_not_in_channel"):
        slack_client.post_ephemeral(channel, "U0EPH0001", redact("hi"))
    slack_client.invite(channel, ["U0EPH0001"])
    slack_client.post_ephemeral(channel, "U0EPH0001", redact("hi"), thread_ts=root)
    [eph] = slack_server.state.ephemeral
    assert (eph.ephemeral_to, eph.thread_ts, eph.text) == ("U0EPH0001", root, "hi")


def test_lookup_by_email_is_cached_and_unknown_is_none(slack_server: SlackServer, slack_client: SlackClient) -> None:
    slack_server.state.add_user("U0MAIL0001", "oncall@corp.example")
    assert slack_client.lookup_user_by_email("oncall@corp.example") == "U0MAIL0001"
    assert slack_client.lookup_user_by_email("oncall@corp.example") == "U0MAIL0001"
    assert slack_client.lookup_user_by_email("nobody@corp.example") is None
    lookups = slack_server.calls("users.lookupByEmail")
    assert len(lookups) == 2 and lookups[1].error == "users_not_found"


def test_usergroup_members(slack_server: SlackServer, slack_client: SlackClient) -> None:
    slack_server.state.add_usergroup("S0SECOPS1", ["U0A", "U0B"])
    assert slack_client.usergroup_members("S0SECOPS1") == frozenset({"U0A", "U0B"})
    with pytest.raises(NotFound):
        slack_client.usergroup_members("S0NOSUCH1")
    assert slack_server.calls("usergroups.users.list")[0].body["usergroup"] == "S0SECOPS1"


def test_bookmark_request_shape(slack_server: SlackServer, slack_client: SlackClient) -> None:
    channel = slack_client.ensure_channel("inc-bookmark", redact("t"))
    bookmark_id = slack_client.add_bookmark(channel, redact("Runbook"), "https://docs.example/runbooks/pi.md")
    body = slack_server.calls("bookmarks.add")[0].body
    assert bookmark_id.startswith("Bk")
    assert (body["channel_id"], body["type"], body["title"], body["link"]) == (
        channel, "link", "Runbook", "https://docs.example/runbooks/pi.md")


def test_posting_where_the_bot_is_not_a_member_is_refused(slack_server: SlackServer,
                                                          slack_client: SlackClient) -> None:
    channel = slack_server.state.add_channel("someone-elses", is_member=False).id
    with pytest.raises(InvalidRequest, match="not_in_channel"):
        slack_client.post(channel, redact("hi"))


@pytest.mark.parametrize(("method", "body", "error"), [
    ("conversations.invite", {"channel": "{general}"}, "no_user"),
    ("conversations.invite", {"channel": "{general}", "users": "U0LOOPBACK"}, "cant_invite_self"),
    ("conversations.invite", {"channel": "{general}", "users": "U0NOBODY1"}, "user_not_found"),
    ("chat.postEphemeral", {"channel": "{general}", "text": "x"}, "user_not_found"),
    ("chat.postEphemeral", {"channel": "{general}", "user": "U0OUTSIDE", "text": "x"}, "user_not_in_channel"),
    ("chat.postMessage", {"channel": "{general}", "text": "x", "thread_ts": "1.000001"}, "message_not_found"),
    ("bookmarks.add", {"channel_id": "{general}", "type": "link", "link": "https://x.example"}, "invalid_arguments"),
    ("bookmarks.add", {"channel_id": "{general}", "title": "t", "type": "link", "link": "ftp://x"}, "invalid_link"),
    ("bookmarks.add", {"channel_id": "C0NOSUCH1", "title": "t", "type": "link", "link": "https://x"},
     "channel_not_found"),
    ("users.lookupByEmail", {"email": "nobody@corp.example"}, "users_not_found"),
    ("usergroups.users.list", {"usergroup": "S0NOSUCH1"}, "no_such_subteam"),
])
def test_server_rejects_bad_arguments_of_the_newer_methods(
    slack_server: SlackServer, method: str, body: dict[str, str], error: str
) -> None:
    general = slack_server.state.add_channel("general").id
    body = {k: v.replace("{general}", general) for k, v in body.items()}
    status, answer = raw_call(slack_server, method, body)
    assert (status, answer["ok"], answer["error"]) == (200, False, error)


def test_server_failed_invite_lists_per_user_errors(slack_server: SlackServer) -> None:
    general = slack_server.state.add_channel("general").id
    slack_server.state.add_user("U0REAL0001")
    status, body = raw_call(slack_server, "conversations.invite", {"channel": general, "users": "U0REAL0001,U0NOPE"})
    assert status == 200 and body == {"ok": False, "error": "user_not_found",
                    "errors": [{"ok": False, "error": "user_not_found", "user": "U0NOPE"}]}
    assert "U0REAL0001" not in slack_server.state.channels[general].members, "nobody is invited"


def test_server_newer_methods_carry_every_sample_key(slack_server: SlackServer) -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is absent: the Slack response samples live in ../shared beside the repo")
    general = slack_server.state.add_channel("general").id
    slack_server.state.add_user("U0SAMPLE01", "sample@corp.example")
    answers = {
        "conversations.invite": raw_call(slack_server, "conversations.invite", {"channel": general,
                                                                                "users": "U0SAMPLE01"}),
        "chat.postEphemeral": raw_call(slack_server, "chat.postEphemeral", {"channel": general, "user": "U0SAMPLE01",
                                                                            "text": "x"}),
        "bookmarks.add": raw_call(slack_server, "bookmarks.add", {"channel_id": general, "title": "t", "type": "link",
                                                                  "link": "https://x.example"}),
        "users.lookupByEmail": raw_call(slack_server, "users.lookupByEmail", {"email": "sample@corp.example"}),
    }
    for method, (status, body) in answers.items():
        sample = json.loads((SAMPLES / f"{method}.json").read_text(encoding="utf-8"))
        assert status == 200 and body["ok"] is True, (method, body)
        assert set(sample) - ERROR_ONLY_KEYS <= set(body), (method, set(sample) - ERROR_ONLY_KEYS - set(body))
        for nested in ("bookmark", "user", "channel"):
            if isinstance(sample.get(nested), dict):
                assert set(sample[nested]) <= set(body[nested]), (method, set(sample[nested]) - set(body[nested]))
