"""The vertical slice, real end to end: alert JSON -> normalized -> stored -> a Prefect flow run (on a
real Prefect API server process) runs the playbook -> the gateway twin denies the actor -> Jira and
Slack twins hold the issue and the channel -> the incident shows it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from irflow import incidents, orchestrate, runtime
from irflow.settings import IrflowSettings
from irflow.store.tables import TwinJiraIssueRow, TwinSlackMessageRow

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PI_ALERT = REPO / "examples" / "alerts" / "prompt_injection.json"


@pytest.fixture
def rt(tmp_path: Path, prefect_api: str) -> runtime.Runtime:
    return runtime.create(IrflowSettings(home=tmp_path / "home"))


def test_prompt_injection_slice_in_process(rt: runtime.Runtime) -> None:
    from irflow.cli import ingest_bytes

    report = ingest_bytes(rt, PI_ALERT.read_bytes(), None, wait=True)
    incident_id = report.results[0].incident_id
    assert incident_id and report.results[0].new_incident
    with rt.db.tx() as s:
        view = incidents.incident_view(s, incidents.get(s, incident_id))
        issue = s.query(TwinJiraIssueRow).filter_by(incident_id=incident_id).one()
        summary = s.query(TwinSlackMessageRow).filter_by(channel=view["slack_channel"], pinned=True).one()
    first_rung = next(a for a in view["actions"] if a["name"] == "sessions.block")
    assert first_rung["status"] == "done" and first_rung["system"] == "local"
    assert view["status"] == "contained"
    assert view["jira_key"] == issue.key and view["slack_channel"]
    assert not rt.systems.gateway.check(session="sess-7f3a").allowed
    assert rt.systems.gateway.check(session="another-session").allowed
    assert rt.systems.gateway.check(user="eve@example.net").allowed  # one alert: the ladder's first rung only
    kinds = {t["kind"] for t in view["timeline"]}
    assert {"opened", "playbook", "decision", "action", "status", "jira", "slack"} <= kinds
    for text in (issue.description, summary.text):
        assert "<!channel>" not in text and "sk-proj-ZmFrZUtleUZvckRlbW9Pbmx5MTIzNDU2Nzg5" not in text
        assert "https://evil.example" not in text


def test_rerun_repeats_nothing(rt: runtime.Runtime) -> None:
    from irflow.cli import ingest_bytes

    incident_id = ingest_bytes(rt, PI_ALERT.read_bytes(), None, wait=True).results[0].incident_id
    assert incident_id
    with rt.db.tx() as s:
        before = [(a.id, a.status, a.updated_at) for a in incidents.actions_of(s, incident_id)]
    orchestrate.respond(rt, incident_id)
    with rt.db.tx() as s:
        after = [(a.id, a.status, a.updated_at) for a in incidents.actions_of(s, incident_id)]
    assert before == after


def test_prefect_saw_the_flow_run_and_artifact(rt: runtime.Runtime) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from irflow.cli import ingest_bytes

    incident_id = ingest_bytes(rt, PI_ALERT.read_bytes(), None, wait=True).results[0].incident_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"irflow-{incident_id}"])))
    assert artifacts, "the flow run left no artifact"
    body = str(artifacts[0].data)
    assert incident_id in body and "sk-proj-" not in body and "<!channel>" not in body


def _irflow(*args: str, home: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = os.environ | {"IRFLOW_HOME": str(home), "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
    exe = Path(sys.executable).with_name("irflow")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, input=stdin, timeout=300, cwd=REPO)


def test_cli_ingest_wait_json_then_show(tmp_path: Path, prefect_api: str) -> None:
    home = tmp_path / "cli-home"
    done = _irflow("ingest", str(PI_ALERT), "--wait", "--json", home=home)
    assert done.returncode == 0, done.stderr.decode()
    [item] = json.loads(done.stdout)
    assert set(item) == {"index", "alert_id", "source", "category", "owasp", "atlas", "severity", "actor",
                         "incident_id", "new_incident", "duplicate"}
    assert item["index"] == 0 and item["category"] == "prompt_injection" and item["owasp"] == "LLM01"
    assert item["atlas"] == ["AML.T0051.000"] and item["new_incident"] is True and item["duplicate"] is False
    assert set(item["actor"]) == {"user", "api_key", "team", "session", "ip"}
    shown = _irflow("incidents", "show", item["incident_id"], "--json", home=home)
    assert shown.returncode == 0, shown.stderr.decode()
    view = json.loads(shown.stdout)
    assert {"id", "title", "status", "severity", "category", "categories", "owasp", "atlas", "actor", "alert_count",
            "jira_key", "slack_channel", "slack_thread", "actions", "timeline"} <= set(view)
    assert any(a["status"] == "done" and a["name"] == "sessions.block" for a in view["actions"])
    assert set(view["actions"][0]) >= {"id", "name", "target", "status", "approved_by"}
    assert view["jira_key"] and view["slack_channel"] and view["slack_thread"] is None
    denied = _irflow("gateway", "check", "--session", "sess-7f3a", home=home)
    assert denied.returncode == 1 and json.loads(denied.stdout)["allowed"] is False
    again = _irflow("ingest", str(PI_ALERT), "--json", home=home)
    assert json.loads(again.stdout)[0]["duplicate"] is True


def test_cli_rejects_with_65_and_keeps_the_good_ones(tmp_path: Path, prefect_api: str) -> None:
    body = b'[{"title": "a", "category": "jailbreak", "severity": "low", "actor": {"user": "u"}}, {"title": 3}]'
    done = _irflow("ingest", "-", "--json", home=tmp_path / "h", stdin=body)
    assert done.returncode == 65
    good, bad = json.loads(done.stdout)
    assert good["index"] == 0 and "alert_id" in good
    assert bad["index"] == 1 and bad["error"].startswith("$[1]")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("incidents", "show", "inc-nope"), "no incident with id 'inc-nope'"),
        (("ingest", "/no/such/file.json"), "cannot read /no/such/file.json"),
    ],
)
def test_cli_errors_are_one_clear_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = _irflow(*args, home=tmp_path / "h")
    err = done.stderr.decode()
    assert done.returncode == 1 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_usage_error_keeps_exit_2(tmp_path: Path) -> None:
    done = _irflow("ingest", "--bogus-flag", home=tmp_path / "h")
    assert done.returncode == 2 and b"Traceback" not in done.stderr
