"""Ticketing: one issue per incident (Jira, or the local twin of it)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from irflow.redaction import SafeText


@runtime_checkable
class Ticketing(Protocol):
    system: str

    def find_issue(self, incident_id: str) -> str | None:
        """The key of the issue already opened for this incident, if any (label irflow-<incident id>)."""
        ...

    def create_issue(
        self, incident_id: str, summary: SafeText, description: SafeText, priority: str, labels: list[str]
    ) -> str:
        """Open the issue; return its key."""
        ...

    def add_comment(self, key: str, body: SafeText) -> None: ...

    def browse_url(self, key: str) -> str: ...
