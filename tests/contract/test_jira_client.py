"""The Ticketing contract, held by the real JiraClient (over HTTP against the loopback Jira, as Cloud/v3
and as Data Center/v2) and by the local twin alike; then what only the real client has to get right on the
wire and in its errors. Edits, workflow and polling are in test_jira_client_sync.py, the loopback's own
strictness in test_jira_loopback.py, the shared rig in jira_rig.py."""

from __future__ import annotations

import json
import socket

import pytest
import requests
from pydantic import SecretStr

from irflow.connectors.errors import AuthError, InvalidRequest, NotFound, RateLimited, Unavailable
from irflow.connectors.jira.client import JiraClient, adf_document, retry_after, wiki_noformat
from irflow.connectors.jira.interface import Ticketing
from irflow.redaction import redact, trusted
from irflow.render import UnsafeTextError
from tests.contract.jira_rig import open_issue, settings_for
from tests.contract.jira_rig import (  # noqa: F401 - fixtures, found by name
    fixture_client,
    fixture_cloud,
    fixture_server,
    fixture_ticketing,
)
from tests.contract.jira_server import JiraLoopback


# --- the contract, for every implementation ----------------------------------------------------------

def test_satisfies_the_protocol(ticketing: Ticketing) -> None:
    assert isinstance(ticketing, Ticketing)


def test_create_then_find_then_comment(ticketing: Ticketing) -> None:
    assert ticketing.find_issue("inc-1") is None
    key = open_issue(ticketing)
    assert ticketing.find_issue("inc-1") == key
    ticketing.add_comment(key, trusted("Key revoked at the gateway."))
    assert key in ticketing.browse_url(key)


def test_one_issue_per_incident(ticketing: Ticketing) -> None:
    first = open_issue(ticketing, "inc-1")
    assert open_issue(ticketing, "inc-1") == first
    other = open_issue(ticketing, "inc-2")
    assert other != first
    assert ticketing.find_issue("inc-2") == other
    assert ticketing.find_issue("inc-3") is None


def test_refuses_text_that_was_not_redacted(ticketing: Ticketing) -> None:
    with pytest.raises(UnsafeTextError):
        ticketing.create_issue("inc-1", "raw summary", redact("x"), "High", [])  # type: ignore[arg-type]
    with pytest.raises(UnsafeTextError):
        ticketing.create_issue("inc-1", trusted("s"), "raw description", "High", [])  # type: ignore[arg-type]
    key = open_issue(ticketing)
    with pytest.raises(UnsafeTextError):
        ticketing.add_comment(key, "raw comment")  # type: ignore[arg-type]


def test_comment_on_a_missing_issue_is_not_found(ticketing: Ticketing) -> None:
    with pytest.raises(NotFound):
        ticketing.add_comment("SEC-999", trusted("hello"))


# --- the real client: wire format -----------------------------------------------------------------------

def test_detects_the_api_version_and_auth_from_server_info(server: JiraLoopback, client: JiraClient) -> None:
    open_issue(client)
    expected = "3" if server.deployment == "Cloud" else "2"
    assert client.api_version == expected
    assert server.requests[0].path == "serverInfo"
    assert {r.version for r in server.requests[1:]} == {expected}
    scheme = "Basic " if server.deployment == "Cloud" else "Bearer "
    assert all(r.headers["Authorization"].startswith(scheme) for r in server.requests[1:])


