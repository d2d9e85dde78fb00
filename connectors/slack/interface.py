"""ChatOps: the incident's Slack channel (or the local twin of it)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from irflow.redaction import SafeText


@runtime_checkable
class ChatOps(Protocol):
    """Alert-derived text reaches chat only as SafeText; blocks are built by irflow.render from SafeText."""

    system: str

    def ensure_channel(self, name: str, topic: SafeText) -> str:
        """Create the channel (or find it when the name is taken by our earlier attempt); return its id."""
        ...

    def post(self, channel: str, text: SafeText, blocks: list[dict[str, Any]] | None = None, *, pin: bool = False) -> str:
        """Post a message; return its ts."""
        ...

    def update(self, channel: str, ts: str, text: SafeText, blocks: list[dict[str, Any]] | None = None) -> None: ...
