"""The loopback Slack in slack_server.py is strict: unknown methods, bad or missing tokens, missing or bad
arguments and the newer methods' errors are refused like Slack refuses them, and success bodies carry every key
of ../shared's response samples, so a client bug cannot pass against it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.contract.slack_client_rig import SAMPLES, raw_call, section
from tests.contract.slack_client_rig import fixture_slack_server  # noqa: F401 - fixtures, found by name
from tests.contract.slack_server import ERROR_ONLY_KEYS, SlackServer


# --- the loopback server is strict -------------------------------------------------------------------------------


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
