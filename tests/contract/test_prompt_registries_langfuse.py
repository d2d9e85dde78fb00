"""Contract tests, the real Langfuse client only, against the loopback in langfuse_server.py: the documented
routes, labels and folder names on the wire, Langfuse's errors typed, the secret key kept out of every message,
and the client's settings."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    RateLimited,
    Unavailable,
)
from irflow.connectors.langfuse.client import LangfusePrompts, _Http
from irflow.connectors.langfuse.settings import LangfuseSettings
from tests.contract.langfuse_server import PUBLIC_KEY, SECRET_KEY, LangfuseServer
from tests.contract.prompt_registry_rig import ALIAS, TEMPLATES, Rig, _seed_langfuse, langfuse_settings, server_serving
from tests.contract.prompt_registry_rig import (  # noqa: F401 - fixtures, found by name
    fixture_clean_env,
    fixture_langfuse,
    fixture_prompts,
)


# --- Langfuse only: wire, labels, names ------------------------------------------------------------------
def test_langfuse_calls_the_documented_routes(langfuse: LangfuseServer, prompts: LangfusePrompts) -> None:
    Rig(prompts, _seed_langfuse(langfuse), server_serving(langfuse)).seed("support-bot", 3)
    prompts.rollback("support-bot")
    seen = [(s.method, s.target.split("?")[0]) for s in langfuse.requests]
    assert seen == [("GET", "/api/public/v2/prompts/support-bot"), ("GET", "/api/public/v2/prompts"),
                    ("PATCH", "/api/public/v2/prompts/support-bot/versions/2"),
                    ("GET", "/api/public/v2/prompts/support-bot")]
    assert "label=production" in langfuse.requests[0].target and "name=support-bot" in langfuse.requests[1].target
    assert json.loads(langfuse.writes()[0].body) == {"newLabels": ["production"]}
    basic = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    assert all(s.authorization == basic and SECRET_KEY not in s.target + s.body for s in langfuse.requests)
    assert langfuse.labelled("support-bot", "latest") == 3  # Langfuse's own label stays on the newest


def test_langfuse_folder_names_are_url_encoded(langfuse: LangfuseServer, prompts: LangfusePrompts) -> None:
    Rig(prompts, _seed_langfuse(langfuse), server_serving(langfuse)).seed("team/support bot", 2)
    done = prompts.rollback("team/support bot")
    assert done.after["version"] == 1 and langfuse.labelled("team/support bot", ALIAS) == 1
    assert langfuse.writes()[0].target == "/api/public/v2/prompts/team%2Fsupport%20bot/versions/1"


def test_langfuse_defaults_to_the_configured_label(langfuse: LangfuseServer) -> None:
    langfuse.add_version("support-bot", TEMPLATES[0], labels=["live"])
    langfuse.add_version("support-bot", TEMPLATES[2], labels=["live", ALIAS])
    outcome = LangfusePrompts(langfuse_settings(langfuse, label="live")).rollback("support-bot")
    assert outcome.before["alias"] == "live" and langfuse.labelled("support-bot", "live") == 1
    assert langfuse.labelled("support-bot", ALIAS) == 2


def test_langfuse_dry_run_sends_no_write(langfuse: LangfuseServer, prompts: LangfusePrompts) -> None:
    Rig(prompts, _seed_langfuse(langfuse), server_serving(langfuse)).seed("support-bot", 3)
    prompts.rollback("support-bot", dry_run=True)
    assert langfuse.requests and langfuse.writes() == []


def test_a_langfuse_that_answers_ok_but_moves_nothing_is_a_conflict(langfuse: LangfuseServer,
                                                                    prompts: LangfusePrompts) -> None:
    Rig(prompts, _seed_langfuse(langfuse), server_serving(langfuse)).seed("support-bot", 3)
    langfuse.patch_ignores_labels = True
    with pytest.raises(Conflict, match="at version 3"):
        prompts.rollback("support-bot")


# --- Langfuse only: errors -------------------------------------------------------------------------------
def test_a_wrong_secret_key_is_an_auth_error(langfuse: LangfuseServer) -> None:
    wrong = "sk-lf-wrong-secret-5555"
    with pytest.raises(AuthError) as caught:
        LangfusePrompts(langfuse_settings(langfuse, secret=wrong)).rollback("support-bot")
    assert caught.value.status == 401 and not caught.value.retryable and "UnauthorizedError" in str(caught.value)
    assert wrong not in str(caught.value) + repr(caught.value) and langfuse.writes() == []


@pytest.mark.parametrize(("header", "seconds"), [("2.5", 2.5), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0), (None, 1.0)])
def test_429_is_rate_limited_with_langfuses_retry_after(langfuse: LangfuseServer, prompts: LangfusePrompts,
                                                         header: str | None, seconds: float) -> None:
    langfuse.fail_next(429, retry_after=header)
    with pytest.raises(RateLimited) as caught:
        prompts.rollback("support-bot")
    assert caught.value.retry_after == seconds and caught.value.retryable and langfuse.writes() == []


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable(langfuse: LangfuseServer, prompts: LangfusePrompts, status: int) -> None:
    langfuse.fail_next(status)
    with pytest.raises(Unavailable) as caught:
        prompts.current_version("support-bot")
    assert caught.value.status == status and caught.value.retryable


def test_a_body_langfuse_refuses_is_an_invalid_request_that_says_why(langfuse: LangfuseServer) -> None:
    langfuse.add_version("support-bot", TEMPLATES[0])
    with pytest.raises(InvalidRequest, match="newLabels: Label 'latest'") as caught:
        _Http(langfuse_settings(langfuse)).patch("/api/public/v2/prompts/support-bot/versions/1",
                                                 {"newLabels": ["latest"]})
    assert caught.value.status == 400


def test_a_host_that_is_not_langfuses_base_url_is_a_config_error(langfuse: LangfuseServer) -> None:
    settings = LangfuseSettings(host=langfuse.url + "/langfuse", public_key=PUBLIC_KEY,
                                secret_key=SecretStr(SECRET_KEY))
    with pytest.raises(ConfigError, match="LANGFUSE_HOST") as caught:
        LangfusePrompts(settings).current_version("support-bot")
    assert caught.value.status == 404 and "<html" not in str(caught.value).lower()


def test_no_answer_in_time_and_no_server_are_unavailable(langfuse: LangfuseServer) -> None:
    langfuse.delay_next(1.0)
    with pytest.raises(Unavailable, match="no answer within"):
        LangfusePrompts(langfuse_settings(langfuse, timeout=0.2)).current_version("support-bot")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = LangfuseSettings(host=f"http://127.0.0.1:{port}", public_key=PUBLIC_KEY, secret_key=SecretStr(SECRET_KEY))
    with pytest.raises(Unavailable, match="cannot reach Langfuse"):
        LangfusePrompts(gone).current_version("support-bot")


def test_the_secret_key_is_in_no_error_message_or_repr(langfuse: LangfuseServer, prompts: LangfusePrompts) -> None:
    langfuse.add_version("support-bot", TEMPLATES[0], labels=[ALIAS])

    def faulted(status: int) -> Callable[[], object]:
        def attempt() -> object:
            langfuse.fail_next(status, retry_after="3")
            return prompts.rollback("support-bot")
        return attempt

    def timed_out() -> object:
        langfuse.delay_next(0.6)
        return LangfusePrompts(langfuse_settings(langfuse, timeout=0.2)).current_version("support-bot")

    http = _Http(langfuse_settings(langfuse))
    failures: list[ConnectorError] = []
    for attempt in (lambda: prompts.current_version(SECRET_KEY),  # a secret pasted as a prompt name
                    lambda: http.patch("/api/public/v2/prompts/support-bot/versions/1", {"newLabels": SECRET_KEY}),
                    lambda: prompts.rollback("support-bot"), faulted(429), faulted(503), timed_out,
                    lambda: LangfusePrompts(langfuse_settings(langfuse, secret=SECRET_KEY + "x")).rollback("p")):
        with pytest.raises(ConnectorError) as caught:
            attempt()
        failures.append(caught.value)
    texts = [t for e in failures for t in (str(e), repr(e), str(e.__cause__), repr(e.__cause__))]
    texts += [repr(prompts), repr(http), repr(langfuse_settings(langfuse)), str(langfuse_settings(langfuse))]
    assert not [t for t in texts if SECRET_KEY in t]


# --- Langfuse settings ---------------------------------------------------------------------------------
def test_langfuse_settings_with_nothing_set_mean_the_twin(clean_env: pytest.MonkeyPatch) -> None:
    settings = LangfuseSettings()
    assert not settings.configured() and settings.missing() == [] and settings.label == "production"
    with pytest.raises(ConfigError, match="LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY"):
        LangfusePrompts(settings)


@pytest.mark.parametrize(("given", "absent"), [
    ({"LANGFUSE_HOST": "https://cloud.langfuse.com"}, ["LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"]),
    ({"LANGFUSE_PUBLIC_KEY": "pk-lf-1", "LANGFUSE_SECRET_KEY": "sk-lf-1"}, ["LANGFUSE_HOST"]),
    ({"LANGFUSE_HOST": "https://cloud.langfuse.com", "LANGFUSE_PUBLIC_KEY": "pk-lf-1",
      "LANGFUSE_SECRET_KEY": "  "}, ["LANGFUSE_SECRET_KEY"]),
])
def test_half_set_langfuse_settings_name_what_is_missing(clean_env: pytest.MonkeyPatch, given: dict[str, str],
                                                         absent: list[str]) -> None:
    for name, value in given.items():
        clean_env.setenv(name, value)
    settings = LangfuseSettings()
    assert not settings.configured() and settings.missing() == absent
    with pytest.raises(ConfigError, match=absent[0]):
        LangfusePrompts(settings)


def test_full_langfuse_settings_configure_the_client_and_hide_the_key(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LANGFUSE_BASE_URL", "https://langfuse.example/")
    clean_env.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-1")
    clean_env.setenv("LANGFUSE_SECRET_KEY", "sk-lf-very-secret")
    clean_env.setenv("IRFLOW_LANGFUSE_LABEL", "live")
    clean_env.setenv("LANGFUSE_TIMEOUT", "4")
    settings = LangfuseSettings()
    assert settings.configured() and settings.missing() == []
    assert (settings.host, settings.label, settings.timeout) == ("https://langfuse.example", "live", 4.0)
    assert "sk-lf-very-secret" not in repr(settings) + repr(LangfusePrompts(settings))
