"""Contract tests: the OpenAI and Anthropic admin clients type the vendors' errors alike (auth, not found, rate
limits with each vendor's hint, outages, timeouts), keep the admin keys out of every message, and take their
settings from the environment."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from irflow.connectors.anthropic_admin.client import AnthropicKeys
from irflow.connectors.anthropic_admin.settings import AnthropicAdminSettings
from irflow.connectors.errors import AuthError, ConnectorError, NotFound, RateLimited, Unavailable
from irflow.connectors.openai_admin.client import OpenAIKeys, _Http
from irflow.connectors.openai_admin.settings import OpenAIAdminSettings
from tests.contract import anthropic_admin_server as anthropic_api
from tests.contract import openai_admin_server as openai_api
from tests.contract.admin_keys_rig import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    PROJECT,
    Loopback,
    Vendor,
    anthropic_settings,
    openai_info,
    openai_settings,
)
from tests.contract.admin_keys_rig import (  # noqa: F401 - fixtures, found by name
    fixture_akeys,
    fixture_ant,
    fixture_oai,
    fixture_okeys,
    fixture_vendor,
)
from tests.contract.anthropic_admin_server import AnthropicAdminServer
from tests.contract.openai_admin_server import OpenAIAdminServer


# --- the real clients only: the vendors' errors --------------------------------------------------------
def test_wrong_admin_keys_are_auth_errors(vendor: Vendor) -> None:
    with pytest.raises(AuthError) as caught:
        vendor.info(admin_key="sk-wrong-admin-key-5555")
    assert caught.value.status == 401 and not caught.value.retryable
    vendor.api.fail_next(403)
    with pytest.raises(AuthError) as forbidden:
        vendor.info()
    assert forbidden.value.status == 403


def test_unknown_keys_are_not_found(okeys: OpenAIKeys, akeys: AnthropicKeys, ant: AnthropicAdminServer) -> None:
    with pytest.raises(NotFound):
        okeys.info(f"{PROJECT}/key_never")
    with pytest.raises(NotFound):
        akeys.block("apikey_never")
    assert ant.writes() == []


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "7"}, 7.0),
    ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
    ({"x-ratelimit-reset-requests": "1s"}, 1.0),
    ({"retry-after-ms": "250", "x-ratelimit-reset-requests": "1s"}, 0.25),
    ({"x-ratelimit-reset-requests": "soon"}, 1.0),
])
def test_openai_429_is_rate_limited_with_its_hint(oai: OpenAIAdminServer, okeys: OpenAIKeys,
                                                  headers: dict[str, str], seconds: float) -> None:
    oai.fail_next(429, headers=headers)
    with pytest.raises(RateLimited) as caught:
        okeys.delete(OPENAI_KEY)
    assert caught.value.retry_after == seconds and caught.value.retryable and oai.writes() == []


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0), (None, 1.0)])
def test_anthropic_429_is_rate_limited_with_retry_after(ant: AnthropicAdminServer, akeys: AnthropicKeys,
                                                        header: str | None, seconds: float) -> None:
    ant.fail_next(429, headers={"retry-after": header} if header else None)
    with pytest.raises(RateLimited) as caught:
        akeys.block(ANTHROPIC_KEY)
    assert caught.value.retry_after == seconds and ant.writes() == []


@pytest.mark.parametrize("status", [500, 503, 529])
def test_5xx_and_overloaded_are_unavailable(vendor: Vendor, status: int) -> None:
    vendor.api.fail_next(status)
    with pytest.raises(Unavailable) as caught:
        vendor.info()
    assert caught.value.status == status and caught.value.retryable


def test_no_answer_in_time_is_unavailable(vendor: Vendor) -> None:
    vendor.api.delay_next(0.6)
    with pytest.raises(Unavailable, match="no answer within"):
        vendor.info(timeout=0.2)


def test_no_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(Unavailable, match="cannot reach"):
        OpenAIKeys(OpenAIAdminSettings(admin_key=SecretStr("k"), api_url=url)).info(OPENAI_KEY)
    with pytest.raises(Unavailable, match="cannot reach"):
        AnthropicKeys(AnthropicAdminSettings(admin_key=SecretStr("k"), api_url=url)).info(ANTHROPIC_KEY)


def test_admin_keys_are_in_no_error_message_or_repr(oai: OpenAIAdminServer, ant: AnthropicAdminServer,
                                                    okeys: OpenAIKeys, akeys: AnthropicKeys) -> None:
    http = _Http(openai_settings(oai))

    def fault(api: Loopback, status: int, then: Callable[[], object]) -> object:
        api.fail_next(status, headers={"Retry-After": "3"})
        return then()

    attempts: list[Callable[[], object]] = [
        lambda: http.get(f"/v1/organization/projects/{openai_api.ADMIN_KEY}/x"),  # the 404 echoes the path
        lambda: okeys.info(f"{PROJECT}/key_never"),
        lambda: fault(oai, 429, lambda: okeys.delete(OPENAI_KEY)),
        lambda: fault(ant, 529, lambda: akeys.block(ANTHROPIC_KEY)),
        lambda: akeys.info("apikey_never"),
        lambda: openai_info(oai, admin_key=openai_api.ADMIN_KEY + "x"),  # the 401 echoes part of it
    ]
    failures: list[ConnectorError] = []
    for attempt in attempts:
        with pytest.raises(ConnectorError) as caught:
            attempt()
        failures.append(caught.value)
    texts = [t for e in failures for t in (str(e), repr(e), str(e.__cause__), repr(e.__cause__))]
    texts += [repr(okeys), repr(akeys), repr(http), repr(openai_settings(oai)), repr(anthropic_settings(ant))]
    assert not [t for t in texts if openai_api.ADMIN_KEY in t or anthropic_api.ADMIN_KEY in t]


# --- settings -------------------------------------------------------------------------------------------
SETTINGS = [(OpenAIAdminSettings, "OPENAI_ADMIN_KEY", "IRFLOW_OPENAI_API_URL", "IRFLOW_OPENAI_TIMEOUT"),
            (AnthropicAdminSettings, "ANTHROPIC_ADMIN_KEY", "IRFLOW_ANTHROPIC_API_URL", "IRFLOW_ANTHROPIC_TIMEOUT")]


@pytest.mark.parametrize(("cls", "key_env", "url_env", "timeout_env"), SETTINGS)
def test_settings_nothing_set_url_only_and_full(monkeypatch: pytest.MonkeyPatch, cls: type, key_env: str,
                                                url_env: str, timeout_env: str) -> None:
    for name in (key_env, url_env, timeout_env):
        monkeypatch.delenv(name, raising=False)
    assert (cls().configured(), cls().missing()) == (False, [])
    monkeypatch.setenv(url_env, "https://proxy.example/v1/")
    assert (cls().configured(), cls().missing()) == (False, [key_env])
    monkeypatch.setenv(key_env, "sk-admin-1234-abcd")
    monkeypatch.setenv(timeout_env, "3.5")
    full = cls()
    assert full.configured() and full.missing() == []
    assert (full.api_url, full.timeout) == ("https://proxy.example", 3.5)
    assert "sk-admin-1234-abcd" not in repr(full)
    monkeypatch.setenv(key_env, "  ")
    assert cls().admin_key is None
