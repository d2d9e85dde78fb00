"""Contract tests: the LiteLLM connectors and the embedded twin keep the same promises through the Protocols.

One suite each for KeyRevoker (with key regeneration), UserBlocker and TeamBlocker, run against the real
client (over real HTTP to the loopback proxy in litellm_server.py) and against the local twin, checked at
the target: would the gateway let the key or the team through? Then what only the real client has: rate
limits, the proxy's errors, keeping secrets off the wire and out of messages, and proof that the loopback
itself answers wrong paths, methods and bodies the way the proxy does.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import select

from irflow import actions
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
from irflow.connectors.gateway.interface import KeyRevoker, TeamBlocker, UserBlocker
from irflow.connectors.gateway.local import LocalGateway
from irflow.connectors.litellm.client import LiteLLMKeys, LiteLLMTeams, LiteLLMUsers, wire_key
from irflow.connectors.litellm.proxy import ProxyApi as _Http
from irflow.connectors.litellm.settings import LiteLLMSettings
from irflow.store.engine import Database
from irflow.store.tables import GatewayBlockRow
from irflow.systems import build as build_systems
from tests.contract.litellm_server import MASTER_KEY, UNBLOCK_WITHOUT_ENTERPRISE, LiteLLMProxy

KEY = "sk-live-attacker-key-9Zq1"
UNKNOWN_KEY = "sk-never-issued-0000"
USER = "end-user-4711"
TEAM = "team-ai"


@dataclass
class Rig:
    """One target behind the Protocols, a view of everything it has written, and the target's own verdict."""

    keys: KeyRevoker
    users: UserBlocker
    teams: TeamBlocker
    writes: Callable[[], object]
    admits_key: Callable[[str], bool]
    admits_team: Callable[[str], bool]


def settings_for(proxy: LiteLLMProxy, master_key: str = MASTER_KEY, timeout: float = 2.0) -> LiteLLMSettings:
    return LiteLLMSettings(proxy_url=proxy.url, master_key=SecretStr(master_key), timeout=timeout)


@pytest.fixture
def proxy() -> Iterator[LiteLLMProxy]:
    with LiteLLMProxy() as running:
        running.add_key(KEY, key_alias="chatbot-prod", user_id="svc-chatbot", team_id="team-ai", spend=1.5,
                        max_budget=50.0, rpm_limit=100)
        running.add_customer(USER, alias="customer 4711")
        running.add_team(TEAM, team_alias="AI platform", max_budget=500.0)
        yield running


@pytest.fixture
def keys(proxy: LiteLLMProxy) -> LiteLLMKeys:
    return LiteLLMKeys(settings_for(proxy))


@pytest.fixture
def users(proxy: LiteLLMProxy) -> LiteLLMUsers:
    return LiteLLMUsers(settings_for(proxy))


@pytest.fixture
def teams(proxy: LiteLLMProxy) -> LiteLLMTeams:
    return LiteLLMTeams(settings_for(proxy))


def team_admitted(proxy: LiteLLMProxy, team: str) -> bool:
    """At the proxy: do the team's keys still authenticate? (The fixture's team has one.)"""
    tokens = [token for token, row in proxy.keys.items() if row.team_id == team]
    assert tokens, f"no key of {team} to try"
    return all(proxy.authenticates(token) for token in tokens)


