"""`irflow doctor` says, per system, local twin / real and reachable / what is wrong; irflow.toml works."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.contract.litellm_server import MASTER_KEY, LiteLLMProxy
from tests.integration.procs import IRFLOW

REPO = Path(__file__).resolve().parents[2]


def _doctor(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = os.environ | {"IRFLOW_HOME": str(home)} | env
    return subprocess.run([IRFLOW, "doctor"], env=full, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_doctor_defaults_are_local_twins(tmp_path: Path) -> None:
    done = _doctor(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert "local twin" in lines["slack"] and "local twin" in lines["jira"] and "ok" in lines["database"]


def test_doctor_reaches_a_configured_system_and_reports_bad_auth(tmp_path: Path) -> None:
    with LiteLLMProxy() as proxy:
        good = _doctor(tmp_path, LITELLM_PROXY_URL=proxy.url, LITELLM_MASTER_KEY=MASTER_KEY)
        bad = _doctor(tmp_path, LITELLM_PROXY_URL=proxy.url, LITELLM_MASTER_KEY="sk-wrong-master-key-000")
    assert good.returncode == 0 and "real, reachable" in good.stdout, good.stdout + good.stderr
    assert bad.returncode == 1 and "litellm" in bad.stdout and "error" in bad.stdout
    assert "sk-wrong-master-key-000" not in bad.stdout + bad.stderr


def test_doctor_names_what_a_partial_configuration_misses(tmp_path: Path) -> None:
    done = _doctor(tmp_path, JIRA_URL="http://127.0.0.1:9")
    assert done.returncode == 1
    assert "JIRA_API_TOKEN" in done.stdout and "JIRA_PROJECT" in done.stdout


def test_irflow_toml_is_read(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from irflow.settings import IrflowSettings

    (tmp_path / "irflow.toml").write_text("correlation_window_minutes = 5\nstore_raw = false\n")
    monkeypatch.setenv("IRFLOW_CONFIG", str(tmp_path / "irflow.toml"))
    settings = IrflowSettings()
    assert settings.correlation_window_minutes == 5 and settings.store_raw is False
    monkeypatch.setenv("IRFLOW_STORE_RAW", "true")
    assert IrflowSettings().store_raw is True  # the environment wins over the file


def test_doctor_probes_socket_mode_and_refuses_a_misplaced_token(tmp_path: Path) -> None:
    from tests.contract.slack_server import SlackServer
    from tests.contract.slack_socket_server import APP_ID, SocketModeServer

    with SlackServer(socket=SocketModeServer()) as slack:
        base = {"SLACK_BOT_TOKEN": slack.token, "SLACK_API_URL": slack.url}
        good = _doctor(tmp_path, **base, SLACK_APP_TOKEN=slack.app_token)
        revoked = _doctor(tmp_path, **base, SLACK_APP_TOKEN="xapp-1-A0-2-revoked0000")
        misplaced = _doctor(tmp_path, **base, SLACK_APP_TOKEN=slack.token)
    socket_line = next((line for line in good.stdout.splitlines() if line.startswith("slack socket mode")), "")
    assert good.returncode == 0 and "real, reachable" in socket_line and APP_ID in socket_line, good.stdout
    assert revoked.returncode == 1 and "invalid_auth" in revoked.stdout
    assert misplaced.returncode == 1 and "app-level token" in misplaced.stdout
    assert slack.token not in misplaced.stdout + misplaced.stderr, "a refused setting is named, never echoed"
