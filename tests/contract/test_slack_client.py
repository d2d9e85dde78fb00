"""ChatOps contract: the real SlackClient (over HTTP against the loopback Slack) and the local twin must
behave the same. What only the real client meets (auth, 429, 5xx, pagination, invites) is in
test_slack_client_real.py; proof that the loopback server itself is strict enough that a client bug cannot
pass against it is in test_slack_server_strict.py; the shared rig is in slack_client_rig.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from irflow.connectors.errors import InvalidRequest, NotFound
from irflow.connectors.slack.interface import ChatOps
from irflow.redaction import redact
from irflow.render import UnsafeTextError
from tests.contract.slack_client_rig import Backend, Seen, section
from tests.contract.slack_client_rig import fixture_backend  # noqa: F401 - fixtures, found by name


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
