"""Capabilities of an AI gateway (or an identity provider) that containment needs."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from irflow.connectors.outcome import Outcome


@runtime_checkable
class KeyRevoker(Protocol):
    """Blocks, unblocks, deletes and describes API keys at a gateway or provider.

    Every call is idempotent: blocking a blocked key succeeds with `changed=False` ("already blocked").
    `dry_run=True` returns the planned call without making it.
    """

    system: str

    def info(self, key: str) -> dict[str, object]: ...

    def block(self, key: str, *, dry_run: bool = False) -> Outcome: ...

    def unblock(self, key: str, *, dry_run: bool = False) -> Outcome: ...

    def delete(self, key: str, *, dry_run: bool = False) -> Outcome: ...


@runtime_checkable
class UserBlocker(Protocol):
    """Suspends end users (of an AI app at the gateway) or accounts (at an identity provider)."""

    system: str

    def info(self, user: str) -> dict[str, object]: ...

    def suspend(self, user: str, *, dry_run: bool = False) -> Outcome: ...

    def unsuspend(self, user: str, *, dry_run: bool = False) -> Outcome: ...

    def revoke_sessions(self, user: str, *, dry_run: bool = False) -> Outcome: ...


@runtime_checkable
class SessionBlocker(Protocol):
    """Refuses one conversation/session at the gateway: the narrowest containment there is."""

    system: str

    def info(self, session: str) -> dict[str, object]: ...

    def block(self, session: str, *, dry_run: bool = False) -> Outcome: ...

    def unblock(self, session: str, *, dry_run: bool = False) -> Outcome: ...
