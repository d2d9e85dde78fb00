"""Embedded by default, real when configured, and a partial configuration is an error naming what's missing."""

from __future__ import annotations

import pytest

from irflow.connectors.errors import ConfigError
from irflow.systems import build


def test_everything_is_a_twin_by_default(db) -> None:  # type: ignore[no-untyped-def]
    systems = build(db)
    assert systems.chat.system == "local" and systems.tickets.system == "local"
    assert systems.default_target == {"keys": "local", "users": "local", "prompts": "local", "sessions": "local"}
    assert systems.target_for("accounts", None) == "local"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"JIRA_URL": "http://127.0.0.1:9"}, "JIRA_API_TOKEN"),
        ({"LITELLM_PROXY_URL": "http://127.0.0.1:9"}, "LITELLM_MASTER_KEY"),
    ],
)
def test_partial_configuration_is_an_error(db, monkeypatch, env: dict[str, str], missing: str) -> None:  # type: ignore[no-untyped-def]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=missing):
        build(db)


def test_full_litellm_configuration_switches_containment_target(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LITELLM_PROXY_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-master-for-tests")
    systems = build(db)
    assert systems.default_target["keys"] == "litellm" and systems.default_target["users"] == "litellm"
    assert systems.key_revoker("litellm").system == "litellm"
    assert "sk-master-for-tests" not in repr(systems.key_revoker("litellm"))
