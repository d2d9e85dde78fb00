"""Contract tests: MLflow, Langfuse and the local twin keep the same PromptRegistry promises.

One suite runs against a real in-process MLflow (sqlite under the test's tmp dir), the real Langfuse
client over real HTTP to the loopback in langfuse_server.py, and the local twin. Each target is checked at
the target itself, not through the client: after a rollback the serving alias must point at the previous
version, and after the roll-forward back at the recorded one. What only the real clients have (their errors,
keeping the Langfuse secret off the wire and out of messages, MLflow leaving no file outside the tmp dir) is
in test_prompt_registries_mlflow.py and test_prompt_registries_langfuse.py; proof that the loopback answers
wrong paths, methods and bodies the way Langfuse does is in test_langfuse_loopback.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from irflow.connectors.errors import Conflict, NotFound
from irflow.connectors.prompts.interface import PromptRegistry
from tests.contract.prompt_registry_rig import ALIAS, Rig
from tests.contract.prompt_registry_rig import (  # noqa: F401 - fixtures, found by name
    fixture_langfuse,
    fixture_mlflow_store,
    fixture_rig,
)


# --- PromptRegistry contract: MLflow, Langfuse and the twin -----------------------------------------------
def test_all_satisfy_the_protocol(rig: Rig) -> None:
    assert isinstance(rig.registry, PromptRegistry)
    assert rig.registry.current_version(rig.name, ALIAS) == 3 == rig.serving(rig.name)


def test_rollback_then_roll_forward_restores_the_alias(rig: Rig) -> None:
    done = rig.registry.rollback(rig.name, ALIAS)
    assert done.changed and not done.dry_run
    assert done.before == {"name": rig.name, "alias": ALIAS, "version": 3}
    assert done.after == {"name": rig.name, "alias": ALIAS, "version": 2}
    assert done.call.request == {"name": rig.name, "alias": ALIAS, "version": 2}
    assert rig.serving(rig.name) == 2
    undone = rig.registry.roll_forward(rig.name, int(done.before["version"]), ALIAS)
    assert undone.changed and undone.before["version"] == 2 and undone.after["version"] == 3
    assert rig.serving(rig.name) == 3


def test_rolling_back_past_the_first_version_is_a_conflict(rig: Rig) -> None:
    assert rig.registry.rollback(rig.name, ALIAS).after["version"] == 2
    assert rig.registry.rollback(rig.name, ALIAS).after["version"] == 1
    with pytest.raises(Conflict, match="no version before 1"):
        rig.registry.rollback(rig.name, ALIAS)
    assert rig.serving(rig.name) == 1


def test_a_prompt_with_one_version_cannot_be_rolled_back(rig: Rig) -> None:
    single = rig.fresh(count=1)
    with pytest.raises(Conflict):
        rig.registry.rollback(single, ALIAS)
    assert rig.serving(single) == 1


@pytest.mark.parametrize("operation", ["rollback", "roll_forward"])
def test_a_dry_run_plans_the_move_and_changes_nothing(rig: Rig, operation: str) -> None:
    if operation == "roll_forward":
        rig.registry.rollback(rig.name, ALIAS)
        planned = rig.registry.roll_forward(rig.name, 3, ALIAS, dry_run=True)
        expected_before, expected_target = 2, 3
    else:
        planned = rig.registry.rollback(rig.name, ALIAS, dry_run=True)
        expected_before, expected_target = 3, 2
    assert planned.dry_run and not planned.changed
    assert planned.before == planned.after == {"name": rig.name, "alias": ALIAS, "version": expected_before}
    assert planned.call.request["version"] == expected_target
    assert rig.serving(rig.name) == expected_before


def test_rolling_forward_to_the_current_version_changes_nothing(rig: Rig) -> None:
    outcome = rig.registry.roll_forward(rig.name, 3, ALIAS)
    assert (outcome.changed, outcome.detail) == (False, "already at version 3")


def test_an_unknown_prompt_is_not_found(rig: Rig) -> None:
    attempts: tuple[Callable[[], object], ...] = (lambda: rig.registry.current_version("no-such-prompt", ALIAS),
                                                  lambda: rig.registry.rollback("no-such-prompt", ALIAS),
                                                  lambda: rig.registry.roll_forward("no-such-prompt", 1, ALIAS))
    for attempt in attempts:
        with pytest.raises(NotFound):
            attempt()


def test_an_unset_alias_and_an_unknown_version_are_not_found(rig: Rig) -> None:
    with pytest.raises(NotFound):
        rig.registry.current_version(rig.name, "staging")
    with pytest.raises(NotFound):
        rig.registry.roll_forward(rig.name, 9, ALIAS)
    assert rig.serving(rig.name) == 3
