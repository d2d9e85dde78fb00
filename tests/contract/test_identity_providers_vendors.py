"""Contract tests, what only one identity provider's real client does: Okta's lifecycle rules and user ids,
Entra's token cache, replication lag and guest names; then both connectors' settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from irflow.connectors.entra.client import EntraUsers
from irflow.connectors.entra.settings import EntraSettings
from irflow.connectors.errors import AuthError, ConfigError, Conflict, InvalidRequest, Unavailable
from irflow.connectors.okta.client import OktaUsers, user_path
from irflow.connectors.okta.settings import OktaSettings
from tests.contract.entra_server import CLIENT_ID, CLIENT_SECRET, TENANT_ID, EntraTenant
from tests.contract.identity_rig import USER, entra_settings, okta_settings
from tests.contract.identity_rig import fixture_entra, fixture_okta  # noqa: F401 - fixtures, found by name
from tests.contract.okta_server import SUSPENDED, OktaOrg


# --- Okta only --------------------------------------------------------------------------------------------
def test_okta_refuses_to_suspend_a_user_who_is_not_active(okta: OktaOrg) -> None:
    with pytest.raises(Conflict, match="DEPROVISIONED"):
        OktaUsers(okta_settings(okta)).suspend("ursula@example.com")
    assert okta.writes() == []


def test_okta_unsuspending_a_deprovisioned_user_changes_nothing(okta: OktaOrg) -> None:
    outcome = OktaUsers(okta_settings(okta)).unsuspend("ursula@example.com")
    assert not outcome.changed and outcome.detail.startswith("already unsuspended") and okta.writes() == []


def test_okta_a_suspension_by_someone_else_meanwhile_is_already_suspended(okta: OktaOrg) -> None:
    okta.race_status = SUSPENDED  # another admin suspends between irflow's read and its write
    outcome = OktaUsers(okta_settings(okta)).suspend(USER)
    assert not outcome.changed and outcome.detail.startswith("already suspended")
    assert len(okta.writes()) == 1 and outcome.after["status"] == SUSPENDED


def test_okta_finds_users_by_id_login_or_shortname(okta: OktaOrg) -> None:
    users = OktaUsers(okta_settings(okta))
    assert users.info("00u1mallory0000000001")["login"] == USER
    assert users.info("mallory")["id"] == "00u1mallory0000000001"


def test_user_ids_from_alerts_stay_one_path_segment(okta: OktaOrg) -> None:
    assert user_path("a/b?c#d") == "/api/v1/users/a%2Fb%3Fc%23d"
    for hostile in ("..", ".", "", "x\r\nHost: evil"):
        with pytest.raises(InvalidRequest):
            OktaUsers(okta_settings(okta)).suspend(hostile)
    assert okta.requests == []


# --- Entra only: the token cache, replication, guests --------------------------------------------------
def test_entra_caches_the_token_across_calls(entra: EntraTenant) -> None:
    users = EntraUsers(entra_settings(entra))
    users.info(USER)
    users.suspend(USER)
    users.unsuspend(USER)
    users.revoke_sessions(USER)
    assert len(entra.token_requests()) == 1 and len(entra.requests) > 5


def test_entra_renews_the_token_before_it_expires(entra: EntraTenant) -> None:
    now = [1000.0]
    users = EntraUsers(entra_settings(entra), clock=lambda: now[0])
    users.info(USER)
    now[0] += 3000  # inside the lifetime (3599 s) less the five-minute margin
    users.info(USER)
    assert len(entra.token_requests()) == 1
    now[0] += 400
    users.info(USER)
    assert len(entra.token_requests()) == 2


def test_entra_replaces_a_token_microsoft_revoked_early(entra: EntraTenant) -> None:
    users = EntraUsers(entra_settings(entra))
    users.info(USER)
    entra.expire_tokens()
    assert users.suspend(USER).changed
    assert len(entra.token_requests()) == 2


def test_entra_a_token_rejected_twice_is_an_auth_error(entra: EntraTenant) -> None:
    entra.token_lifetime = 0  # every token Microsoft issues is already expired at Graph
    with pytest.raises(AuthError, match="InvalidAuthenticationToken"):
        EntraUsers(entra_settings(entra)).suspend(USER)
    assert len(entra.token_requests()) == 2 and entra.writes() == []


@pytest.mark.parametrize(("secret", "overrides", "status", "aadsts"), [
    ("wrong-secret", {}, 401, "AADSTS7000215"),
    (CLIENT_SECRET, {"client_id": "00000000-0000-0000-0000-000000000000"}, 400, "AADSTS700016"),
    (CLIENT_SECRET, {"tenant_id": "contoso.example"}, 400, "AADSTS90002"),
])
def test_entra_token_endpoint_refusals_are_auth_errors(entra: EntraTenant, secret: str, overrides: dict[str, str],
                                                       status: int, aadsts: str) -> None:
    with pytest.raises(AuthError, match=aadsts) as caught:
        EntraUsers(entra_settings(entra, secret, overrides=overrides)).info(USER)
    assert caught.value.status == status
    assert [s.path for s in entra.requests if "/oauth2/" not in s.path] == []


def test_entra_token_endpoint_outage_is_unavailable(entra: EntraTenant) -> None:
    entra.fail_next(503, target="token")
    with pytest.raises(Unavailable, match="AADSTS90033"):
        EntraUsers(entra_settings(entra)).info(USER)


def test_entra_waits_for_directory_replication_after_a_write(entra: EntraTenant) -> None:
    entra.stale_reads = 2
    assert EntraUsers(entra_settings(entra), settle_delay=0).suspend(USER).after["blocked"] is True
    entra.stale_reads = 5
    with pytest.raises(Conflict, match="still disabled"):
        EntraUsers(entra_settings(entra), settle_delay=0, settle_reads=3).unsuspend(USER)


def test_entra_reads_account_enabled_with_select(entra: EntraTenant) -> None:
    EntraUsers(entra_settings(entra)).info(USER)
    (read,) = [s for s in entra.requests if s.method == "GET"]
    assert read.target.endswith("?$select=id,userPrincipalName,accountEnabled")


def test_entra_guest_principal_names_are_encoded(entra: EntraTenant) -> None:
    guest = "mallory_example.com#EXT#@contoso.onmicrosoft.com"
    entra.add_user(guest)
    assert EntraUsers(entra_settings(entra)).suspend(guest).changed
    assert entra.writes()[0].path == "/v1.0/users/mallory_example.com%23EXT%23@contoso.onmicrosoft.com"


# --- settings ---------------------------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OKTA_ORG_URL", "OKTA_API_TOKEN", "OKTA_TIMEOUT", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
                 "AZURE_CLIENT_SECRET", "IRFLOW_ENTRA_LOGIN_URL", "IRFLOW_ENTRA_GRAPH_URL", "IRFLOW_ENTRA_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_with_nothing_set_mean_the_twin(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IRFLOW_ENTRA_GRAPH_URL", "https://graph.microsoft.us/v1.0")  # an override alone is not config
    for settings in (OktaSettings(), EntraSettings()):
        assert not settings.configured() and settings.missing() == []
    with pytest.raises(ConfigError, match="OKTA_ORG_URL"):
        OktaUsers(OktaSettings())
    with pytest.raises(ConfigError, match="AZURE_TENANT_ID"):
        EntraUsers(EntraSettings())


@pytest.mark.parametrize(("env", "absent"), [
    ({"OKTA_ORG_URL": "https://acme.okta.com"}, ["OKTA_API_TOKEN"]),
    ({"OKTA_API_TOKEN": "00abc"}, ["OKTA_ORG_URL"]),
    ({"AZURE_TENANT_ID": TENANT_ID}, ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"]),
    ({"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": "s3cret"}, ["AZURE_TENANT_ID"]),
])
def test_half_set_settings_name_what_is_missing(clean_env: pytest.MonkeyPatch, env: dict[str, str],
                                                absent: list[str]) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    settings = OktaSettings() if absent[0].startswith("OKTA") else EntraSettings()
    assert not settings.configured() and settings.missing() == absent


def test_full_settings_configure_the_clients_and_hide_secrets(clean_env: pytest.MonkeyPatch) -> None:
    env = {"OKTA_ORG_URL": "https://acme.okta.com/", "OKTA_API_TOKEN": "SSWS 00tok-abc", "OKTA_TIMEOUT": "4",
           "AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": "s3cret~value",
           "IRFLOW_ENTRA_LOGIN_URL": "https://login.microsoftonline.us/"}
    for name, value in env.items():
        clean_env.setenv(name, value)
    okta, entra = OktaSettings(), EntraSettings()
    assert okta.configured() and entra.configured()
    assert okta.api_token is not None and okta.api_token.get_secret_value() == "00tok-abc"
    assert (okta.org_url, okta.timeout, entra.login_url) == ("https://acme.okta.com", 4, "https://login.microsoftonline.us")
    assert entra.graph_url == "https://graph.microsoft.com/v1.0"
    assert "00tok-abc" not in repr(okta) and "s3cret~value" not in repr(entra)


def test_a_tenant_id_that_is_not_one_path_segment_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AZURE_TENANT_ID", "common/../evil")
    with pytest.raises(ValidationError):
        EntraSettings()
