"""Contract tests: the AWS connectors and the embedded twin keep the same promises through the Protocols.

The real `IamKeys` / `CognitoUsers` talk real HTTP to a moto server on loopback, and every containment is
verified at the target with a separate boto3 client; the same suites run against the local twin. Then what
only the real clients show against moto: the key's owner, one write per block, dry runs that send nothing,
refresh tokens killed. AWS's error answers, unreachable endpoints, credentials and the opt-in settings are in
test_aws_errors.py; the shared moto rig is in aws_rig.py.
"""

from __future__ import annotations

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from irflow.connectors.aws.client import CognitoUsers, IamKeys  # noqa: E402
from irflow.connectors.errors import NotFound  # noqa: E402
from irflow.connectors.gateway.interface import KeyRevoker, UserBlocker  # noqa: E402
from tests.contract.aws_rig import PASSWORD, UNKNOWN_KEY, Moto, Rig, settings_for  # noqa: E402
from tests.contract.aws_rig import (  # noqa: E402, F401 - fixtures, found by name; aws_env is autouse
    fixture_account,
    fixture_aws_env,
    fixture_keys,
    fixture_moto,
    fixture_rig,
    fixture_users,
)


# --- KeyRevoker contract: IAM over moto and the twin ----------------------------------------------------
def test_both_satisfy_the_protocols(rig: Rig) -> None:
    assert isinstance(rig.keys, KeyRevoker) and isinstance(rig.users, UserBlocker)


def test_block_then_unblock_restores_the_key_at_the_target(rig: Rig) -> None:
    assert rig.keys.info(rig.key)["blocked"] is False and not rig.key_refused()
    done = rig.keys.block(rig.key)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.key_refused()
    undone = rig.keys.unblock(rig.key)
    assert undone.changed and undone.after["blocked"] is False
    assert not rig.key_refused() and rig.keys.info(rig.key)["blocked"] is False


def test_blocking_twice_is_idempotent(rig: Rig) -> None:
    rig.keys.block(rig.key)
    written = rig.writes()
    again = rig.keys.block(rig.key)
    assert (again.changed, again.detail) == (False, "already blocked")
    assert rig.writes() == written


def test_unblocking_an_unblocked_key_changes_nothing(rig: Rig) -> None:
    outcome = rig.keys.unblock(rig.key)
    assert (outcome.changed, outcome.detail) == (False, "already unblocked")


@pytest.mark.parametrize("operation", ["block", "unblock", "delete"])
def test_dry_run_makes_no_write(rig: Rig, operation: str) -> None:
    if operation == "unblock":
        rig.keys.block(rig.key)
    state, written, refused = rig.keys.info(rig.key), rig.writes(), rig.key_refused()
    planned = getattr(rig.keys, operation)(rig.key, dry_run=True)
    assert planned.dry_run and not planned.changed
    assert rig.writes() == written and rig.key_refused() is refused
    assert rig.keys.info(rig.key) == state


def test_deleting_twice_is_idempotent_and_the_key_is_refused(rig: Rig) -> None:
    assert rig.keys.delete(rig.key).changed and rig.key_refused()
    again = rig.keys.delete(rig.key)
    assert (again.changed, again.detail) == (False, "already deleted")


# --- UserBlocker contract: Cognito over moto and the twin -----------------------------------------------
def test_suspend_then_unsuspend_restores_the_user_at_the_target(rig: Rig) -> None:
    done = rig.users.suspend(rig.user)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.user_refused() and rig.users.info(rig.user)["blocked"] is True
    undone = rig.users.unsuspend(rig.user)
    assert undone.changed and undone.after["blocked"] is False
    assert not rig.user_refused()


def test_suspending_twice_is_idempotent(rig: Rig) -> None:
    rig.users.suspend(rig.user)
    written = rig.writes()
    again = rig.users.suspend(rig.user)
    assert (again.changed, again.detail) == (False, "already suspended")
    assert rig.writes() == written
    assert rig.users.unsuspend(rig.user).changed
    assert rig.users.unsuspend(rig.user).detail == "already unsuspended"


