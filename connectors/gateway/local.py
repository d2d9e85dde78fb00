"""The embedded gateway: a deny list in the irflow store, and the check a request passes through.

It is a small real component, not a flipped row: `check()` is what `irflow gateway check` and the demo's
"request from the attacker" use, and it refuses a blocked key, end user, session or team.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from irflow.connectors.gateway.interface import IssuedKey
from irflow.connectors.outcome import Outcome, PlannedCall
from irflow.models import utcnow
from irflow.store.engine import Database
from irflow.store.tables import GatewayBlockRow

KEY, USER, SESSION, TEAM = "key", "user", "session", "team"
LIMITS = ("rpm_limit", "tpm_limit", "max_budget")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


class _DenyList:
    """The twin's state: which keys, end users, sessions and teams the embedded gateway refuses."""

    system = "local"

    def __init__(self, db: Database) -> None:
        self._db = db

    def state(self, kind: str, value: str) -> dict[str, object]:
        with self._db.tx() as s:
            row = s.get(GatewayBlockRow, (kind, value))
            return {"blocked": bool(row and row.blocked), "deleted": bool(row and row.reason == "deleted")}

    def set(self, kind: str, value: str, *, blocked: bool, reason: str, op: str, dry_run: bool) -> Outcome:
        call = PlannedCall(self.system, f"{op} {kind}", {kind: value})
        before = self.state(kind, value)
        wanted = {"blocked": blocked, "deleted": reason == "deleted"}
        if dry_run or before == wanted:
            detail = "dry run" if dry_run else f"already {reason}"
            return Outcome(call, before, before, changed=False, dry_run=dry_run, detail=detail)
        with self._db.tx() as s:
            row = s.get(GatewayBlockRow, (kind, value))
            if row is None:
                s.add(GatewayBlockRow(kind=kind, value=value, blocked=blocked, reason=reason, updated_at=utcnow()))
            else:
                row.blocked, row.reason, row.updated_at = blocked, reason, utcnow()
        return Outcome(call, before, self.state(kind, value), changed=True)

    def limits(self, key: str) -> dict[str, int | float | None]:
        with self._db.tx() as s:
            return _limits_of(s.get(GatewayBlockRow, (KEY, key)))

    def set_limits(self, key: str, wanted: dict[str, int | float | None], *, op: str, dry_run: bool) -> Outcome:
        call = PlannedCall(self.system, f"{op} key", {KEY: key, **wanted})
        before = self.limits(key)
        after = before | wanted
        if dry_run or after == before:
            return Outcome(call, before, before, changed=False, dry_run=dry_run,
                           detail="dry run" if dry_run else "limits already set")
        with self._db.tx() as s:
            row = s.get(GatewayBlockRow, (KEY, key))
            if row is None:
                s.add(GatewayBlockRow(kind=KEY, value=key, blocked=False, reason="limited", limits=after,
                                      updated_at=utcnow()))
            else:
                row.limits, row.updated_at = after, utcnow()
        return Outcome(call, before, self.limits(key), changed=True)

    def replace_key(self, key: str, *, dry_run: bool) -> Outcome:
        """Refuse `key` for good and issue a replacement that keeps its blocked flag and limits, as LiteLLM's
        /key/regenerate rewrites the key's row in place; a key already replaced (or deleted) stays as it is."""
        call = PlannedCall(self.system, "regenerate key", {KEY: key})
        before = self.state(KEY, key) | self.limits(key)
        if dry_run or before["deleted"]:
            detail = "dry run" if dry_run else "already regenerated or deleted"
            return Outcome(call, before, before, changed=False, dry_run=dry_run, detail=detail)
        new = IssuedKey(f"sk-local-{secrets.token_urlsafe(24)}")
        with self._db.tx() as s:
            row = s.get(GatewayBlockRow, (KEY, key))
            if row is None:
                s.add(GatewayBlockRow(kind=KEY, value=key, blocked=True, reason="deleted", updated_at=utcnow()))
            else:  # only a key with state to carry over gets a row of its own: unknown keys pass anyway
                s.add(GatewayBlockRow(kind=KEY, value=new, blocked=row.blocked, reason=row.reason, limits=row.limits,
                                      updated_at=utcnow()))
                row.blocked, row.reason, row.updated_at = True, "deleted", utcnow()
        after = {**self.state(KEY, key), "replaced_by": new}
        return Outcome(call, before, after, changed=True,
                       detail="regenerated: the old key is refused, its replacement keeps its settings")


def _limits_of(row: GatewayBlockRow | None) -> dict[str, int | float | None]:
    limits = (row.limits if row is not None else None) or {}
    return {name: limits.get(name) for name in LIMITS}


