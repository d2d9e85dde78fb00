"""Contract tests, the real LiteLLM client only: key regeneration (only hashes on the wire, no grace period for
the leaked key, the Enterprise refusal, lost and failed answers), team blocks, and the executor's typed refusal
of a connector that cannot regenerate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irflow import actions
from irflow.connectors.errors import ConfigError, Conflict, ConnectorError, NotFound, Unavailable
from irflow.connectors.litellm.client import LiteLLMKeys, LiteLLMTeams, wire_key
from irflow.connectors.litellm.proxy import ProxyApi as _Http
from irflow.store.engine import Database
from irflow.systems import build as build_systems
from tests.contract.litellm_rig import KEY, TEAM, call, settings_for, urlpath
from tests.contract.litellm_rig import (  # noqa: F401 - fixtures, found by name
    fixture_keys,
    fixture_proxy,
    fixture_teams,
)
from tests.contract.litellm_server import MASTER_KEY, LiteLLMProxy


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
