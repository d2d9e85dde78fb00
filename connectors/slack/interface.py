"""ChatOps: the incident's Slack channel (or the local twin of it)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from irflow.connectors.slack.settings import SlackSettings
from irflow.redaction import SafeText


@runtime_checkable
class ChatOps(Protocol):
    """Alert-derived text reaches chat only as SafeText; blocks are built by irflow.slack_blocks from SafeText.

    Every method is safe to retry: creating what exists adopts it, inviting a member or pinning a pinned
    message is success. `settings` carries how incidents use the workspace (on-call, triage threads).
    """

    system: str
    settings: SlackSettings

    def ensure_channel(self, name: str, topic: SafeText) -> str:
        """Create the channel (or find it when the name is taken by our earlier attempt); return its id."""
        ...

    def post(self, channel: str, text: SafeText, blocks: list[dict[str, Any]] | None = None, *, pin: bool = False,
             thread_ts: str | None = None) -> str:
        """Post a message (a reply when `thread_ts` is given); return its ts."""
        ...

    def update(self, channel: str, ts: str, text: SafeText, blocks: list[dict[str, Any]] | None = None) -> None:
        """Replace a message's text and blocks in place."""
        ...

    def post_ephemeral(self, channel: str, user: str, text: SafeText, blocks: list[dict[str, Any]] | None = None,
                       *, thread_ts: str | None = None) -> None:
        """Show a message to one user in a channel (answers to commands, "not allowed")."""
        ...

    def invite(self, channel: str, users: list[str]) -> dict[str, str]:
        """Invite users (ids); members already there count as invited. Returns user -> error for the refused."""
        ...

    def add_bookmark(self, channel: str, title: SafeText, link: str) -> str:
        """Add a link bookmark to the channel header; return the bookmark id."""
        ...

    def lookup_user_by_email(self, email: str) -> str | None:
        """The user id for an email, or None when the workspace has no such user."""
        ...

    def usergroup_members(self, group: str) -> frozenset[str]:
        """User ids in a user group (S…): who an RBAC entry for the group covers."""
        ...
