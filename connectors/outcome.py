"""What every containment call returns: enough to audit it and to undo it exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedCall:
    """The call a connector would make: shown by dry-run, recorded before the real call."""

    system: str
    operation: str
    request: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.system}: {self.operation}"


@dataclass(frozen=True)
class Outcome:
    """Result of a do/undo call. `changed` is False when the target was already in the wanted state."""

    call: PlannedCall
    before: dict[str, Any]
    after: dict[str, Any]
    changed: bool
    detail: str = ""
    dry_run: bool = False
