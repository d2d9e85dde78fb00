"""Capabilities of an AI gateway (or an identity provider) that containment needs."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from irflow.connectors.outcome import Outcome


class IssuedKey(str):
    """A newly issued key secret, as `Outcome.after["replaced_by"]` of `regenerate` holds it.

    A plain `str` to store, compare and hand to the key's owner, whose repr shows only the last four
    characters: an Outcome printed, asserted on or logged with ``%r`` never carries the secret.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'...{self[-4:]}'" if len(self) >= 12 else "'...'"


@runtime_checkable
class KeyRevoker(Protocol):
    """Blocks, unblocks, deletes and describes API keys at a gateway or provider.

    Every call is idempotent: blocking a blocked key succeeds with `changed=False` ("already blocked").
    `dry_run=True` returns the planned call without making it.

    Optional capability, deliberately outside the Protocol: ``regenerate(key, *, dry_run=False) -> Outcome``
    revokes the key and issues a replacement with the same settings; `Outcome.after["replaced_by"]` holds
    the new secret (shown only through irflow's redactor, never logged). It cannot be undone, and a second
    call finds the old key gone and answers `changed=False`. Connectors that cannot regenerate simply lack
    the method, and the `keys.regenerate` executor raises a ConfigError naming the system.
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


@runtime_checkable
class TeamBlocker(Protocol):
    """Blocks a whole team at the gateway: every key of the team is refused, so it stops many users at once."""

    system: str

    def info(self, team: str) -> dict[str, object]: ...

    def block(self, team: str, *, dry_run: bool = False) -> Outcome: ...

    def unblock(self, team: str, *, dry_run: bool = False) -> Outcome: ...
