"""The action catalog: every `<capability>.<verb>` a playbook step may name, with its metadata and inverse.

Policy lives here, not in playbooks: irreversible or high-impact actions always need approval, and a
playbook can only tighten that (`requires_approval: true`), never loosen it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from irflow.connectors.outcome import Outcome, PlannedCall

if TYPE_CHECKING:
    from irflow.systems import Systems


class Impact(StrEnum):
    low = "low"
    high = "high"


Executor = Callable[["Systems", str, dict[str, Any], bool], Outcome]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    title: str
    description: str
    capability: str
    target_arg: str
    reversible: bool
    impact: Impact
    inverse: str | None
    run: Executor

    @property
    def needs_approval_by_policy(self) -> bool:
        return not self.reversible or self.impact is Impact.high


def _keys(verb: str) -> Executor:
    def run(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
        return getattr(systems.key_revoker(system), verb)(args["key"], dry_run=dry_run)

    return run


def _users(verb: str) -> Executor:
    def run(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
        return getattr(systems.user_blocker(system), verb)(args["user"], dry_run=dry_run)

    return run


def _sessions(verb: str) -> Executor:
    def run(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
        return getattr(systems.session_blocker(system), verb)(args["session"], dry_run=dry_run)

    return run


def _teams(verb: str) -> Executor:
    def run(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
        return getattr(systems.team_blocker(system), verb)(args["team"], dry_run=dry_run)

    return run


def _regenerate(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
    # An optional KeyRevoker capability: a connector that cannot regenerate lacks the method.
    regenerate = getattr(systems.key_revoker(system), "regenerate", None)
    if regenerate is None:
        from irflow.connectors.errors import ConfigError

        raise ConfigError(f"{system} cannot regenerate keys; use keys.delete and issue a new key", system=system)
    outcome: Outcome = regenerate(args["key"], dry_run=dry_run)
    return outcome


def _limits_capable(systems: Systems, system: str) -> Any:
    revoker = systems.key_revoker(system)
    if not hasattr(revoker, "rate_limit"):
        from irflow.connectors.errors import ConfigError

        raise ConfigError(f"{system} cannot rate-limit keys; use keys.block", system=system)
    return revoker


def _rate_limit(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
    limits = {k: float(args[k]) if k == "max_budget" else int(args[k]) for k in ("rpm_limit", "tpm_limit", "max_budget")
              if args.get(k) not in (None, "")}
    return _limits_capable(systems, system).rate_limit(args["key"], **limits, dry_run=dry_run)


def _restore_limits(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
    return _limits_capable(systems, system).restore_limits(args["key"], args["before"], dry_run=dry_run)


def _prompt_rollback(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
    registry = systems.prompt_registry(system)
    return registry.rollback(args["prompt"], args.get("alias") or "production", dry_run=dry_run)


def _prompt_roll_forward(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
    registry = systems.prompt_registry(system)
    version = int(args["before"]["version"]) if "before" in args else int(args["version"])
    return registry.roll_forward(args["prompt"], version, args.get("alias") or "production", dry_run=dry_run)


def _manual(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
    call = PlannedCall("human", "manual task", {"task": args.get("task", "")})
    return Outcome(call, {}, {}, changed=False, dry_run=dry_run, detail="assigned to the responders")


CATALOG: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("keys.block", "Block API key", "Deny every request made with the key at the gateway.",
                   "keys", "key", True, Impact.low, "keys.unblock", _keys("block")),
        ActionSpec("keys.unblock", "Unblock API key", "Let the key through the gateway again.",
                   "keys", "key", True, Impact.low, "keys.block", _keys("unblock")),
        ActionSpec("keys.delete", "Delete API key", "Delete the key for good; it cannot be restored.",
                   "keys", "key", False, Impact.high, None, _keys("delete")),
        ActionSpec("keys.regenerate", "Regenerate API key", "Revoke the key and issue a replacement with the same "
                   "settings; the new secret is kept (redacted) in the action record for the key's owner. "
                   "Cannot be undone.",
                   "keys", "key", False, Impact.high, None, _regenerate),
        ActionSpec("teams.block", "Block team", "Refuse every request made with any key of the team at the "
                   "gateway: it stops many users at once, so a human approves it.",
                   "teams", "team", True, Impact.high, "teams.unblock", _teams("block")),
        ActionSpec("teams.unblock", "Unblock team", "Let the team's keys through the gateway again.",
                   "teams", "team", True, Impact.high, "teams.block", _teams("unblock")),
        ActionSpec("users.suspend", "Suspend user", "Refuse the end user's requests at the gateway.",
                   "users", "user", True, Impact.low, "users.unsuspend", _users("suspend")),
        ActionSpec("users.disable_account", "Disable account", "Suspend the user's account at the identity provider: "
                   "locks them out of everything, so a human approves it.",
                   "accounts", "user", True, Impact.high, "users.enable_account", _users("suspend")),
        ActionSpec("users.enable_account", "Enable account", "Unsuspend the account at the identity provider.",
                   "accounts", "user", True, Impact.high, "users.disable_account", _users("unsuspend")),
        ActionSpec("users.unsuspend", "Unsuspend user", "Let the user back in.",
                   "users", "user", True, Impact.low, "users.suspend", _users("unsuspend")),
        ActionSpec("users.revoke_sessions", "Revoke sessions", "Sign the user out everywhere (identity provider).",
                   "accounts", "user", False, Impact.low, None, _users("revoke_sessions")),
        ActionSpec("sessions.block", "Block session", "Refuse the requests of one conversation/session at the "
                   "gateway: the first rung, before the end user.",
                   "sessions", "session", True, Impact.low, "sessions.unblock", _sessions("block")),
        ActionSpec("sessions.unblock", "Unblock session", "Let the session through again.",
                   "sessions", "session", True, Impact.low, "sessions.block", _sessions("unblock")),
        ActionSpec("keys.rate_limit", "Rate-limit API key", "Lower the key's rpm/tpm limits or budget: the "
                   "reversible middle rung between watching and blocking.",
                   "keys", "key", True, Impact.low, "keys.restore_limits", _rate_limit),
        ActionSpec("keys.restore_limits", "Restore key limits", "Put back the limits recorded before rate-limiting.",
                   "keys", "key", True, Impact.low, "keys.rate_limit", _restore_limits),
        ActionSpec("prompts.rollback", "Roll back prompt", "Point the serving alias at the previous prompt version.",
                   "prompts", "prompt", True, Impact.low, "prompts.roll_forward", _prompt_rollback),
        ActionSpec("prompts.roll_forward", "Roll prompt forward", "Point the serving alias back at a version.",
                   "prompts", "prompt", True, Impact.low, "prompts.rollback", _prompt_roll_forward),
        ActionSpec("manual.task", "Manual task", "A tracked human step from the runbook.",
                   "manual", "task", True, Impact.low, None, _manual),
    )
}


class UnknownAction(KeyError):
    pass


def get(name: str) -> ActionSpec:
    if name.startswith("flow."):
        return _step_flow(name)
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownAction(f"unknown action {name!r}; known: {', '.join(sorted(CATALOG))}, flow.<name>") from None


def _step_flow(name: str) -> ActionSpec:
    from irflow.step_flows import load

    flows = load()
    flow = flows.get(name.removeprefix("flow."))
    if flow is None:
        raise UnknownAction(f"unknown step flow {name!r}; registered: {', '.join(sorted(flows)) or 'none'}")

    def run(systems: Systems, system: str, args: dict[str, Any], dry_run: bool) -> Outcome:
        call = PlannedCall("flow", name, {k: v for k, v in args.items() if k != "incident"})
        if dry_run:
            return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run")
        result = flow.fn(args["incident"], {k: v for k, v in args.items() if k != "incident"})
        return Outcome(call, {}, dict(result or {}), changed=True)

    impact = Impact.low if flow.low_impact else Impact.high
    return ActionSpec(name, flow.title, flow.description, "flow", "incident", flow.reversible, impact, None, run)
