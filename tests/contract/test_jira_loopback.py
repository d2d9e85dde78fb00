"""The loopback Jira behaves like Jira: wrong paths, methods and bodies, auth, pagination of both searches,
eventual consistency, 429s, the workflow and webhooks, and every v3 (and v2) exchange checked against
Atlassian's OpenAPI spec, so a client bug cannot pass against it."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import shared_path
from tests.contract.jira_rig import TOKEN, USER, call, fields
from tests.contract.jira_rig import fixture_cloud  # noqa: F401 - fixtures, found by name
from tests.contract.jira_server import NOT_ADF, JiraLoopback


# --- the loopback behaves like Jira -----------------------------------------------------------------------

def test_loopback_wrong_path_and_method(cloud: JiraLoopback) -> None:
    assert call(cloud, "GET", "/rest/api/3/nonsense").status_code == 404
    assert call(cloud, "GET", "/wiki/rest/api/space").status_code == 404
    wrong = call(cloud, "DELETE", "/rest/api/3/issue")
    assert wrong.status_code == 405 and "POST" in wrong.json()["errorMessages"][0]
    with JiraLoopback("Server") as dc:
        assert call(dc, "GET", "/rest/api/3/serverInfo").status_code == 404


def test_loopback_refuses_bad_bodies(cloud: JiraLoopback) -> None:
    missing = call(cloud, "POST", "/rest/api/3/issue", {"fields": fields("3")["fields"] | {"summary": ""}})
    assert missing.status_code == 400
    assert missing.json() == {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}}
    as_string = call(cloud, "POST", "/rest/api/3/issue", fields("3", description="plain"))
    assert as_string.json()["errors"] == {"description": NOT_ADF}
    as_doc = call(cloud, "POST", "/rest/api/2/issue", fields("2", description={"type": "doc"}))
    assert as_doc.status_code == 400 and "description" in as_doc.json()["errors"]
    empty_text = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]}
    assert call(cloud, "POST", "/rest/api/3/issue", fields("3", description=empty_text)).status_code == 400
    assert call(cloud, "POST", "/rest/api/3/issue", fields("3", customfield_1="x")).status_code == 400
    assert call(cloud, "POST", "/rest/api/3/issue", fields("3")).status_code == 201


def test_loopback_auth_and_unknown_project(cloud: JiraLoopback) -> None:
    assert call(cloud, "GET", "/rest/api/3/serverInfo", auth=False).status_code == 200
    anonymous = call(cloud, "GET", "/rest/api/3/myself", auth=False)
    assert anonymous.status_code == 401 and anonymous.json()["errorMessages"]
    assert call(cloud, "GET", "/rest/api/3/project/X").json() == {
        "errorMessages": ["No project could be found with key 'X'."], "errors": {}}


def test_loopback_paginates_enhanced_search_and_v2_search(cloud: JiraLoopback) -> None:
    for _ in range(3):
        assert call(cloud, "POST", "/rest/api/3/issue", fields("3")).status_code == 201
    jql = 'labels = "l1"'
    first = call(cloud, "GET", "/rest/api/3/search/jql", jql=jql, maxResults=2, fields="labels").json()
    assert len(first["issues"]) == 2 and first["isLast"] is False
    body = {"jql": jql, "maxResults": 2, "nextPageToken": first["nextPageToken"], "fields": ["labels"]}
    second = call(cloud, "POST", "/rest/api/3/search/jql", body).json()
    assert [i["key"] for i in second["issues"]] == ["SEC-3"] and second["isLast"] and "nextPageToken" not in second
    assert call(cloud, "GET", "/rest/api/3/search/jql", jql=jql).json()["issues"][0] == {"id": "10001"}
    assert call(cloud, "GET", "/rest/api/2/search", jql=jql).status_code == 410
    with JiraLoopback("Server", user=USER, token=TOKEN) as dc:
        call(dc, "POST", "/rest/api/2/issue", fields("2"))
        page = call(dc, "GET", "/rest/api/2/search", jql=jql, startAt=0, maxResults=1).json()
        assert page["total"] == 1 and page["issues"][0]["key"] == "SEC-1"


def test_loopback_hides_fresh_issues_from_search_until_reconciled(cloud: JiraLoopback) -> None:
    cloud.search_lag_seconds = 60
    created = call(cloud, "POST", "/rest/api/3/issue", fields("3")).json()
    assert call(cloud, "GET", "/rest/api/3/search/jql", jql='labels = "l1"').json()["issues"] == []
    seen = call(cloud, "GET", "/rest/api/3/search/jql", jql='labels = "l1"', reconcileIssues=created["id"])
    assert seen.json()["issues"] == [{"id": created["id"]}]


def test_loopback_sends_429_with_retry_after_then_recovers(cloud: JiraLoopback) -> None:
    cloud.fail_next(429, times=2, retry_after=3)
    for _ in range(2):
        limited = call(cloud, "GET", "/rest/api/3/myself")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert call(cloud, "GET", "/rest/api/3/myself").status_code == 200
    assert [r.status for r in cloud.requests] == [429, 429, 200]


def test_loopback_validates_v3_traffic_against_the_spec(cloud: JiraLoopback) -> None:
    shared_path("specs", "jira", "jira-platform-v3.openapi.json")
    if cloud.validator is None:
        pytest.skip("openapi-core is not installed: pip install openapi-core (the test extra)")
    bad = call(cloud, "POST", "/rest/api/3/search/jql", {"jql": 'labels = "x"', "maxResults": "many"})
    assert bad.status_code == 400 and cloud.spec_errors
    cloud.spec_errors.clear()


# --- the loopback's workflow behaves like Jira -------------------------------------------------------------

def test_loopback_transitions_edits_and_links(cloud: JiraLoopback) -> None:
    key = call(cloud, "POST", "/rest/api/3/issue", fields("3")).json()["key"]
    offered = call(cloud, "GET", f"/rest/api/3/issue/{key}/transitions").json()["transitions"]
    assert [t["name"] for t in offered] == ["In Progress", "Done"] and offered[1]["to"]["statusCategory"]["key"] == "done"
    assert call(cloud, "POST", f"/rest/api/3/issue/{key}/transitions", {"transition": {"id": "999"}}).status_code == 400
    assert call(cloud, "POST", f"/rest/api/3/issue/{key}/transitions", {"transition": {"id": offered[1]["id"]}}).status_code == 204
    assert call(cloud, "GET", f"/rest/api/3/issue/{key}", fields="status").json()["fields"]["status"]["name"] == "Done"
    bad = call(cloud, "PUT", f"/rest/api/3/issue/{key}", {"fields": {"priority": {"name": "Urgent"}}})
    assert bad.status_code == 400 and "priority" in bad.json()["errors"]
    assert call(cloud, "PUT", f"/rest/api/3/issue/{key}", {"fields": {"project": {"key": "SEC"}}}).status_code == 400
    link = {"type": {"name": "Duplicate"}, "inwardIssue": {"key": key}, "outwardIssue": {"key": key}}
    assert call(cloud, "POST", "/rest/api/3/issueLink", link).status_code == 201
    assert call(cloud, "POST", "/rest/api/3/issueLink", link | {"type": {"name": "Clones"}}).status_code == 404
    names = [t["name"] for t in call(cloud, "GET", "/rest/api/3/issueLinkType").json()["issueLinkTypes"]]
    assert "Duplicate" in names
    assert call(cloud, "POST", f"/rest/api/3/issue/{key}/remotelink", {"object": {"url": "u"}}).status_code == 400
    if cloud.validator is not None:
        assert "title" in cloud.spec_errors[0]  # the spec caught it before the server did
        cloud.spec_errors.clear()


def test_loopback_webhook_payloads_look_like_jiras(cloud: JiraLoopback) -> None:
    key = call(cloud, "POST", "/rest/api/3/issue", fields("3")).json()["key"]
    moved = cloud.human_transition(key, "Done", "acct-1")
    assert moved["webhookEvent"] == "jira:issue_updated" and moved["user"]["accountId"] == "acct-1"
    assert moved["changelog"]["items"][0]["toString"] == "Done"
    assert moved["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    said = cloud.human_comment(key, "/irflow help", "acct-1")
    assert said["comment"]["body"] == "/irflow help" and said["comment"]["author"]["accountId"] == "acct-1"
    recent = call(cloud, "GET", "/rest/api/3/search/jql", jql='labels = "l1" AND updated >= -5m ORDER BY updated ASC',
                  fields="status,comment", expand="changelog").json()["issues"]
    assert recent[0]["changelog"]["histories"][0]["author"]["accountId"] == "acct-1"


def test_loopback_validates_v2_traffic_against_the_v3_spec() -> None:
    with JiraLoopback("Server", user=USER, token=TOKEN) as dc:
        if dc.validator is None:
            pytest.skip("openapi-core is not installed")
        bad = requests.post(f"{dc.url}/rest/api/2/search/jql", json={"jql": "x", "maxResults": "many"}, timeout=5,
                            headers={"Authorization": f"Bearer {TOKEN}"})
        assert bad.status_code == 400 and "maxResults" in dc.spec_errors[0]
        dc.spec_errors.clear()
