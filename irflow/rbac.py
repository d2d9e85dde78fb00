"""Who may do what: roles mapped to principals (CLI users, Slack users/groups) in configuration.

Every state-changing path (CLI, Slack, HTTP) calls `require`, which audits refusals. A principal is
never self-asserted: the CLI's is the operating-system user running the command.
"""

from __future__ import annotations

import getpass
import os
from enum import StrEnum
from pathlib import Path

from irflow import audit
from irflow.settings import IrflowSettings
from irflow.store.engine import Database


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


def role_of(settings: IrflowSettings, principal: str) -> Role | None:
    """The configured role; with no RBAC map configured, the owner of IRFLOW_HOME is admin on the CLI
    (whoever can write the database can change anything anyway) and nobody else has a role."""
    if settings.rbac:
        role = settings.rbac.get(principal)
        return Role(role) if role else None
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