@pytest.mark.parametrize("operation", ["suspend", "unsuspend", "revoke_sessions"])
def test_user_dry_runs_make_no_write(rig: Rig, operation: str) -> None:
    if operation == "unsuspend":
        rig.users.suspend(rig.user)
    state, written = rig.users.info(rig.user), rig.writes()
    outcome = getattr(rig.users, operation)(rig.user, dry_run=True)
    assert outcome.dry_run and not outcome.changed
    assert rig.writes() == written and rig.users.info(rig.user) == state


def test_revoke_sessions_leaves_the_block_state_and_says_so(rig: Rig) -> None:
    outcome = rig.users.revoke_sessions(rig.user)
    assert "session" in outcome.detail and not rig.user_refused()
    assert outcome.after["blocked"] == outcome.before.get("blocked", False)


# --- the real clients only: IAM -------------------------------------------------------------------------
def test_info_names_the_owner_status_and_last_use(moto: Moto, keys: IamKeys) -> None:
    info = keys.info(moto.key)
    assert (info["user"], info["status"], info["blocked"]) == (moto.iam_user, "Active", False)
    assert info["last_used"] is None and info["last_used_service"] is None and info["created"]


def test_block_records_the_owner_in_the_call_and_sends_one_write(moto: Moto, keys: IamKeys) -> None:
    done = keys.block(moto.key)
    assert done.call.describe() == "aws_iam: UpdateAccessKey"
    assert done.call.request == {"UserName": moto.iam_user, "AccessKeyId": moto.key, "Status": "Inactive"}
    assert moto.writes() == ("UpdateAccessKey",) and moto.key_status() == "Inactive"


def test_a_dry_run_sends_nothing_at_all(moto: Moto, keys: IamKeys, users: CognitoUsers) -> None:
    planned = keys.block(moto.key, dry_run=True)
    assert planned.call.request == {"AccessKeyId": moto.key, "Status": "Inactive"}
    users.revoke_sessions(moto.user, dry_run=True)
    assert moto.sent == []


def test_a_deleted_key_is_gone_and_cannot_be_unblocked(moto: Moto, keys: IamKeys) -> None:
    done = keys.delete(moto.key)
    assert done.before["exists"] is True and done.before["user"] == moto.iam_user and "irreversible" in done.detail
    assert moto.key_status() is None
    with pytest.raises(NotFound):
        keys.info(moto.key)
    with pytest.raises(NotFound):
        keys.unblock(moto.key)


def test_an_unknown_key_is_not_found_and_nothing_is_written(moto: Moto, keys: IamKeys) -> None:
    with pytest.raises(NotFound) as caught:
        keys.block(UNKNOWN_KEY)
    assert caught.value.status == 404 and not caught.value.retryable and moto.writes() == ()


# --- the real clients only: Cognito ---------------------------------------------------------------------
def test_unknown_user_and_unknown_pool_are_not_found(moto: Moto, users: CognitoUsers) -> None:
    with pytest.raises(NotFound):
        users.suspend("mallory@example.com")
    with pytest.raises(NotFound, match="ResourceNotFoundException"):
        CognitoUsers(settings_for(moto.url, pool="us-east-1_Nope0000")).info(moto.user)
    assert moto.writes() == ()


def test_revoke_sessions_kills_a_refresh_token_at_the_target(moto: Moto, users: CognitoUsers) -> None:
    app = moto.idp.create_user_pool_client(UserPoolId=moto.pool, ClientName="web",
                                           ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH",
                                                              "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    moto.idp.admin_set_user_password(UserPoolId=moto.pool, Username=moto.user, Password=PASSWORD, Permanent=True)
    tokens = moto.idp.admin_initiate_auth(UserPoolId=moto.pool, ClientId=app, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                          AuthParameters={"USERNAME": moto.user, "PASSWORD": PASSWORD})
    refresh = tokens["AuthenticationResult"]["RefreshToken"]
    assert users.revoke_sessions(moto.user).changed and moto.writes() == ("AdminUserGlobalSignOut",)
    with pytest.raises(moto.idp.exceptions.NotAuthorizedException):
        moto.idp.admin_initiate_auth(UserPoolId=moto.pool, ClientId=app, AuthFlow="REFRESH_TOKEN_AUTH",
                                     AuthParameters={"REFRESH_TOKEN": refresh})
