"""Ticketing: one issue per incident (Jira, or the local twin of it), kept in sync both ways.

The shapes here are what crosses the connector boundary; text irflow writes is SafeText, text Jira users
wrote (comments) comes back as plain `str` and is handled as untrusted input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from irflow.redaction import SafeText

Attributes = Mapping[str, SafeText | Sequence[SafeText]]
"""Incident attributes (severity, category, ...) that a configured custom field may carry."""


@dataclass(frozen=True)
class SyncPolicy:
    """How irflow drives the ticketing system: batching, search lag, reconciling, polling, links."""

    comment_interval_s: float = 60
    search_settle_s: float = 30
    reconcile_after_s: float = 120
    poll_interval_s: float = 0
    slack_channel_url: str = "https://slack.com/app_redirect?channel={channel}"
    runbook_url: str | None = None


@dataclass(frozen=True)
class TicketComment:
    """A comment a person left on the issue; `author` is the account id (Cloud) or user name (DC)."""

    id: str
    author: str
    text: str


@dataclass(frozen=True)
class IssueActivity:
    """What polling learns about one issue: where it is in the workflow, who moved it, new comments."""

    key: str
    status: str
    done: bool
    moved_by: str | None = None
    comments: list[TicketComment] = field(default_factory=list)


@runtime_checkable
class Ticketing(Protocol):
    system: str

    @property
    def policy(self) -> SyncPolicy:
        """Batching and reconciling knobs for this system."""
        ...

    def find_issue(self, incident_id: str) -> str | None:
        """The key of the issue already opened for this incident, if any (label irflow-<incident id>)."""
        ...

    def find_issues(self, incident_id: str) -> list[str]:
        """Every issue labelled for this incident, oldest first: more than one means a duplicate slipped in."""
        ...

    def create_issue(
        self, incident_id: str, summary: SafeText, description: SafeText, priority: str, labels: list[str],
        *, attributes: Attributes | None = None,
    ) -> str:
        """Open the issue (or return the one a search finds for the incident); return its key."""
        ...

    def update_issue(
        self, key: str, *, priority: str | None = None, description: SafeText | None = None,
        attributes: Attributes | None = None,
    ) -> None:
        """Edit what irflow owns on the issue: priority (escalation), description, mapped custom fields."""
        ...

    def add_comment(self, key: str, body: SafeText) -> None: ...

    def set_status(self, key: str, status: str) -> str | None:
        """Move the issue to where incident `status` belongs; the transition used, or None if already there.

        Raises InvalidRequest when no configured transition is available from the issue's status.
        """
        ...

    def add_remote_link(self, key: str, url: str, title: SafeText, global_id: str) -> None:
        """Link out (the Slack channel); the same global id again updates rather than adds."""
        ...

    def close_duplicate(self, duplicate: str, original: str, incident_id: str) -> None:
        """Link `duplicate` to `original`, take it off the incident's label, and move it to done."""
        ...

    def recent_activity(self, minutes: int) -> list[IssueActivity]:
        """irflow's issues updated in the last `minutes`: the polling fallback for Jira without webhooks."""
        ...

    def browse_url(self, key: str) -> str: ...
