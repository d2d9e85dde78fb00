"""Contract tests: the identity-provider connectors (Okta, Entra ID) and the embedded twin keep the same
UserBlocker promises.

One suite runs against OktaUsers and EntraUsers over real HTTP to the loopbacks in okta_server.py and
entra_server.py, and against the local twin, checking state at the target itself, not through the client.
Then what both real clients have: the vendors' errors, rate limits, outages, keeping secrets off the wire and
out of messages. What only Okta or only Entra does (the Entra token cache among it) and the settings are in
test_identity_providers_vendors.py; proof that each loopback refuses wrong paths, methods and bodies the way
the vendor does is in test_identity_loopbacks.py.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from irflow.connectors.entra.client import EntraUsers
from irflow.connectors.entra.settings import EntraSettings
from irflow.connectors.errors import AuthError, ConnectorError, NotFound, RateLimited, Unavailable
from irflow.connectors.gateway.interface import UserBlocker
from irflow.connectors.okta.client import OktaUsers
from irflow.connectors.okta.settings import OktaSettings
from tests.contract.entra_server import CLIENT_ID, CLIENT_SECRET, TENANT_ID, EntraTenant
from tests.contract.identity_rig import UNKNOWN, USER, Real, Rig, entra_settings, okta_settings
from tests.contract.identity_rig import (  # noqa: F401 - fixtures, found by name
    fixture_entra,
    fixture_okta,
    fixture_real,
    fixture_rig,
)
from tests.contract.okta_server import ACTIVE, API_TOKEN, OktaOrg


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