@pytest.fixture(params=["litellm", "local"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "litellm":
        proxy: LiteLLMProxy = request.getfixturevalue("proxy")
        settings = settings_for(proxy)
        yield Rig(LiteLLMKeys(settings), LiteLLMUsers(settings), LiteLLMTeams(settings), lambda: tuple(proxy.writes()),
                  proxy.authenticates, lambda team: team_admitted(proxy, team))
        return
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    gateway = LocalGateway(db)

    def rows() -> object:
        with db.tx() as s:
            return tuple((r.kind, r.value, r.blocked, r.reason) for r in s.scalars(select(GatewayBlockRow)))

    yield Rig(gateway.keys, gateway.users, gateway.teams, rows, lambda key: gateway.check(key=key).allowed,
              lambda team: gateway.check(team=team).allowed)
    db.dispose()


# --- KeyRevoker contract: real client and twin ----------------------------------------------------------
def test_both_satisfy_the_protocols(rig: Rig) -> None:
    assert isinstance(rig.keys, KeyRevoker) and isinstance(rig.users, UserBlocker)
    assert isinstance(rig.teams, TeamBlocker) and callable(getattr(rig.keys, "regenerate", None))


def test_block_then_unblock_restores_the_key(rig: Rig) -> None:
    assert rig.keys.info(KEY)["blocked"] is False
    done = rig.keys.block(KEY)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.keys.info(KEY)["blocked"] is True
    undone = rig.keys.unblock(KEY)
    assert undone.changed and undone.after["blocked"] is False
    assert rig.keys.info(KEY)["blocked"] is False


def test_blocking_twice_is_idempotent(rig: Rig) -> None:
    rig.keys.block(KEY)
    written = rig.writes()
    again = rig.keys.block(KEY)
    assert (again.changed, again.detail) == (False, "already blocked")
    assert rig.writes() == written


def test_unblocking_an_unblocked_key_changes_nothing(rig: Rig) -> None:
    outcome = rig.keys.unblock(KEY)
    assert (outcome.changed, outcome.detail) == (False, "already unblocked")


@pytest.mark.parametrize("operation", ["block", "unblock", "delete"])
def test_dry_run_makes_no_write(rig: Rig, operation: str) -> None:
    if operation == "unblock":
        rig.keys.block(KEY)
    state, written = rig.keys.info(KEY), rig.writes()
    planned = getattr(rig.keys, operation)(KEY, dry_run=True)
    assert planned.dry_run and not planned.changed
    assert rig.writes() == written
    assert rig.keys.info(KEY) == state


def test_deleting_twice_is_idempotent(rig: Rig) -> None:
    assert rig.keys.delete(KEY).changed
    again = rig.keys.delete(KEY)
    assert (again.changed, again.detail) == (False, "already deleted")


# --- key regeneration: real client and twin -------------------------------------------------------------
def test_regenerate_refuses_the_old_key_and_issues_one_that_works(rig: Rig) -> None:
    assert rig.admits_key(KEY)
    done = rig.keys.regenerate(KEY)  # type: ignore[attr-defined]
    new = done.after["replaced_by"]
    assert done.changed and isinstance(new, str) and new.startswith("sk-") and new != KEY
    assert not rig.admits_key(KEY) and rig.admits_key(new)


def test_the_replacement_keeps_the_keys_limits(rig: Rig) -> None:
    rig.keys.rate_limit(KEY, rpm_limit=1)  # type: ignore[attr-defined]
    new = rig.keys.regenerate(KEY).after["replaced_by"]  # type: ignore[attr-defined]
    assert rig.keys.info(new)["rpm_limit"] == 1


def test_regenerating_twice_changes_nothing(rig: Rig) -> None:
    rig.keys.regenerate(KEY)  # type: ignore[attr-defined]
    written = rig.writes()
    again = rig.keys.regenerate(KEY)  # type: ignore[attr-defined]
    assert (again.changed, again.detail) == (False, "already regenerated or deleted")
    assert "replaced_by" not in again.after and rig.writes() == written


def test_regenerate_dry_run_makes_no_write(rig: Rig) -> None:
    state, written = rig.keys.info(KEY), rig.writes()
    planned = rig.keys.regenerate(KEY, dry_run=True)  # type: ignore[attr-defined]
    assert planned.dry_run and not planned.changed and "replaced_by" not in planned.after
    assert rig.writes() == written and rig.keys.info(KEY) == state and rig.admits_key(KEY)


def test_the_new_key_is_in_no_repr(rig: Rig) -> None:
    done = rig.keys.regenerate(KEY)  # type: ignore[attr-defined]
    new = done.after["replaced_by"]
    assert new not in repr(done) and new not in repr(done.after) and new not in repr(rig.keys)
    assert repr(new) == f"'...{new[-4:]}'" and json.loads(json.dumps(done.after))["replaced_by"] == new


# --- TeamBlocker contract: real client and twin ---------------------------------------------------------
def test_block_then_unblock_restores_the_team(rig: Rig) -> None:
    assert rig.teams.info(TEAM)["blocked"] is False and rig.admits_team(TEAM)
    done = rig.teams.block(TEAM)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.teams.info(TEAM)["blocked"] is True and not rig.admits_team(TEAM)
    undone = rig.teams.unblock(TEAM)
    assert undone.changed and undone.after["blocked"] is False
    assert rig.teams.info(TEAM)["blocked"] is False and rig.admits_team(TEAM)


def test_blocking_a_team_twice_is_idempotent(rig: Rig) -> None:
    rig.teams.block(TEAM)
    written = rig.writes()
    again = rig.teams.block(TEAM)
    assert (again.changed, again.detail) == (False, "already blocked")
    assert rig.writes() == written
    assert rig.teams.unblock(TEAM).changed
    assert rig.teams.unblock(TEAM).detail == "already unblocked"


@pytest.mark.parametrize("operation", ["block", "unblock"])
def test_team_dry_runs_make_no_write(rig: Rig, operation: str) -> None:
    if operation == "unblock":
        rig.teams.block(TEAM)
    state, written = rig.teams.info(TEAM), rig.writes()
    planned = getattr(rig.teams, operation)(TEAM, dry_run=True)
    assert planned.dry_run and not planned.changed
    assert rig.writes() == written and rig.teams.info(TEAM) == state


# --- UserBlocker contract: real client and twin ---------------------------------------------------------
def test_suspend_then_unsuspend_restores_the_end_user(rig: Rig) -> None:
    done = rig.users.suspend(USER)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.users.info(USER)["blocked"] is True
    undone = rig.users.unsuspend(USER)
    assert undone.changed and undone.after["blocked"] is False
    assert rig.users.info(USER)["blocked"] is False


def test_suspending_twice_is_idempotent(rig: Rig) -> None:
    rig.users.suspend(USER)
    written = rig.writes()
    again = rig.users.suspend(USER)
    assert (again.changed, again.detail) == (False, "already suspended")
    assert rig.writes() == written


@pytest.mark.parametrize("operation", ["suspend", "unsuspend", "revoke_sessions"])
def test_user_dry_runs_and_session_revocation_make_no_write(rig: Rig, operation: str) -> None:
    if operation == "unsuspend":
        rig.users.suspend(USER)
    state, written = rig.users.info(USER), rig.writes()
    outcome = getattr(rig.users, operation)(USER, dry_run=True)
    assert outcome.dry_run and not outcome.changed
    assert rig.writes() == written and rig.users.info(USER) == state


def test_revoke_sessions_says_why_it_does_nothing(rig: Rig) -> None:
    outcome = rig.users.revoke_sessions(USER)
    assert not outcome.changed and "session" in outcome.detail


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


# --- the real client only: regeneration and teams -------------------------------------------------------
def test_regenerate_sends_only_hashes_and_stops_the_old_key_despite_a_proxy_grace_period(
        proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    proxy.rotation_grace_period = "24h"  # LITELLM_KEY_ROTATION_GRACE_PERIOD on the proxy
    new = keys.regenerate(KEY).after["replaced_by"]
    [write] = proxy.writes()
    assert urlpath(write.target) == f"/key/{wire_key(KEY)}/regenerate"
    assert json.loads(write.body) == {"grace_period": "0s"}
    assert all(secret not in s.target + s.body for s in proxy.requests for secret in (KEY, new, MASTER_KEY))
    assert proxy.deprecated == {} and not proxy.authenticates(KEY) and proxy.authenticates(new)


def test_without_our_grace_period_the_proxy_would_keep_the_leaked_key(proxy: LiteLLMProxy) -> None:
    proxy.rotation_grace_period = "24h"
    answer = call(proxy, "POST", f"/key/{KEY}/regenerate")
    assert answer.status_code == 200 and proxy.authenticates(KEY) and proxy.authenticates(answer.json()["key"])


def test_a_dry_run_regeneration_plans_with_the_key_redacted(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    planned = keys.regenerate(KEY, dry_run=True)
    assert planned.call.request == {"method": "POST", "path": "/key/{key}/regenerate",
                                    "body": {"key": "...9Zq1", "grace_period": "0s"}}
    assert KEY not in repr(planned) and proxy.requests == []


def test_the_community_edition_refuses_regeneration_and_nothing_changes(proxy: LiteLLMProxy,
                                                                       keys: LiteLLMKeys) -> None:
    proxy.premium_user = False
    with pytest.raises(Unavailable, match="Enterprise feature") as caught:
        keys.regenerate(KEY)
    assert caught.value.status == 500 and proxy.authenticates(KEY)


def test_a_lost_regeneration_answer_counts_as_done_without_the_secret(proxy: LiteLLMProxy,
                                                                      keys: LiteLLMKeys) -> None:
    proxy.lose_next_answer()
    outcome = keys.regenerate(KEY)
    assert outcome.changed and outcome.after == {"exists": False, "replaced_by": None}
    assert "38351" in outcome.detail and not proxy.authenticates(KEY)
    assert keys.regenerate(KEY).detail == "already regenerated or deleted"


def test_a_failed_regeneration_that_did_not_land_is_retried(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    proxy.fail_next(503)
    with pytest.raises(Unavailable):
        keys.regenerate(KEY)
    assert proxy.authenticates(KEY) and keys.regenerate(KEY).changed


def test_the_new_key_is_in_no_error_message(proxy: LiteLLMProxy, keys: LiteLLMKeys) -> None:
    new = keys.regenerate(KEY).after["replaced_by"]

    def rate_limited() -> object:
        proxy.fail_next(429, retry_after="3")
        return keys.block(new)

    def regenerate_again_without_a_license() -> object:
        proxy.premium_user = False
        return keys.regenerate(new)

    def gone() -> object:
        proxy.keys.pop(wire_key(new))
        return keys.block(new)

    failures: list[ConnectorError] = []
    for attempt in (rate_limited, regenerate_again_without_a_license, gone, lambda: keys.info(new),
                    lambda: keys.rate_limit(new, rpm_limit=1)):
        with pytest.raises(ConnectorError) as caught:
            attempt()
        failures.append(caught.value)
    texts = [t for e in failures for t in (str(e), repr(e), str(e.__cause__), repr(e.__cause__))]
    assert not [t for t in texts if new in t]
    assert all(new not in s.target + s.body for s in proxy.requests)


def test_an_unknown_team_is_not_found_and_nothing_is_written(proxy: LiteLLMProxy, teams: LiteLLMTeams) -> None:
    with pytest.raises(NotFound) as caught:
        teams.block("team-nobody")
    assert caught.value.status == 404 and proxy.writes() == []
    with pytest.raises(NotFound):
        _Http(settings_for(proxy)).post("/team/block", {"team_id": "team-nobody"})


def test_a_team_block_says_the_proxy_may_serve_a_stale_cache(proxy: LiteLLMProxy, teams: LiteLLMTeams) -> None:
    planned = teams.block(TEAM, dry_run=True)
    assert planned.call.request == {"method": "POST", "path": "/team/block", "body": {"team_id": TEAM}}
    assert proxy.requests == [] and "35565" in teams.block(TEAM).detail


def test_a_proxy_that_ignores_team_block_is_a_conflict(proxy: LiteLLMProxy, teams: LiteLLMTeams,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(proxy._routes, "/team/block", {"POST": lambda _q, _b: (200, {}, {})})
    with pytest.raises(Conflict, match="the team is not blocked"):
        teams.block(TEAM)


def test_a_connector_without_regenerate_fails_typed_at_the_executor(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    systems = build_systems(db)
    systems.keys["plain"] = systems.gateway.users  # type: ignore[assignment]  # a connector without `regenerate`
    with pytest.raises(ConfigError, match="plain cannot regenerate keys") as caught:
        actions.get("keys.regenerate").run(systems, "plain", {"key": KEY}, False)
    assert caught.value.system == "plain"
    outcome = actions.get("keys.regenerate").run(systems, "local", {"key": KEY}, False)
    assert outcome.changed and not systems.gateway.check(key=KEY).allowed
    db.dispose()


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


# --- the loopback answers like the proxy ----------------------------------------------------------------
def urlpath(target: str) -> str:
    return target.split("?", 1)[0]


def call(proxy: LiteLLMProxy, method: str, path: str, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    return requests.request(method, proxy.url + path, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_loopback_unknown_path_is_starlettes_404(proxy: LiteLLMProxy) -> None:
    answer = call(proxy, "POST", "/key/blockk", json={"key": KEY})
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})


@pytest.mark.parametrize(("method", "path", "allow"), [("GET", "/key/block", "POST"),
                                                       ("POST", "/key/info", "GET, HEAD"),
                                                       ("GET", "/key/sk-x/regenerate", "POST"),
                                                       ("GET", "/team/block", "POST"),
                                                       ("POST", "/team/info", "GET, HEAD")])
def test_loopback_wrong_method_is_405(proxy: LiteLLMProxy, method: str, path: str, allow: str) -> None:
    answer = call(proxy, method, path)
    assert (answer.status_code, answer.json()) == (405, {"detail": "Method Not Allowed"})
    assert answer.headers["Allow"] == allow


@pytest.mark.parametrize(("method", "path", "body", "loc", "kind"), [
    ("POST", "/key/block", {}, ["body", "key"], "missing"),
    ("POST", "/key/block", {"key": 7}, ["body", "key"], "string_type"),
    ("POST", "/customer/block", {"user_ids": USER}, ["body", "user_ids"], "list_type"),
    ("POST", "/key/delete", {"keys": []}, ["body"], "value_error"),
    ("GET", "/customer/info", None, ["query", "end_user_id"], "missing"),
    ("POST", "/team/block", {}, ["body", "team_id"], "missing"),
    ("POST", "/team/unblock", {"team_id": 7}, ["body", "team_id"], "string_type"),
    ("POST", "/key/regenerate", {"key": 7}, ["body", "key"], "string_type"),
    ("POST", "/key/sk-x/regenerate", ["sk-x"], ["body"], "model_attributes_type"),
])
def test_loopback_wrong_body_is_fastapis_422(proxy: LiteLLMProxy, method: str, path: str, body: object,
                                             loc: list[str], kind: str) -> None:
    answer = call(proxy, method, path, json=body)
    assert answer.status_code == 422
    first = answer.json()["detail"][0]
    assert (first["loc"], first["type"]) == (loc, kind) and "msg" in first


def test_loopback_checks_the_master_key_before_the_body(proxy: LiteLLMProxy) -> None:
    answer = requests.post(proxy.url + "/key/block", json={}, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"] == {"message": "Authentication Error, No api key passed in.",
                                      "type": "auth_error", "param": "None", "code": "401"}


def test_loopback_unknown_key_and_unblock_answers_are_the_proxys(proxy: LiteLLMProxy) -> None:
    missing = call(proxy, "GET", "/key/info", params={"key": UNKNOWN_KEY})
    assert missing.status_code == 404
    assert missing.json() == {"error": {"message": "Key not found in database", "type": "not_found_error",
                                        "param": "key", "code": "404"}}
    unblock = call(proxy, "POST", "/customer/unblock", json={"user_ids": [USER]})
    assert (unblock.status_code, unblock.json()) == (400, {"detail": {"error": UNBLOCK_WITHOUT_ENTERPRISE}})


def test_loopback_regenerate_answers_are_the_proxys(proxy: LiteLLMProxy) -> None:
    nothing = call(proxy, "POST", "/key/regenerate")
    assert (nothing.status_code, nothing.json()["error"]["message"]) == (400, "{'error': 'No key passed in.'}")
    unknown = call(proxy, "POST", f"/key/{wire_key(UNKNOWN_KEY)}/regenerate")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "internal_server_error"
    bad = call(proxy, "POST", "/key/regenerate", json={"key": KEY, "new_key": "not-sk"})
    assert bad.status_code == 400 and proxy.authenticates(KEY)
    done = call(proxy, "POST", "/key/regenerate", params={"key": KEY}, json={"new_key": "sk-chosen-by-admin-0001"})
    assert done.status_code == 200
    assert {k: done.json()[k] for k in ("key", "key_name", "key_alias", "token_id")} == {
        "key": "sk-chosen-by-admin-0001", "key_name": "sk-...0001", "key_alias": "chatbot-prod",
        "token_id": wire_key("sk-chosen-by-admin-0001")}


def test_loopback_team_answers_are_the_proxys(proxy: LiteLLMProxy) -> None:
    missing = call(proxy, "GET", "/team/info")
    assert missing.status_code == 422 and missing.json()["error"]["type"] == "auth_error"
    unknown = call(proxy, "GET", "/team/info", params={"team_id": "team-nobody"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {"message": "{'message': 'Team not found, passed team id: team-nobody.'}",
                                       "type": "auth_error", "param": "None", "code": "404"}
    block = call(proxy, "POST", "/team/block", json={"team_id": "team-nobody"})
    assert block.status_code == 404
    assert block.json() == {"detail": {"error": "Team not found, passed team_id=team-nobody"}}
    info = call(proxy, "GET", "/team/info", params={"team_id": TEAM}).json()
    assert info["team_info"]["blocked"] is False and [k["key_alias"] for k in info["keys"]] == ["chatbot-prod"]
    assert requests.post(proxy.url + "/team/block", json={}, timeout=5).status_code == 401