def test_v3_bodies_are_adf_and_v2_bodies_are_wiki_strings(server: JiraLoopback, client: JiraClient) -> None:
    key = open_issue(client)
    client.add_comment(key, trusted("Contained."))
    description = server.calls("POST", "issue")[0].body["fields"]["description"]
    comment = server.calls("POST", f"issue/{key}/comment")[0].body["body"]
    if server.deployment == "Cloud":
        assert description["type"] == "doc" and description["version"] == 1
        assert "codeBlock" not in json.dumps(description)
        assert comment == {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Contained."}]}]}
    else:
        assert isinstance(description, str) and description.startswith("{noformat}\n")
        assert comment == "{noformat}\nContained.\n{noformat}"


def test_issue_fields_label_and_property(server: JiraLoopback, client: JiraClient) -> None:
    key = client.create_issue("inc 7", trusted("two\nlines"), redact("d"), "High", ["ai security", "llm"])
    fields = server.issues[key].fields
    assert fields["summary"] == "two lines"
    assert fields["labels"] == ["ai-security", "llm", "irflow", "irflow-inc-7"]
    assert fields["priority"] == {"name": "High"} and fields["issuetype"] == {"name": "Task"}
    assert server.issues[key].properties == {"irflow": {"incident_id": "inc 7"}}
    assert client.find_issue("inc 7") == key
    assert client.browse_url(key) == f"{server.url}/browse/{key}"


def test_search_lag_is_bridged_by_reconcile_issues(cloud: JiraLoopback) -> None:
    """Only Cloud's enhanced search is eventually consistent; Data Center's index is not tested here."""
    client = JiraClient(settings_for(cloud))
    cloud.search_lag_count = 1
    key = open_issue(client, "inc-9")
    assert client.find_issue("inc-9") == key  # this process created it: reconcileIssues names its id
    assert cloud.calls("GET", "search/jql")[-1].query["reconcileIssues"] == [cloud.issues[key].id]
    assert JiraClient(settings_for(cloud)).find_issue("inc-9") is None  # another process must wait


def test_noformat_in_the_text_cannot_close_the_block() -> None:
    body = wiki_noformat(redact("before {noformat} [click|http://evil.example] {NOFORMAT:title=x}"))
    assert body.lower().count("{noformat}") == 2
    assert body.startswith("{noformat}\n") and body.endswith("\n{noformat}")


def test_adf_document_paragraphs_quotes_and_breaks() -> None:
    doc = adf_document("line one\nline two\n\n> quoted\n> more\n\n")
    assert doc["content"] == [
        {"type": "paragraph", "content": [
            {"type": "text", "text": "line one"}, {"type": "hardBreak"}, {"type": "text", "text": "line two"}]},
        {"type": "blockquote", "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "quoted"}, {"type": "hardBreak"}, {"type": "text", "text": "more"}]}]},
    ]
    assert adf_document("")["content"] == [{"type": "paragraph", "content": []}]


def test_pinned_api_version_skips_detection(server: JiraLoopback) -> None:
    pinned = "3" if server.deployment == "Cloud" else "2"
    client = JiraClient(settings_for(server, api_version=pinned))
    open_issue(client)
    assert not server.calls("GET", "serverInfo")


# --- the real client: errors, typed -----------------------------------------------------------------------

def test_missing_required_field_is_invalid_request_naming_it(server: JiraLoopback, client: JiraClient) -> None:
    server.required_fields["customfield_10010"] = "Team"
    with pytest.raises(InvalidRequest) as caught:
        open_issue(client)
    assert caught.value.status == 400
    assert "customfield_10010: Team is required." in str(caught.value)


def test_wrong_token_is_auth_error(server: JiraLoopback) -> None:
    client = JiraClient(settings_for(server, api_token=SecretStr("wrong")))
    with pytest.raises(AuthError) as caught:
        client.find_issue("inc-1")
    assert caught.value.status == 401 and caught.value.system == "jira"


def test_server_info_and_unknown_project(server: JiraLoopback, client: JiraClient) -> None:
    info = client.server_info()
    assert info["deployment"] == server.deployment and info["project"] == "SEC (SEC incidents)"
    with pytest.raises(NotFound) as caught:
        JiraClient(settings_for(server, project="NOPE")).server_info()
    assert "No project could be found with key 'NOPE'." in str(caught.value)


def test_rate_limit_carries_retry_after_and_is_not_retried_by_the_library(
    server: JiraLoopback, client: JiraClient
) -> None:
    client.find_issue("warm-up")
    before = len(server.requests)
    server.fail_next(429, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        client.find_issue("inc-1")
    assert caught.value.retry_after == 7 and caught.value.retryable
    assert len(server.requests) == before + 1
    server.fail_next(429)
    with pytest.raises(RateLimited) as caught:
        client.find_issue("inc-1")
    assert caught.value.retry_after == 5


def test_503_and_connection_refused_are_unavailable(server: JiraLoopback, client: JiraClient) -> None:
    client.find_issue("warm-up")
    server.fail_next(503)
    with pytest.raises(Unavailable) as caught:
        client.find_issue("inc-1")
    assert caught.value.status == 503 and not isinstance(caught.value, RateLimited)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(Unavailable) as refused:
        JiraClient(settings_for(server, url=closed)).find_issue("inc-1")
    assert isinstance(refused.value.__cause__, requests.ConnectionError)


def test_retry_after_accepts_http_dates() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after(response) == 0.0
    response.headers["Retry-After"] = "soon"
    assert retry_after(response) == 5.0


# --- the sync surface, for every implementation ------------------------------------------------------

def test_update_move_link_and_find_all(ticketing: Ticketing) -> None:
    key = open_issue(ticketing)
    assert ticketing.find_issues("inc-1") == [key] and ticketing.find_issues("nope") == []
    ticketing.update_issue(key, priority="Highest", description=redact("now contained"))
    assert ticketing.set_status(key, "contained") is not None
    assert ticketing.set_status(key, "contained") is None  # already there: no transition
    assert ticketing.set_status(key, "resolved") is not None
    assert ticketing.set_status(key, "closed") is None  # resolved and closed both live in Done
    ticketing.add_remote_link(key, "https://slack.com/app_redirect?channel=C1", trusted("Slack"), "irflow-slack-inc-1")
    with pytest.raises(NotFound):
        ticketing.update_issue("SEC-999", priority="High")
    assert ticketing.policy.comment_interval_s >= 0
