"""The real JiraClient against the loopback Jira (Cloud/v3 and Data Center/v2): edits, custom fields shaped by
their schema, workflow transitions, remote links, duplicates, paging, polling for human activity, and the
failures a sync meets on the way."""

from __future__ import annotations

import pytest

from irflow.connectors.errors import AuthError, ConfigError, InvalidRequest, Unavailable
from irflow.connectors.jira.client import JiraClient
from irflow.redaction import redact, trusted
from tests.contract.jira_rig import open_issue, settings_for
from tests.contract.jira_rig import fixture_client, fixture_server  # noqa: F401 - fixtures, found by name
from tests.contract.jira_server import BOT_CLOUD, JiraLoopback


# --- the real client: edits, workflow, links, polling ----------------------------------------------------

def test_update_issue_sends_one_edit(server: JiraLoopback, client: JiraClient) -> None:
    key = open_issue(client)
    client.update_issue(key, priority="Highest", description=trusted("Contained by irflow."))
    [edit] = server.calls("PUT", f"issue/{key}")
    assert edit.status == 204 and set(edit.body["fields"]) == {"priority", "description"}
    assert server.issues[key].fields["priority"] == {"name": "Highest"}
    client.update_issue(key)  # nothing to say: nothing sent
    assert len(server.calls("PUT", f"issue/{key}")) == 1


def test_custom_fields_are_shaped_by_their_schema(server: JiraLoopback) -> None:
    server.custom_fields = {
        "customfield_10050": ("Severity", {"type": "option", "custom": "select"}),
        "customfield_10051": ("ATLAS", {"type": "array", "items": "string", "custom": "labels"}),
        "customfield_10052": ("Incident", {"type": "string", "custom": "textfield"}),
    }
    client = JiraClient(settings_for(server, custom_fields={
        "severity": "Severity", "atlas": "customfield_10051", "incident_id": "incident"}))
    key = client.create_issue("inc-5", trusted("s"), trusted("d"), "High", [], attributes={
        "severity": trusted("High"), "atlas": [trusted("AML.T0051"), trusted("AML.T0054")],
        "incident_id": trusted("inc-5"), "actor": trusted("not mapped")})
    fields = server.issues[key].fields
    assert fields["customfield_10050"] == {"value": "High"}
    assert fields["customfield_10051"] == ["AML.T0051", "AML.T0054"]
    assert fields["customfield_10052"] == "inc-5"
    reads = len(server.calls("GET", "field"))
    client.update_issue(key, attributes={"severity": trusted("Critical")})
    assert server.issues[key].fields["customfield_10050"] == {"value": "Critical"}
    assert len(server.calls("GET", "field")) == reads  # the schemas are read once


def test_a_mapped_field_jira_does_not_have_is_a_config_error(server: JiraLoopback) -> None:
    client = JiraClient(settings_for(server, custom_fields={"severity": "Sevvverity"}))
    with pytest.raises(ConfigError, match="Sevvverity"):
        client.create_issue("inc-5", trusted("s"), trusted("d"), "High", [], attributes={"severity": trusted("High")})


def test_set_status_uses_configured_names_and_says_what_is_available(server: JiraLoopback) -> None:
    names = {"contained": "Begin Work", "resolved": "Done|Resolve Issue"}
    client = JiraClient(settings_for(server, transitions=names))
    key = open_issue(client)
    assert client.set_status(key, "resolved") in {"Done", "Resolve Issue"}
    assert server.issues[key].status == "Done"
    [move] = server.calls("POST", f"issue/{key}/transitions")
    assert move.status == 204 and isinstance(move.body["transition"]["id"], str)
    with pytest.raises(InvalidRequest) as caught:
        client.set_status(key, "contained")
    assert "begin work" in str(caught.value) and "available:" in str(caught.value)


def test_remote_link_is_upserted_by_global_id(server: JiraLoopback, client: JiraClient) -> None:
    key = open_issue(client)
    for title in ("Slack channel C1", "Slack channel C1 (renamed)"):
        client.add_remote_link(key, "https://slack.com/app_redirect?channel=C1", redact(title), "irflow-slack-inc-1")
    assert [r.status for r in server.calls("POST", f"issue/{key}/remotelink")] == [201, 200]
    [link] = server.issues[key].remote_links
    assert link["object"]["title"] == "Slack channel C1 (renamed)" and link["globalId"] == "irflow-slack-inc-1"


