"""Contract tests: the LiteLLM connectors and the embedded twin keep the same promises through the Protocols.

One suite each for KeyRevoker (with key regeneration), UserBlocker and TeamBlocker, run against the real
client (over real HTTP to the loopback proxy in litellm_server.py) and against the local twin, checked at
the target: would the gateway let the key or the team through? What only the real client has (rate limits,
the proxy's errors, keeping secrets off the wire and out of messages) is in test_litellm_client_real.py and
test_litellm_client_regenerate.py; proof that the loopback itself answers wrong paths, methods and bodies the
way the proxy does is in test_litellm_loopback.py; the shared rig is in litellm_rig.py.
"""

from __future__ import annotations

import json

import pytest

from irflow.connectors.gateway.interface import KeyRevoker, TeamBlocker, UserBlocker
from tests.contract.litellm_rig import KEY, TEAM, USER, Rig
from tests.contract.litellm_rig import fixture_proxy, fixture_rig  # noqa: F401 - fixtures, found by name


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
