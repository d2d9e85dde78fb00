"""Who may do what: roles mapped to principals (CLI users, Slack users/groups) in configuration.

Every state-changing path (CLI, Slack, HTTP) calls `require`, which audits refusals. A principal is
never self-asserted: the CLI's is the operating-system user running the command; Slack's is the user id
in a request Slack signed.

Groups: an RBAC key such as ``slack-group:S0614TZR7`` gives its role to every member of that Slack user
group. Membership comes from a directory registered for the key's prefix (the Slack app registers one
backed by ``usergroups.users.list``), cached by `CachedGroups`; without a directory a group grants nothing.
"""

from __future__ import annotations

import getpass
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

from irflow import audit
from irflow.connectors.errors import ConnectorError
from irflow.settings import IrflowSettings
from irflow.store.engine import Database

log = logging.getLogger(__name__)

SLACK_GROUP_PREFIX = "slack-group:"
"""RBAC keys naming a Slack user group (``slack-group:S…``) rather than one user (``slack:U…``)."""

GroupMembers = Callable[[str], frozenset[str]]
"""Group key (``slack-group:S…``) -> the principals in it (``slack:U…``)."""


class Role(StrEnum):
    viewer = "viewer"
    responder = "responder"
    approver = "approver"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


NEEDED: dict[str, Role] = {
    "approve": Role.approver,
    "reject": Role.approver,
    "undo": Role.approver,
    "false_positive": Role.approver,
    "complete_task": Role.responder,
    "run_playbook": Role.responder,
    "resolve": Role.responder,
    "assign": Role.responder,
    "automation": Role.admin,
    "view": Role.viewer,
    "runbook_step": Role.responder,
}


class Forbidden(PermissionError):
    """The principal lacks the role; the refusal is in the audit log."""


def cli_principal() -> str:
    return f"cli:{getpass.getuser()}"


def _home_owner(home: Path) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(home.stat().st_uid).pw_name
    except (OSError, KeyError, ImportError):
        return None


class CachedGroups:
    """Group membership remembered for `ttl` seconds: every click would otherwise cost a rate-limited call.

    When membership cannot be fetched the group grants nothing (fail closed) and the refusal that follows
    is audited like any other; the next request asks again.
    """

    def __init__(self, fetch: GroupMembers, ttl: float | Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`ttl` may be a callable, read on each lookup, when the setting is only known once connectors exist."""
        self._fetch, self._clock = fetch, clock
        self._ttl = ttl if callable(ttl) else (lambda: float(ttl))
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group: str) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(group)
        if hit is not None and now - hit[0] < self._ttl():
            return hit[1]
        try:
            members = self._fetch(group)
        except ConnectorError as exc:
            log.warning("membership of %s unavailable, the group grants nothing for now: %s", group, exc)
            return frozenset()
        with self._lock:
            self._cache[group] = (now, members)
        return members


_directories: dict[str, tuple[object, GroupMembers]] = {}


def register_groups(prefix: str, members: GroupMembers | None, owner: object = None) -> None:
    """Resolve RBAC keys starting with `prefix` through `members` (None removes the directory).

    `owner` is whatever the directory asks (e.g. the Slack client), so a caller can tell its own
    registration, and its warm cache, from one made for another workspace.
    """
    if members is None:
        _directories.pop(prefix, None)
    else:
        _directories[prefix] = (owner, members)


def _group_roles(settings: IrflowSettings, principal: str, above: Role | None) -> Iterator[Role]:
    for prefix, (_, members) in list(_directories.items()):
        for key, value in settings.rbac.items():
            if not key.startswith(prefix):
                continue
            role = Role(value)
            if (above is None or role.rank > above.rank) and principal in members(key):
                yield role  # a group that cannot raise the role is never looked up


def role_of(settings: IrflowSettings, principal: str) -> Role | None:
    """The configured role; with no RBAC map configured, the owner of IRFLOW_HOME is admin on the CLI
    (whoever can write the database can change anything anyway) and nobody else has a role.

    A principal in a configured group gets the highest of its own role and its groups' roles."""
    if settings.rbac:
        role = settings.rbac.get(principal)
        direct = Role(role) if role else None
        return max([direct, *_group_roles(settings, principal, direct)], key=lambda r: -1 if r is None else r.rank)
    owner = _home_owner(settings.home)
    if owner is not None and principal == f"cli:{owner}" and os.geteuid() == settings.home.stat().st_uid:
        return Role.admin
    return None


def require(db: Database, settings: IrflowSettings, principal: str, permission: str, subject: str) -> None:
    needed = NEEDED[permission]
    role = role_of(settings, principal)
    if role is not None and role.rank >= needed.rank:
        return
    with db.tx() as s:
        audit.append(s, actor=principal, kind="rbac.refused", subject=subject,
                     data={"permission": permission, "needed": needed.value, "role": role.value if role else None})
    raise Forbidden(f"{principal} may not {permission.replace('_', ' ')} (needs role {needed.value}; "
                    f"has {role.value if role else 'none'})")
