"""irflow's own security: every state-changing CLI command checks the caller's role and audits refusals;
irflow's secrets never show in reprs or errors; logs are redacted; the code passes bandit."""

from __future__ import annotations

import getpass
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from irflow import logs, runtime
from irflow.settings import IrflowSettings
from irflow.store.tables import AuditRow

REPO = Path(__file__).resolve().parents[2]
ME = f"cli:{getpass.getuser()}"

STATE_CHANGING = [
    ["approve", "act-x"], ["reject", "act-x"], ["actions", "undo", "act-x"], ["actions", "done", "act-x"],
    ["incidents", "false-positive", "inc-x", "--reason", "r"], ["incidents", "resolve", "inc-x"],
    ["incidents", "close", "inc-x"], ["incidents", "reopen", "inc-x"], ["incidents", "assign", "inc-x", "bob"],
    ["incidents", "ack", "inc-x"], ["incidents", "merge", "inc-x", "inc-y"],
    ["incidents", "flag-serious", "inc-x"], ["incidents", "reported", "inc-x"],
    ["alerts", "move", "alr-x", "--to", "inc-x"], ["automation", "pause"], ["automation", "resume"],
    ["suppress", "add", "--actor", "a", "--reason", "r"], ["suppress", "remove", "1"],
    ["playbooks", "run", "jailbreak", "--incident", "inc-x"], ["purge", "--older-than", "30d"],
]


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An RBAC map that gives the current OS user only `viewer` (the ids need not exist: the role is
    checked before anything is looked up, so a caller without the role learns nothing)."""
    home = tmp_path / "home"
    monkeypatch.setenv("IRFLOW_HOME", str(home))
    monkeypatch.setenv("IRFLOW_RBAC", json.dumps({ME: "viewer", "cli:someone-else": "admin"}))
    return home


@pytest.mark.parametrize("args", STATE_CHANGING, ids=lambda a: " ".join(a[:2]))
def test_state_changing_commands_check_the_role(seeded: Path, args: list[str]) -> None:
    from irflow.cli import app, main

    assert main  # the entry point wraps errors; CliRunner calls the app, so check the exception it raises
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert result.exception is not None and "may not" in str(result.exception), (args, result.output)
    rt = runtime.create(IrflowSettings())
    with rt.db.tx() as s:
        refused = s.execute(select(AuditRow).where(AuditRow.kind == "rbac.refused")).scalars().all()
    assert [r.actor for r in refused] == [ME]


def test_irflow_secrets_stay_out_of_reprs_and_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = {"SLACK_BOT_TOKEN": "xoxb-1111-2222-canarycanarycanary", "SLACK_SIGNING_SECRET": "sig-canary-0001",
               "JIRA_API_TOKEN": "jira-canary-token-0002", "LITELLM_MASTER_KEY": "sk-master-canary-0003",
               "IRFLOW_INTAKE_TOKEN": "intake-canary-0004"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("JIRA_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("JIRA_PROJECT", "SEC")
    monkeypatch.setenv("LITELLM_PROXY_URL", "http://127.0.0.1:9")
    rt = runtime.create(IrflowSettings(home=tmp_path))
    systems = rt.systems
    shown = " ".join(repr(x) for x in (rt.settings, systems.chat, systems.tickets, *systems.keys.values(),
                                       *systems.users.values()))
    assert not [v for v in secrets.values() if v in shown]
    from irflow.connectors.errors import ConnectorError

    with pytest.raises(ConnectorError) as info:
        systems.key_revoker("litellm").block("some-key")
    assert not [v for v in secrets.values() if v in str(info.value)]


def test_logs_are_redacted_in_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    canary = "sk-proj-" + "Q" * 12 + "canaryLogSecret0123456789"
    for fmt in ("text", "json"):
        logs.configure(fmt)
        logging.getLogger("irflow.test").warning("alert said %s <!channel> https://evil.example/x", canary)
        err = capsys.readouterr().err
        assert canary not in err and "<!channel>" not in err and "https://evil.example" not in err
        if fmt == "json":
            assert json.loads(err.strip().splitlines()[-1])["level"] == "WARNING"
    logs.configure("text")


def test_bandit_finds_no_medium_or_high_issue() -> None:
    """Static security check of our own code (findings and accepted low-severity ones: docs/security.md)."""
    bandit = shutil.which("bandit", path=str(Path(sys.executable).parent))
    if bandit is None:
        pytest.skip("bandit is not installed (pip install -e '.[test]')")
    done = subprocess.run([bandit, "-q", "-r", "irflow", "connectors", "flows", "-ll", "-f", "json"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    scanned = report["metrics"]["_totals"]["loc"]
    assert scanned > 5000, f"bandit scanned only {scanned} lines: {done.stderr[-500:]}"
    issues = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report.get("results", [])]
    assert issues == []
