"""Contract tests: the identity-provider connectors (Okta, Entra ID) and the embedded twin keep the same
UserBlocker promises.

One suite runs against OktaUsers and EntraUsers over real HTTP to the loopbacks in okta_server.py and
entra_server.py, and against the local twin, checking state at the target itself, not through the client.
Then what only the real clients have: the vendors' errors, rate limits, outages, the Entra token cache,
keeping secrets off the wire and out of messages, and proof that each loopback refuses wrong paths,
methods and bodies the way the vendor does.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from irflow.connectors.entra.client import EntraUsers
from irflow.connectors.entra.settings import EntraSettings
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
from irflow.connectors.gateway.interface import UserBlocker
from irflow.connectors.gateway.local import LocalGateway
from irflow.connectors.okta.client import OktaUsers, user_path
from irflow.connectors.okta.settings import OktaSettings
from irflow.store.engine import Database
from irflow.store.tables import GatewayBlockRow
from tests.contract.entra_server import CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, TENANT_ID, EntraTenant
from tests.contract.okta_server import ACTIVE, API_TOKEN, SUSPENDED, OktaOrg

USER = "mallory@example.com"
UNKNOWN = "nobody@example.com"


def okta_settings(org: OktaOrg, token: str = API_TOKEN, timeout: float = 2.0) -> OktaSettings:
    return OktaSettings(org_url=org.url, api_token=SecretStr(token), timeout=timeout)


def entra_settings(tenant: EntraTenant, secret: str = CLIENT_SECRET, timeout: float = 2.0,
                   overrides: dict[str, str] | None = None) -> EntraSettings:
    fields = {"tenant_id": TENANT_ID, "client_id": CLIENT_ID, "login_url": tenant.url,
              "graph_url": tenant.graph_url, **(overrides or {})}
    return EntraSettings(client_secret=SecretStr(secret), timeout=timeout, **fields)


@pytest.fixture
def okta() -> Iterator[OktaOrg]:
    with OktaOrg() as org:
        org.add_user(USER, id="00u1mallory0000000001")
        org.add_user("ursula@example.com", status="DEPROVISIONED")
        yield org


@pytest.fixture
def entra() -> Iterator[EntraTenant]:
    with EntraTenant() as tenant:
        tenant.add_user(USER, id="0b6f2c1e-7a4d-4f3b-9e8a-1c2d3e4f5a6b")
        yield tenant


@dataclass
class Rig:
    """One target behind the Protocol, its state read directly at the target, and everything it wrote."""

    users: UserBlocker
    blocked: Callable[[], bool]
    writes: Callable[[], object]


@pytest.fixture(params=["okta", "entra", "local"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
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
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    gateway = LocalGateway(db)

    def rows() -> object:
        with db.tx() as s:
            return tuple((r.kind, r.value, r.blocked, r.reason) for r in s.scalars(select(GatewayBlockRow)))

    yield Rig(gateway.users, lambda: not gateway.check(user=USER).allowed, rows)
    db.dispose()


@dataclass
class Real:
    """A real client over HTTP, its loopback, and how to build another client against it."""

    name: str
    users: UserBlocker
    server: OktaOrg | EntraTenant
    make: Callable[..., UserBlocker]
    secrets: Callable[[], list[str]]


@pytest.fixture(params=["okta", "entra"])
def real(request: pytest.FixtureRequest) -> Real:
    if request.param == "okta":
        org: OktaOrg = request.getfixturevalue("okta")

        def okta_client(secret: str = API_TOKEN, timeout: float = 2.0) -> UserBlocker:
            return OktaUsers(okta_settings(org, secret, timeout))

        return Real("okta", okta_client(), org, okta_client, lambda: [API_TOKEN])
    tenant: EntraTenant = request.getfixturevalue("entra")

    def entra_client(secret: str = CLIENT_SECRET, timeout: float = 2.0) -> UserBlocker:
        return EntraUsers(entra_settings(tenant, secret, timeout), settle_delay=0)

    return Real("entra", entra_client(), tenant, entra_client, lambda: [CLIENT_SECRET, *tenant.tokens])


# --- UserBlocker contract: Okta, Entra and the twin ------------------------------------------------------
def test_every_target_satisfies_the_protocol(rig: Rig) -> None:
    assert isinstance(rig.users, UserBlocker)


def test_suspend_then_unsuspend_restores_the_user_exactly(rig: Rig) -> None:
    assert rig.users.info(USER)["blocked"] is False and not rig.blocked()
    done = rig.users.suspend(USER)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.blocked()
    undone = rig.users.unsuspend(USER)
    assert undone.changed and undone.before == done.after and undone.after == done.before
    assert not rig.blocked()


def test_suspending_twice_is_idempotent(rig: Rig) -> None:
    rig.users.suspend(USER)
    written = rig.writes()
    again = rig.users.suspend(USER)
    assert (again.changed, again.detail) == (False, "already suspended")
    assert rig.writes() == written and rig.blocked()


def test_unsuspending_an_unsuspended_user_changes_nothing(rig: Rig) -> None:
    outcome = rig.users.unsuspend(USER)
    assert (outcome.changed, outcome.detail) == (False, "already unsuspended")
    assert rig.writes() == ()


@pytest.mark.parametrize("operation", ["suspend", "unsuspend", "revoke_sessions"])
def test_dry_runs_make_no_write(rig: Rig, operation: str) -> None:
    if operation == "unsuspend":
        rig.users.suspend(USER)
    state, written = rig.blocked(), rig.writes()
    outcome = getattr(rig.users, operation)(USER, dry_run=True)
    assert outcome.dry_run and not outcome.changed
    assert rig.writes() == written and rig.blocked() == state


# --- the real clients: calls, plans and the vendors' errors ---------------------------------------------
def test_okta_revoke_sessions_ends_sessions_and_oauth_tokens(okta: OktaOrg) -> None:
    outcome = OktaUsers(okta_settings(okta)).revoke_sessions(USER)
    assert outcome.changed and "not reversible" in outcome.detail
    (write,) = okta.writes()
    assert (write.method, write.target) == ("DELETE", "/api/v1/users/mallory@example.com/sessions?oauthTokens=true")
    user = okta.users["00u1mallory0000000001"]
    assert (user.sessions, user.oauth_tokens, user.status) == (0, 0, ACTIVE)


def test_entra_revoke_sessions_calls_revoke_sign_in_sessions(entra: EntraTenant) -> None:
    outcome = EntraUsers(entra_settings(entra)).revoke_sessions(USER)
    assert outcome.changed and "not reversible" in outcome.detail
    (write,) = entra.writes()
    assert (write.method, write.path) == ("POST", "/v1.0/users/mallory@example.com/revokeSignInSessions")
    target = entra.user(USER)
    assert target is not None and target.revocations == 1 and target.account_enabled


def test_a_dry_run_plans_the_vendor_call_and_sends_nothing(real: Real) -> None:
    planned = real.users.suspend(USER, dry_run=True)
    expected = {"okta": "okta: POST /api/v1/users/mallory@example.com/lifecycle/suspend",
                "entra": "entra: PATCH /users/mallory@example.com"}[real.name]
    assert planned.call.describe() == expected and real.server.requests == []


def test_a_wrong_credential_is_an_auth_error_and_writes_nothing(real: Real) -> None:
    with pytest.raises(AuthError) as caught:
        real.make(secret="wrong-credential-0000").suspend(USER)
    assert caught.value.status == 401 and not caught.value.retryable
    assert real.server.writes() == []


def test_a_token_without_write_permission_is_an_auth_error(real: Real) -> None:
    real.server.forbid_writes = True
    with pytest.raises(AuthError) as caught:
        real.users.suspend(USER)
    assert caught.value.status == 403
    assert real.users.info(USER)["blocked"] is False


def test_an_unknown_user_is_not_found_and_nothing_is_written(real: Real) -> None:
    with pytest.raises(NotFound) as caught:
        real.users.suspend(UNKNOWN)
    assert caught.value.status == 404 and real.server.writes() == []


@pytest.mark.parametrize(("vendor", "headers", "seconds"), [
    ("okta", {"reset_in": 30}, 30.0),
    ("okta", {"reset_in": 5, "retry_after": "45"}, 45.0),
    ("entra", {"retry_after": "7"}, 7.0),
    ("entra", {}, 1.0),
])
def test_429_is_rate_limited_with_the_vendors_wait(request: pytest.FixtureRequest, vendor: str,
                                                   headers: dict[str, object], seconds: float) -> None:
    server = request.getfixturevalue(vendor)
    users = OktaUsers(okta_settings(server)) if vendor == "okta" else EntraUsers(entra_settings(server))
    if vendor == "entra":
        users.info(USER)  # the token first: the fault is for Graph
    server.fail_next(429, **headers)
    with pytest.raises(RateLimited) as caught:
        users.suspend(USER)
    assert caught.value.retry_after == pytest.approx(seconds, abs=1.5) and caught.value.retryable
    assert server.writes() == []


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_unavailable(real: Real, status: int) -> None:
    real.users.info(USER)
    real.server.fail_next(status)
    with pytest.raises(Unavailable) as caught:
        real.users.suspend(USER)
    assert caught.value.status == status and caught.value.retryable


def test_no_answer_in_time_is_unavailable(real: Real) -> None:
    real.server.delay_next(0.6)
    with pytest.raises(Unavailable, match="no answer within"):
        real.make(timeout=0.2).info(USER)


@pytest.mark.parametrize("vendor", ["okta", "entra"])
def test_an_unreachable_vendor_is_unavailable(vendor: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    users: UserBlocker = (OktaUsers(OktaSettings(org_url=url, api_token=SecretStr(API_TOKEN))) if vendor == "okta"
                          else EntraUsers(EntraSettings(tenant_id=TENANT_ID, client_id=CLIENT_ID, login_url=url,
                                                        graph_url=url, client_secret=SecretStr(CLIENT_SECRET))))
    with pytest.raises(Unavailable, match="cannot reach"):
        users.suspend(USER)


def test_no_secret_is_in_an_error_message_or_repr(real: Real) -> None:
    def fault(status: int, retry_after: str | None = None) -> Callable[[], object]:
        def attempt() -> object:
            real.server.fail_next(status, retry_after=retry_after)
            return real.users.suspend(USER)
        return attempt

    def timed_out() -> object:
        real.server.delay_next(0.5)
        return real.make(timeout=0.2).info(USER)

    real.users.info(USER)  # Entra: a live bearer exists from here on
    failures: list[ConnectorError] = []
    for attempt in (lambda: real.make(secret="wrong-credential-0000").info(USER), lambda: real.users.info(UNKNOWN),
                    fault(429, "3"), fault(503), timed_out):
        with pytest.raises(ConnectorError) as caught:
            attempt()
        failures.append(caught.value)
    texts = [t for e in failures for t in (str(e), repr(e), str(e.__cause__), repr(e.__cause__))]
    texts += [repr(real.users), repr(real.make())]
    leaked = [(secret, text) for secret in real.secrets() for text in texts if secret in text]
    assert real.secrets() and not leaked


def test_okta_sends_the_token_only_as_an_ssws_header(okta: OktaOrg) -> None:
    users = OktaUsers(okta_settings(okta))
    users.suspend(USER)
    users.revoke_sessions(USER)
    assert okta.requests and all(s.authorization == f"SSWS {API_TOKEN}" for s in okta.requests)
    assert all(API_TOKEN not in s.target + s.body for s in okta.requests)


def test_entra_sends_the_secret_only_to_the_token_endpoint(entra: EntraTenant) -> None:
    users = EntraUsers(entra_settings(entra))
    users.suspend(USER)
    users.revoke_sessions(USER)
    (token_call,) = entra.token_requests()
    assert CLIENT_SECRET in token_call.body and token_call.authorization is None
    graph = [s for s in entra.requests if s is not token_call]
    (bearer,) = entra.tokens
    assert all(s.authorization == f"Bearer {bearer}" for s in graph)
    assert all(CLIENT_SECRET not in s.target + s.body + (s.authorization or "") for s in graph)


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


# --- the Okta loopback answers like Okta ------------------------------------------------------------------
def okta_call(org: OktaOrg, method: str, path: str, auth: str | None = f"SSWS {API_TOKEN}",
              **kwargs: object) -> requests.Response:
    headers = {"Authorization": auth} if auth else {}
    return requests.request(method, org.url + path, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def assert_okta_error(answer: requests.Response, status: int, code: str) -> dict[str, object]:
    body: dict[str, object] = answer.json()
    assert answer.status_code == status and body["errorCode"] == code == body["errorLink"]
    assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    return body


def test_okta_loopback_unknown_path_method_and_body(okta: OktaOrg) -> None:
    assert_okta_error(okta_call(okta, "GET", "/api/v1/userz/x"), 404, "E0000007")
    assert_okta_error(okta_call(okta, "GET", f"/api/v1/users/{USER}/lifecycle/suspend"), 405, "E0000022")
    assert_okta_error(okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/suspend", data=b"{not json"),
                      400, "E0000003")
    unknown = assert_okta_error(okta_call(okta, "GET", f"/api/v1/users/{UNKNOWN}"), 404, "E0000007")
    assert unknown["errorSummary"] == f"Not found: Resource not found: {UNKNOWN} (User)"


@pytest.mark.parametrize("auth", [None, "SSWS wrong", f"Bearer {API_TOKEN}"])
def test_okta_loopback_wants_the_ssws_token(okta: OktaOrg, auth: str | None) -> None:
    body = assert_okta_error(okta_call(okta, "GET", f"/api/v1/users/{USER}", auth=auth), 401, "E0000011")
    assert body["errorSummary"] == "Invalid token provided"


def test_okta_loopback_lifecycle_is_not_idempotent(okta: OktaOrg) -> None:
    refused = assert_okta_error(okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/unsuspend"), 400, "E0000001")
    assert refused["errorCauses"] == [{"errorSummary": "Cannot unsuspend a user that is not suspended"}]
    assert okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/suspend").status_code == 200
    again = assert_okta_error(okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/suspend"), 400, "E0000001")
    assert again["errorCauses"] == [{"errorSummary": "Cannot suspend a user that is not active"}]


def test_okta_loopback_rate_limit_headers(okta: OktaOrg) -> None:
    okta.fail_next(429, reset_in=30)
    limited = okta_call(okta, "GET", f"/api/v1/users/{USER}")
    assert_okta_error(limited, 429, "E0000047")
    assert limited.headers["X-Rate-Limit-Remaining"] == "0" and int(limited.headers["X-Rate-Limit-Reset"]) > 0
    assert "X-Rate-Limit-Reset" in okta_call(okta, "GET", f"/api/v1/users/{USER}").headers


# --- the Entra loopback answers like Microsoft ------------------------------------------------------------
def token_call(tenant: EntraTenant, **form: str) -> requests.Response:
    fields = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials",
              "scope": GRAPH_SCOPE, **form}
    return requests.post(f"{tenant.url}/{TENANT_ID}/oauth2/v2.0/token", data=fields, timeout=5)


def graph_call(tenant: EntraTenant, method: str, path: str, **kwargs: object) -> requests.Response:
    bearer = token_call(tenant).json()["access_token"]
    return requests.request(method, tenant.graph_url + path, headers={"Authorization": f"Bearer {bearer}"},
                            timeout=5, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("form", "status", "error", "code"), [
    ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ({"scope": "User.ReadWrite.All"}, 400, "invalid_scope", 1002012),
    ({"grant_type": ""}, 400, "invalid_request", 900144),
])
def test_entra_loopback_token_errors(entra: EntraTenant, form: dict[str, str], status: int, error: str,
                                     code: int) -> None:
    answer = token_call(entra, **form)
    body = answer.json()
    assert (answer.status_code, body["error"], body["error_codes"]) == (status, error, [code])
    assert body["error_description"].startswith(f"AADSTS{code}: ") and "access_token" not in body


def test_entra_loopback_issues_bearers_graph_requires(entra: EntraTenant) -> None:
    issued = token_call(entra).json()
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 3599
    missing = requests.get(f"{entra.graph_url}/users/{USER}", timeout=5)
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    entra.expire_tokens()
    expired = requests.get(f"{entra.graph_url}/users/{USER}", timeout=5,
                           headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert expired.json()["error"]["message"] == "Lifetime validation failed, the token is expired."


def test_entra_loopback_routes_like_odata(entra: EntraTenant) -> None:
    segment = graph_call(entra, "GET", f"/users/{USER}/revokeSignInSession")
    assert segment.status_code == 400
    assert segment.json()["error"]["message"] == "Resource not found for the segment 'revokeSignInSession'."
    method = graph_call(entra, "GET", f"/users/{USER}/revokeSignInSessions")
    assert (method.status_code, method.json()["error"]["code"]) == (405, "Request_BadRequest")
    unknown = graph_call(entra, "GET", f"/users/{UNKNOWN}")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
    assert set(unknown.json()["error"]["innerError"]) == {"date", "request-id", "client-request-id"}


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "BadRequest"),
    (json.dumps({}).encode(), "Request_BadRequest"),
    (json.dumps({"accountEnabled": "false"}).encode(), "Request_BadRequest"),
    (json.dumps({"accountEnabled": False, "enabled": False}).encode(), "BadRequest"),
])
def test_entra_loopback_refuses_bad_patch_bodies(entra: EntraTenant, body: bytes, code: str) -> None:
    answer = graph_call(entra, "PATCH", f"/users/{USER}", data=body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)
    target = entra.user(USER)
    assert target is not None and target.account_enabled


def test_entra_loopback_user_reads_and_writes(entra: EntraTenant) -> None:
    default = graph_call(entra, "GET", f"/users/{USER}").json()
    assert "accountEnabled" not in default and default["userPrincipalName"] == USER
    assert graph_call(entra, "PATCH", f"/users/{USER}", json={"accountEnabled": False}).status_code == 204
    selected = graph_call(entra, "GET", f"/users/{USER}", params={"$select": "id,accountEnabled"}).json()
    assert selected["accountEnabled"] is False and set(selected) == {"@odata.context", "id", "accountEnabled"}
    revoked = graph_call(entra, "POST", f"/users/{USER}/revokeSignInSessions").json()
    assert revoked["value"] is True and revoked["@odata.context"].endswith("$metadata#Edm.Boolean")