def test_close_duplicate_links_relabels_and_closes(server: JiraLoopback, client: JiraClient) -> None:
    original = open_issue(client, "inc-1")
    duplicate = JiraClient(settings_for(server)).create_issue("inc-x", trusted("s"), trusted("d"), "High", [])
    server.issues[duplicate].fields["labels"].append("irflow-inc-1")  # as if created for inc-1 on a retry
    assert client.find_issues("inc-1") == [original, duplicate]
    client.close_duplicate(duplicate, original, "inc-1")
    dup = server.issues[duplicate]
    assert dup.links == [{"type": "Duplicate", "outward": duplicate, "inward": original}]
    assert "irflow-inc-1" not in dup.fields["labels"] and "irflow-duplicate" in dup.fields["labels"]
    assert dup.status == "Done" and dup.properties["irflow"]["duplicate_of"] == original
    assert len(dup.comments) == 1 and client.find_issues("inc-1") == [original]


def test_find_issues_follows_pages(server: JiraLoopback, client: JiraClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import irflow.connectors.jira.client as module

    monkeypatch.setattr(module, "PAGE", 2)
    keys = [open_issue(JiraClient(settings_for(server)), "inc-1")]
    for n in range(4):
        keys.append(JiraClient(settings_for(server)).create_issue(f"tmp-{n}", trusted("s"), trusted("d"), "High", []))
        server.issues[keys[-1]].fields["labels"].append("irflow-inc-1")
    assert client.find_issues("inc-1") == keys
    searches = server.calls("GET", "search/jql") or server.calls("GET", "search")
    assert len([r for r in searches if "irflow-inc-1" in str(r.query)]) >= 3


def test_recent_activity_reads_status_mover_and_comments(server: JiraLoopback, client: JiraClient) -> None:
    key = open_issue(client)
    client.add_comment(key, trusted("irflow says hi"))
    server.human_transition(key, "Done", "alice-1")
    server.human_comment(key, "/irflow status", "alice-1")
    [activity] = client.recent_activity(15)
    assert activity.key == key and activity.done and activity.status == "Done" and activity.moved_by == "alice-1"
    assert [c.text.strip() for c in activity.comments][-1] == "/irflow status"
    assert activity.comments[-1].author == "alice-1" and activity.comments[0].author in {"irflow", BOT_CLOUD}
    query = (server.calls("GET", "search/jql") or server.calls("GET", "search"))[-1].query
    assert query["expand"] == ["changelog"] and "updated >= -15m" in query["jql"][0]


def test_a_lost_answer_to_create_is_unavailable_and_the_issue_exists(server: JiraLoopback, client: JiraClient) -> None:
    client.find_issue("warm-up")
    server.drop_next("POST", "issue")
    with pytest.raises(Unavailable):
        open_issue(client)
    assert len(server.issues) == 1
    assert client.find_issue("inc-1") == next(iter(server.issues))


def test_an_outage_is_unavailable_until_healed(server: JiraLoopback, client: JiraClient) -> None:
    client.find_issue("warm-up")
    server.outage(500)
    with pytest.raises(Unavailable) as caught:
        open_issue(client)
    assert caught.value.status == 500
    server.heal()
    assert open_issue(client)


def test_forbidden_is_auth_error(server: JiraLoopback, client: JiraClient) -> None:
    key = open_issue(client)
    server.fail_next(403)  # e.g. no "Link issues" permission
    with pytest.raises(AuthError) as caught:
        client.add_remote_link(key, "https://slack.com/app_redirect?channel=C1", trusted("Slack"), "g")
    assert caught.value.status == 403


def test_unknown_project_on_create_names_the_field(server: JiraLoopback) -> None:
    with pytest.raises(InvalidRequest, match="project: Specify a valid project ID or key"):
        open_issue(JiraClient(settings_for(server, project="NOPE")))
