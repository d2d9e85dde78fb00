"""PromptRegistry: which prompt version an application serves, and moving that pointer back and forth.

A tampered prompt is contained by pointing the serving alias (e.g. `production`) at the previous
version; the inverse points it back at exactly the version recorded in `before`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from irflow.connectors.outcome import Outcome


@runtime_checkable
class PromptRegistry(Protocol):
    system: str

    def current_version(self, name: str, alias: str = "production") -> int:
        """The version the alias points at; NotFound when the prompt or alias does not exist."""
        ...

    def rollback(self, name: str, alias: str = "production", *, dry_run: bool = False) -> Outcome:
        """Point the alias at the highest version below the current one; before/after hold the versions."""
        ...

    def roll_forward(self, name: str, version: int, alias: str = "production", *, dry_run: bool = False) -> Outcome:
        """Point the alias at `version` (the inverse of rollback, with the version from its `before`)."""
        ...
