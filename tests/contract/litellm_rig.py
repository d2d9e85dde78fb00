"""What the LiteLLM contract tests share: the attacker's key, end user and team, the loopback proxy with the
real clients on it, the rig that runs the KeyRevoker, UserBlocker and TeamBlocker suites against the proxy and
the twin, and raw calls for checking the loopback itself. The fixtures are defined as fixture_<name>, so a test
module imports them without its parameters shadowing the import."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from irflow.connectors.gateway.interface import KeyRevoker, TeamBlocker, UserBlocker
from irflow.connectors.litellm.client import LiteLLMKeys, LiteLLMTeams, LiteLLMUsers
from irflow.connectors.litellm.settings import LiteLLMSettings
from tests.contract.gateway_twin import local_gateway
from tests.contract.litellm_server import MASTER_KEY, LiteLLMProxy

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


@pytest.fixture(name="proxy")
def fixture_proxy() -> Iterator[LiteLLMProxy]:
    with LiteLLMProxy() as running:
        running.add_key(KEY, key_alias="chatbot-prod", user_id="svc-chatbot", team_id="team-ai", spend=1.5,
                        max_budget=50.0, rpm_limit=100)
        running.add_customer(USER, alias="customer 4711")
        running.add_team(TEAM, team_alias="AI platform", max_budget=500.0)
        yield running


@pytest.fixture(name="keys")
def fixture_keys(proxy: LiteLLMProxy) -> LiteLLMKeys:
    return LiteLLMKeys(settings_for(proxy))


@pytest.fixture(name="users")
def fixture_users(proxy: LiteLLMProxy) -> LiteLLMUsers:
    return LiteLLMUsers(settings_for(proxy))


@pytest.fixture(name="teams")
def fixture_teams(proxy: LiteLLMProxy) -> LiteLLMTeams:
    return LiteLLMTeams(settings_for(proxy))


def team_admitted(proxy: LiteLLMProxy, team: str) -> bool:
    """At the proxy: do the team's keys still authenticate? (The fixture's team has one.)"""
    tokens = [token for token, row in proxy.keys.items() if row.team_id == team]
    assert tokens, f"no key of {team} to try"
    return all(proxy.authenticates(token) for token in tokens)


@pytest.fixture(name="rig", params=["litellm", "local"])
def fixture_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "litellm":
        proxy: LiteLLMProxy = request.getfixturevalue("proxy")
        settings = settings_for(proxy)
        yield Rig(LiteLLMKeys(settings), LiteLLMUsers(settings), LiteLLMTeams(settings), lambda: tuple(proxy.writes()),
                  proxy.authenticates, lambda team: team_admitted(proxy, team))
        return
    with local_gateway(tmp_path) as (gateway, rows):
        yield Rig(gateway.keys, gateway.users, gateway.teams, rows, lambda key: gateway.check(key=key).allowed,
                  lambda team: gateway.check(team=team).allowed)


def urlpath(target: str) -> str:
    return target.split("?", 1)[0]


def call(proxy: LiteLLMProxy, method: str, path: str, **kwargs: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    return requests.request(method, proxy.url + path, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]
