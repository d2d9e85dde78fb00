"""Slack's and Jira's halves of one incident run side by side (irflow.outbox lanes). Jira may open the issue
from a snapshot read before Slack created the channel; the issue must still learn the channel."""

from __future__ import annotations

import json
from pathlib import Path

from irflow import intake, runtime, workspace, workspace_jira, workspace_slack
from irflow.bodies import split
from irflow.settings import IrflowSettings


def test_an_issue_opened_from_a_stale_snapshot_still_links_the_channel(tmp_path: Path) -> None:
    rt = runtime.create(IrflowSettings(home=tmp_path / "home"))
    body = json.dumps({"title": "pi", "category": "prompt_injection", "severity": "high",
                       "actor": {"user": "eve"}}).encode()
    incident_id = intake.ingest(rt.db, rt.settings, split(body, max_bytes=1 << 20)).results[0].incident_id
    assert incident_id
    jira_read = workspace.snapshot(rt.db, incident_id)  # Jira's lane reads the incident: no channel yet
    workspace_slack.sync(rt.db, rt.systems, workspace.snapshot(rt.db, incident_id))  # Slack's lane, meanwhile
    channel = workspace.snapshot(rt.db, incident_id).row.slack_channel
    assert channel and jira_read.row.slack_channel is None
    workspace_jira.sync(rt.db, rt.systems, jira_read)  # ...then Jira opens the issue from its older read
    assert workspace_jira.intent_detail(rt.db, incident_id).get("slack_link") == channel
