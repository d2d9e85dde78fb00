"""What only the real SlackClient meets, against the loopback Slack: Slack's channel-name rules and limits,
pagination, auth, error codes, 429 and Retry-After, 5xx and timeouts, settings, and the wire shape of invites,
bookmarks, user and group lookups, threads and ephemeral messages."""

from __future__ import annotations

import socket
import time

import pytest
from pydantic import SecretStr

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
from irflow.connectors.slack.settings import SlackSettings
from irflow.redaction import redact
from tests.contract.slack_client_rig import make_client, section
from tests.contract.slack_client_rig import (  # noqa: F401 - fixtures, found by name
    fixture_slack_client,
    fixture_slack_server,
)
from tests.contract.slack_server import SlackServer


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
