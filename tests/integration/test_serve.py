"""`irflow serve` as a user runs it: a real process that starts and owns its Prefect server (no
PREFECT_API_URL), takes alerts over TCP, contains the actor, and stops its Prefect server on exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from irflow.prefect_server import free_port
from tests.integration.procs import IRFLOW, processes_with_env, wait_http

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _poll_incident(base: str, incident_id: str, headers: dict[str, str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    view: dict = {}
    while time.monotonic() < deadline:
        view = requests.get(f"{base}/v1/incidents/{incident_id}", headers=headers, timeout=5).json()
        if view.get("status") == "contained" and view.get("slack_channel") and view.get("jira_key"):
            return view
        time.sleep(0.5)
    raise AssertionError(f"incident never contained: {json.dumps(view)[:2000]}")


def test_serve_owns_prefect_and_contains_over_http(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"IRFLOW_HOME": str(tmp_path / "home"), "IRFLOW_INTAKE_TOKEN": "t0ken-for-tests"}
    proc = subprocess.Popen([IRFLOW, "serve", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": "Bearer t0ken-for-tests"}
    try:
        wait_http(f"{base}/healthz", proc)
        body = (REPO / "examples" / "alerts" / "prompt_injection.json").read_bytes()
        answer = requests.post(f"{base}/v1/alerts", data=body, headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text
        incident_id = answer.json()[0]["incident_id"]
        view = _poll_incident(base, incident_id, headers)
        assert any(a["name"] == "sessions.block" and a["status"] == "done" for a in view["actions"])
        prefect_home = tmp_path / "home" / "prefect"
        assert (prefect_home / "server.log").exists(), "serve did not start its own Prefect server under IRFLOW_HOME"
        assert requests.get(f"{base}/v1/incidents", timeout=5).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode(errors="replace")
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    assert processes_with_env(f"PREFECT_HOME={tmp_path / 'home' / 'prefect'}") == [], "Prefect server left running"


def test_serve_offers_the_playbook_as_a_prefect_deployment(tmp_path: Path, prefect_api: str) -> None:
    """What an analyst does in the Prefect UI: run the deployment with (playbook, incident) parameters."""
    from prefect.deployments import run_deployment

    from irflow import incidents, runtime
    from irflow.deployment import DEPLOYMENT
    from irflow.settings import IrflowSettings

    port, home = free_port(), tmp_path / "home"
    env = os.environ | {"IRFLOW_HOME": str(home), "IRFLOW_INTAKE_TOKEN": "t", "PREFECT_API_URL": prefect_api}
    proc = subprocess.Popen([IRFLOW, "serve", "--port", str(port)], env=env,
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": "Bearer t"}
    try:
        wait_http(f"{base}/healthz", proc)
        body = b'{"title": "t", "category": "jailbreak", "severity": "low", "actor": {"user": "ui-user"}}'
        incident_id = requests.post(f"{base}/v1/alerts", data=body, headers=headers, timeout=30).json()[0]["incident_id"]
        run = run_deployment(name=DEPLOYMENT, parameters={"playbook": "leaked_api_key", "incident_id": incident_id},
                             timeout=120)
        assert run.state is not None and run.state.is_completed(), run.state
        rt = runtime.create(IrflowSettings(home=home))
        with rt.db.tx() as s:
            timeline = [t.text for t in incidents.timeline_of(s, incident_id)]
            playbooks = {a.playbook for a in incidents.actions_of(s, incident_id)}
        assert any("run from Prefect" in t for t in timeline) and "leaked_api_key" in playbooks
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
