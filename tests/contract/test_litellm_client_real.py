"""Contract tests, the real LiteLLM client only, against the loopback proxy: what goes on the wire (hashes,
never the key or the master key), plans and limits, the proxy's errors typed, secrets kept out of every
message, end users blocked and unblocked the way the proxy allows, and the client's settings."""

from __future__ import annotations

import json
import socket

import pytest
from pydantic import SecretStr

from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from irflow.connectors.litellm.client import LiteLLMKeys, LiteLLMUsers, wire_key
from irflow.connectors.litellm.proxy import ProxyApi as _Http
from irflow.connectors.litellm.settings import LiteLLMSettings
from tests.contract.litellm_rig import KEY, UNKNOWN_KEY, USER, settings_for, urlpath
from tests.contract.litellm_rig import (  # noqa: F401 - fixtures, found by name
    fixture_keys,
    fixture_proxy,
    fixture_users,
)
from tests.contract.litellm_server import MASTER_KEY, LiteLLMProxy


# --- the real client only: wire, plans, limits ----------------------------------------------------------
def test_neither_the_key_nor_the_master_key_travels_in_urls_or_bodies(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    keys.block(KEY)
    keys.rate_limit(KEY, rpm_limit=1)
    keys.delete(KEY)
    assert proxy.requests and all(KEY not in s.target + s.body for s in proxy.requests)
    assert all(MASTER_KEY not in s.target + s.body for s in proxy.requests)
    assert all(s.authorization == f"Bearer {MASTER_KEY}" for s in proxy.requests)
    assert any(wire_key(KEY) in s.target + s.body for s in proxy.requests)


def test_a_dry_run_plans_the_call_with_the_key_redacted_and_sends_nothing(proxy: LiteLLMProxy,
                                                                          keys: LiteLLMKeys) -> None:
    planned = keys.block(KEY, dry_run=True)
    assert planned.call.describe() == "litellm: POST /key/block"
    assert planned.call.request == {"method": "POST", "path": "/key/block", "body": {"key": "...9Zq1"}}
    assert KEY not in repr(planned) and proxy.requests == []


def test_rate_limit_round_trip_restores_the_previous_limits(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    done = keys.rate_limit(KEY, rpm_limit=1, tpm_limit=500)
    assert done.changed and done.before == {"rpm_limit": 100, "tpm_limit": None}
    assert keys.info(KEY)["rpm_limit"] == 1 and keys.info(KEY)["tpm_limit"] == 500
    undone = keys.restore_limits(KEY, done.before)
    assert undone.changed and undone.after == {"rpm_limit": 100, "tpm_limit": None}
    row = proxy.key(KEY)
    assert row is not None and (row.rpm_limit, row.tpm_limit, row.max_budget) == (100, None, 50.0)
    assert json.loads(proxy.writes()[-1].body)["tpm_limit"] is None  # an explicit null clears the limit


def test_rate_limit_is_idempotent_and_dry_runs_send_nothing(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    planned = keys.rate_limit(KEY, max_budget=0.0, dry_run=True)
    assert planned.call.request["body"] == {"key": "...9Zq1", "max_budget": 0.0} and proxy.requests == []
    keys.rate_limit(KEY, max_budget=0.0)
    again = keys.rate_limit(KEY, max_budget=0.0)
    assert (again.changed, again.detail) == (False, "already limited")
    assert len(proxy.writes()) == 1


def test_rate_limit_needs_a_limit(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    with pytest.raises(InvalidRequest):
        keys.rate_limit(KEY)
    assert proxy.requests == []


# --- the real client only: the proxy's errors ----------------------------------------------------------
def test_a_wrong_master_key_is_an_auth_error(proxy: LiteLLMProxy) -> None:
    wrong = "sk-wrong-master-key-5555"
    with pytest.raises(AuthError) as caught:
        LiteLLMKeys(settings_for(proxy, master_key=wrong)).block(KEY)
    assert caught.value.status == 401 and not caught.value.retryable
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert proxy.writes() == []


def test_an_unknown_key_is_not_found_and_nothing_is_written(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    with pytest.raises(NotFound) as caught:
        keys.block(UNKNOWN_KEY)
    assert caught.value.status == 404 and proxy.writes() == []


def test_the_block_routes_404_typed_bad_request_still_means_not_found(proxy: LiteLLMProxy) -> None:
    with pytest.raises(NotFound, match="bad_request_error"):
        _Http(settings_for(proxy)).post("/key/block", {"key": wire_key(UNKNOWN_KEY)})


def test_a_body_the_proxy_refuses_is_an_invalid_request_that_says_why(proxy: LiteLLMProxy) -> None:
    with pytest.raises(InvalidRequest, match=r"body\.key: Field required") as caught:
        _Http(settings_for(proxy)).post("/key/block", {})
    assert caught.value.status == 422


def test_a_url_that_is_not_the_proxy_base_is_a_config_error(proxy: LiteLLMProxy) -> None:
    settings = LiteLLMSettings(proxy_url=proxy.url + "/v9", master_key=SecretStr(MASTER_KEY))
    with pytest.raises(ConfigError) as caught:
        LiteLLMKeys(settings).info(KEY)
    assert caught.value.status == 404


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0), (None, 1.0)])
def test_429_is_rate_limited_with_the_proxys_retry_after(proxy: LiteLLMProxy, keys: LiteLLMKeys,
                                                         header: str | None, seconds: float) -> None:
    proxy.fail_next(429, retry_after=header)
    with pytest.raises(RateLimited) as caught:
        keys.block(KEY)
    assert caught.value.retry_after == seconds and caught.value.retryable
    assert proxy.writes() == []


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable(proxy: LiteLLMProxy, keys: LiteLLMKeys, status: int) -> None:
    proxy.fail_next(status)
    with pytest.raises(Unavailable) as caught:
        keys.block(KEY)
    assert caught.value.status == status and caught.value.retryable


def test_no_answer_in_time_is_unavailable(proxy: LiteLLMProxy) -> None:
    proxy.delay_next(1.0)
    with pytest.raises(Unavailable, match="no answer within"):
        LiteLLMKeys(settings_for(proxy, timeout=0.2)).info(KEY)


def test_an_unreachable_proxy_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LiteLLMSettings(proxy_url=f"http://127.0.0.1:{port}", master_key=SecretStr(MASTER_KEY))
    with pytest.raises(Unavailable, match="cannot reach the proxy"):
        LiteLLMKeys(settings).block(KEY)


def test_the_master_key_is_in_no_error_message_or_repr(proxy: LiteLLMProxy, keys: LiteLLMKeys,
                                                       users: LiteLLMUsers) -> None:
    http = _Http(settings_for(proxy))

    def rate_limited() -> object:
        proxy.fail_next(429, retry_after="3")
        return keys.block(KEY)

    def unavailable() -> object:
        proxy.fail_next(503)
        return users.suspend(USER)

    def timed_out() -> object:
        proxy.delay_next(0.6)
        return LiteLLMKeys(settings_for(proxy, timeout=0.2)).info(KEY)

    failures: list[ConnectorError] = []
    for attempt in (
        lambda: http.post("/key/block", {"key": MASTER_KEY}),  # the proxy echoes the key it did not find
        lambda: http.post("/key/block", {}),
        lambda: keys.info(UNKNOWN_KEY),
        rate_limited,
        unavailable,
        timed_out,
    ):
        with pytest.raises(ConnectorError) as caught:
            attempt()
        failures.append(caught.value)
    texts = [t for e in failures for t in (str(e), repr(e), str(e.__cause__), repr(e.__cause__))]
    texts += [repr(keys), repr(users), repr(http), repr(settings_for(proxy)), str(settings_for(proxy))]
    assert not [t for t in texts if MASTER_KEY in t]


# --- the real client only: end users --------------------------------------------------------------------
def test_unsuspend_clears_the_flag_with_customer_update_not_customer_unblock(proxy: LiteLLMProxy,
                                                                            users: LiteLLMUsers) -> None:
    users.suspend(USER)
    users.unsuspend(USER)
    assert [urlpath(s.target) for s in proxy.writes()] == ["/customer/block", "/customer/update"]
    assert proxy.customers[USER].blocked is False


def test_a_proxy_that_drops_blocked_false_is_a_conflict_not_a_silent_success(proxy: LiteLLMProxy,
                                                                            users: LiteLLMUsers) -> None:
    proxy.customer_update_drops_false = True
    users.suspend(USER)
    with pytest.raises(Conflict, match="34696"):
        users.unsuspend(USER)
    assert proxy.customers[USER].blocked is True


def test_a_block_answered_with_500_after_the_write_counts_as_done(proxy: LiteLLMProxy, users: LiteLLMUsers) -> None:
    proxy.customer_block_fails_after_write = True
    outcome = users.suspend(USER)
    assert outcome.changed and outcome.after["blocked"] is True and "39011" in outcome.detail


def test_an_end_user_the_proxy_never_saw_can_be_suspended(proxy: LiteLLMProxy, users: LiteLLMUsers) -> None:
    assert users.info("first-seen-today") == {"blocked": False, "exists": False}
    assert users.suspend("first-seen-today").changed
    assert proxy.customers["first-seen-today"].blocked is True


# --- settings -------------------------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("LITELLM_PROXY_URL", "LITELLM_MASTER_KEY", "LITELLM_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_with_nothing_set_mean_the_twin(clean_env: pytest.MonkeyPatch) -> None:
    settings = LiteLLMSettings()
    assert not settings.configured() and settings.missing() == []
    with pytest.raises(ConfigError, match="LITELLM_PROXY_URL"):
        LiteLLMKeys(settings)


@pytest.mark.parametrize(("name", "value", "absent"), [
    ("LITELLM_PROXY_URL", "http://proxy:4000", "LITELLM_MASTER_KEY"),
    ("LITELLM_MASTER_KEY", "sk-1234-abcd", "LITELLM_PROXY_URL"),
])
def test_half_set_settings_name_what_is_missing(clean_env: pytest.MonkeyPatch, name: str, value: str,
                                                absent: str) -> None:
    clean_env.setenv(name, value)
    settings = LiteLLMSettings()
    assert not settings.configured() and settings.missing() == [absent]


def test_full_settings_configure_the_client_and_hide_the_key(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LITELLM_PROXY_URL", "http://proxy:4000/")
    clean_env.setenv("LITELLM_MASTER_KEY", "sk-1234-abcd")
    clean_env.setenv("LITELLM_TIMEOUT", "3.5")
    settings = LiteLLMSettings()
    assert settings.configured() and settings.missing() == []
    assert (settings.proxy_url, settings.timeout) == ("http://proxy:4000", 3.5)
    assert "sk-1234-abcd" not in repr(settings)


def test_a_blank_master_key_is_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LITELLM_PROXY_URL", "http://proxy:4000")
    clean_env.setenv("LITELLM_MASTER_KEY", "  ")
    assert LiteLLMSettings().missing() == ["LITELLM_MASTER_KEY"]
