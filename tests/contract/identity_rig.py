"""What the identity-provider contract tests share: the user, the loopback Okta org and Entra tenant, the
UserBlocker rig (Okta, Entra and the twin) and the rig of real clients only. The fixtures are defined as
fixture_<name>, so a test module imports them without its parameters shadowing the import."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from irflow.connectors.entra.client import EntraUsers
from irflow.connectors.entra.settings import EntraSettings
from irflow.connectors.gateway.interface import UserBlocker
from irflow.connectors.okta.client import OktaUsers
from irflow.connectors.okta.settings import OktaSettings
from tests.contract.entra_server import CLIENT_ID, CLIENT_SECRET, TENANT_ID, EntraTenant
from tests.contract.gateway_twin import local_gateway
from tests.contract.okta_server import API_TOKEN, SUSPENDED, OktaOrg

USER = "mallory@example.com"
UNKNOWN = "nobody@example.com"


def okta_settings(org: OktaOrg, token: str = API_TOKEN, timeout: float = 2.0) -> OktaSettings:
    return OktaSettings(org_url=org.url, api_token=SecretStr(token), timeout=timeout)


def entra_settings(tenant: EntraTenant, secret: str = CLIENT_SECRET, timeout: float = 2.0,
                   overrides: dict[str, str] | None = None) -> EntraSettings:
    fields = {"tenant_id": TENANT_ID, "client_id": CLIENT_ID, "login_url": tenant.url,
              "graph_url": tenant.graph_url, **(overrides or {})}
    return EntraSettings(client_secret=SecretStr(secret), timeout=timeout, **fields)


@pytest.fixture(name="okta")
def fixture_okta() -> Iterator[OktaOrg]:
    with OktaOrg() as org:
        org.add_user(USER, id="00u1mallory0000000001")
        org.add_user("ursula@example.com", status="DEPROVISIONED")
        yield org


@pytest.fixture(name="entra")
def fixture_entra() -> Iterator[EntraTenant]:
    with EntraTenant() as tenant:
        tenant.add_user(USER, id="0b6f2c1e-7a4d-4f3b-9e8a-1c2d3e4f5a6b")
        yield tenant


@dataclass
class Rig:
    """One target behind the Protocol, its state read directly at the target, and everything it wrote."""

    users: UserBlocker
    blocked: Callable[[], bool]
    writes: Callable[[], object]


@pytest.fixture(name="rig", params=["okta", "entra", "local"])
def fixture_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "okta":
        org: OktaOrg = request.getfixturevalue("okta")
        yield Rig(OktaUsers(okta_settings(org)), lambda: org.users["00u1mallory0000000001"].status == SUSPENDED,
                  lambda: tuple(org.writes()))
        return
    if request.param == "entra":
        tenant: EntraTenant = request.getfixturevalue("entra")
        target = tenant.user(USER)
        assert target is not None
        yield Rig(EntraUsers(entra_settings(tenant), settle_delay=0), lambda: not target.account_enabled,
                  lambda: tuple(tenant.writes()))
        return
    with local_gateway(tmp_path) as (gateway, rows):
        yield Rig(gateway.users, lambda: not gateway.check(user=USER).allowed, rows)


@dataclass
class Real:
    """A real client over HTTP, its loopback, and how to build another client against it."""

    name: str
    users: UserBlocker
    server: OktaOrg | EntraTenant
    make: Callable[..., UserBlocker]
    secrets: Callable[[], list[str]]


@pytest.fixture(name="real", params=["okta", "entra"])
def fixture_real(request: pytest.FixtureRequest) -> Real:
    if request.param == "okta":
        org: OktaOrg = request.getfixturevalue("okta")

        def okta_client(secret: str = API_TOKEN, timeout: float = 2.0) -> UserBlocker:
            return OktaUsers(okta_settings(org, secret, timeout))

        return Real("okta", okta_client(), org, okta_client, lambda: [API_TOKEN])
    tenant: EntraTenant = request.getfixturevalue("entra")

    def entra_client(secret: str = CLIENT_SECRET, timeout: float = 2.0) -> UserBlocker:
        return EntraUsers(entra_settings(tenant, secret, timeout), settle_delay=0)

    return Real("entra", entra_client(), tenant, entra_client, lambda: [CLIENT_SECRET, *tenant.tokens])
