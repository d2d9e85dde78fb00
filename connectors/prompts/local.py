"""The local prompt registry twin: versions and aliases in the irflow store."""

from __future__ import annotations

from sqlalchemy import func, select

from irflow.connectors.errors import Conflict, NotFound
from irflow.connectors.outcome import Outcome, PlannedCall
from irflow.models import utcnow
from irflow.store.engine import Database
from irflow.store.tables import TwinPromptAliasRow, TwinPromptVersionRow


class LocalPrompts:
    system = "local"

    def __init__(self, db: Database) -> None:
        self._db = db

    def register(self, name: str, template: str, *, alias: str | None = "production") -> int:
        """Add a version (and point `alias` at it); used by the demo and tests to seed the twin."""
        with self._db.tx() as s:
            latest = s.execute(select(func.max(TwinPromptVersionRow.version)).where(TwinPromptVersionRow.name == name)).scalar()
            version = (latest or 0) + 1
            s.add(TwinPromptVersionRow(name=name, version=version, template=template, created_at=utcnow()))
        if alias:
            self._point(name, alias, version)
        return version

    def current_version(self, name: str, alias: str = "production") -> int:
        with self._db.tx() as s:
            row = s.get(TwinPromptAliasRow, (name, alias))
            if row is None:
                raise NotFound(f"prompt {name!r} has no alias {alias!r}", system=self.system)
            return row.version

    def _versions(self, name: str) -> list[int]:
        with self._db.tx() as s:
            query = select(TwinPromptVersionRow.version).where(TwinPromptVersionRow.name == name)
            return sorted(s.execute(query).scalars())

    def _point(self, name: str, alias: str, version: int) -> None:
        with self._db.tx() as s:
            row = s.get(TwinPromptAliasRow, (name, alias))
            if row is None:
                s.add(TwinPromptAliasRow(name=name, alias=alias, version=version, updated_at=utcnow()))
            else:
                row.version, row.updated_at = version, utcnow()

    def rollback(self, name: str, alias: str = "production", *, dry_run: bool = False) -> Outcome:
        current = self.current_version(name, alias)
        older = [v for v in self._versions(name) if v < current]
        if not older:
            raise Conflict(f"prompt {name!r} has no version before {current} to roll back to", system=self.system)
        return self._move(name, alias, current, older[-1], "rollback", dry_run)

    def roll_forward(self, name: str, version: int, alias: str = "production", *, dry_run: bool = False) -> Outcome:
        if version not in self._versions(name):
            raise NotFound(f"prompt {name!r} has no version {version}", system=self.system)
        return self._move(name, alias, self.current_version(name, alias), version, "roll forward", dry_run)

    def _move(self, name: str, alias: str, current: int, target: int, op: str, dry_run: bool) -> Outcome:
        call = PlannedCall(self.system, f"{op} {name}@{alias}", {"name": name, "alias": alias, "version": target})
        before = {"name": name, "alias": alias, "version": current}
        if dry_run or current == target:
            return Outcome(call, before, before, changed=False, dry_run=dry_run,
                           detail="dry run" if dry_run else f"already at version {target}")
        self._point(name, alias, target)
        return Outcome(call, before, {"name": name, "alias": alias, "version": target}, changed=True)
