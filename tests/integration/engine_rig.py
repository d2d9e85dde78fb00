"""What the playbook-engine integration tests share: a runtime built on a real Prefect server with the playbook a
test gives, alerts ingested for it, its actions by step, and a loopback LiteLLM proxy in the environment. The
fixture is defined as fixture_make_rt, so a test module imports it without its parameters shadowing the import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from irflow import incidents, intake, runtime
from irflow.bodies import split
from irflow.settings import IrflowSettings
from irflow.store.tables import ActionRow
from tests.contract.litellm_server import MASTER_KEY, LiteLLMProxy
from tests.integration.playbook_yaml import playbook_yaml

APPROVER, OUTSIDER = "cli:alice", "cli:mallory"


def _playbook(folder: Path, steps: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "prompt_injection.yaml").write_text(playbook_yaml(steps))


@pytest.fixture(name="make_rt")
def fixture_make_rt(tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def build(steps: str, **settings: Any) -> runtime.Runtime:
        _playbook(tmp_path / "books", steps)
        base = {"home": tmp_path / "home", "playbooks": tmp_path / "books", "rbac": {APPROVER: "approver"}}
        return runtime.create(IrflowSettings(**(base | settings)))

    return build


def _alert(rt: runtime.Runtime, user: str = "eve", key: str = "app-key-1", session: str = "s-1") -> str:
    body = ('{"title": "pi", "category": "prompt_injection", "severity": "high", '
            f'"actor": {{"user": "{user}", "api_key": "{key}", "session": "{session}"}}}}').encode()
    incident_id = intake.ingest(rt.db, rt.settings, split(body, max_bytes=1 << 20)).results[0].incident_id
    assert incident_id
    return incident_id


def _actions(rt: runtime.Runtime, incident_id: str) -> dict[str, ActionRow]:
    with rt.db.tx() as s:
        return {a.step_id: a for a in incidents.actions_of(s, incident_id)}


@contextmanager
def litellm_in_env(monkeypatch: pytest.MonkeyPatch, master_key: str = MASTER_KEY) -> Iterator[LiteLLMProxy]:
    """A loopback LiteLLM proxy that a runtime built inside the block finds through LITELLM_PROXY_URL and
    LITELLM_MASTER_KEY."""
    with LiteLLMProxy() as proxy:
        monkeypatch.setenv("LITELLM_PROXY_URL", proxy.url)
        monkeypatch.setenv("LITELLM_MASTER_KEY", master_key)
        yield proxy