class LocalKeys:
    """KeyRevoker of the embedded gateway."""

    system = "local"

    def __init__(self, deny: _DenyList) -> None:
        self._deny = deny

    def info(self, key: str) -> dict[str, object]:
        return self._deny.state(KEY, key) | self._deny.limits(key)

    def block(self, key: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(KEY, key, blocked=True, reason="blocked", op="block", dry_run=dry_run)

    def unblock(self, key: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(KEY, key, blocked=False, reason="unblocked", op="unblock", dry_run=dry_run)

    def delete(self, key: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(KEY, key, blocked=True, reason="deleted", op="delete", dry_run=dry_run)

    def rate_limit(self, key: str, *, rpm_limit: int | None = None, tpm_limit: int | None = None,
                   max_budget: float | None = None, dry_run: bool = False) -> Outcome:
        """Lower the key's limits (None keeps a limit as it is); `before` holds the old ones for undo."""
        given: dict[str, int | float | None] = {"rpm_limit": rpm_limit, "tpm_limit": tpm_limit, "max_budget": max_budget}
        wanted: dict[str, int | float | None] = {k: v for k, v in given.items() if v is not None}
        return self._deny.set_limits(key, wanted, op="rate limit", dry_run=dry_run)

    def restore_limits(self, key: str, previous: dict[str, int | float | None], *, dry_run: bool = False) -> Outcome:
        return self._deny.set_limits(key, dict(previous), op="restore limits", dry_run=dry_run)

    def regenerate(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Revoke the key and issue ``sk-local-…`` in its place (`after["replaced_by"]`); cannot be undone."""
        return self._deny.replace_key(key, dry_run=dry_run)


class LocalUsers:
    """UserBlocker of the embedded gateway (end users of an AI app, as LiteLLM's /customer/block)."""

    system = "local"

    def __init__(self, deny: _DenyList) -> None:
        self._deny = deny

    def info(self, user: str) -> dict[str, object]:
        return self._deny.state(USER, user)

    def suspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(USER, user, blocked=True, reason="suspended", op="suspend", dry_run=dry_run)

    def unsuspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(USER, user, blocked=False, reason="unsuspended", op="unsuspend", dry_run=dry_run)

    def revoke_sessions(self, user: str, *, dry_run: bool = False) -> Outcome:
        call = PlannedCall(self.system, "revoke sessions", {USER: user})
        state = self._deny.state(USER, user)
        return Outcome(call, state, state, changed=False, dry_run=dry_run,
                       detail="the embedded gateway keeps no sessions; nothing to revoke")


class LocalSessions:
    """SessionBlocker of the embedded gateway."""

    system = "local"

    def __init__(self, deny: _DenyList) -> None:
        self._deny = deny

    def info(self, session: str) -> dict[str, object]:
        return self._deny.state(SESSION, session)

    def block(self, session: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(SESSION, session, blocked=True, reason="blocked", op="block", dry_run=dry_run)

    def unblock(self, session: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(SESSION, session, blocked=False, reason="unblocked", op="unblock", dry_run=dry_run)


class LocalTeams:
    """TeamBlocker of the embedded gateway: the twin of LiteLLM's /team/block."""

    system = "local"

    def __init__(self, deny: _DenyList) -> None:
        self._deny = deny

    def info(self, team: str) -> dict[str, object]:
        return self._deny.state(TEAM, team)

    def block(self, team: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(TEAM, team, blocked=True, reason="blocked", op="block", dry_run=dry_run)

    def unblock(self, team: str, *, dry_run: bool = False) -> Outcome:
        return self._deny.set(TEAM, team, blocked=False, reason="unblocked", op="unblock", dry_run=dry_run)


class LocalGateway:
    """The embedded gateway twin: its key, user, session and team controls, and the check every request passes."""

    system = "local"

    def __init__(self, db: Database) -> None:
        deny = _DenyList(db)
        self._deny = deny
        self.keys = LocalKeys(deny)
        self.users = LocalUsers(deny)
        self.sessions = LocalSessions(deny)
        self.teams = LocalTeams(deny)

    def check(self, *, key: str | None = None, user: str | None = None, session: str | None = None,
              team: str | None = None) -> Decision:
        """Would the gateway let this request through? `team` is the team of the request's key."""
        if key and self._deny.state(KEY, key)["blocked"]:
            return Decision(False, "api key is blocked")
        if user and self._deny.state(USER, user)["blocked"]:
            return Decision(False, "end user is blocked")
        if session and self._deny.state(SESSION, session)["blocked"]:
            return Decision(False, "session is blocked")
        if team and self._deny.state(TEAM, team)["blocked"]:
            return Decision(False, "team is blocked")
        return Decision(True, "allowed")
