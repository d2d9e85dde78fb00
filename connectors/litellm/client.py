"""The real gateway connectors: KeyRevoker, UserBlocker and TeamBlocker over the LiteLLM proxy admin API.

Virtual keys are blocked with /key/block and /key/unblock, deleted with /key/delete, throttled with
/key/update and replaced with /key/{key}/regenerate; end users ("customers") are blocked with
/customer/block and unblocked with /customer/update; teams are blocked with /team/block and /team/unblock.
Every write reads the target's state first, so a retried task finds "already blocked" instead of
failing, and `Outcome.before` holds what the inverse needs to restore. Every `requests` failure and
every proxy error leaves this module as one of `irflow.connectors.errors`, decided by the HTTP status
and the structure of the proxy's error body, never by its message text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from irflow.connectors.errors import Conflict, InvalidRequest, NotFound, RateLimited, Unavailable
from irflow.connectors.gateway.interface import IssuedKey
from irflow.connectors.litellm.customers import LiteLLMUsers
from irflow.connectors.litellm.proxy import SYSTEM, ProxyApi, dry, planned, toggle
from irflow.connectors.litellm.settings import LiteLLMSettings
from irflow.connectors.litellm.teams import LiteLLMTeams
from irflow.connectors.outcome import Outcome, PlannedCall

__all__ = ["LiteLLMKeys", "LiteLLMTeams", "LiteLLMUsers", "redact", "wire_key"]

KEY_FIELDS = ("blocked", "key_alias", "key_name", "user_id", "team_id", "spend", "max_budget",
              "rpm_limit", "tpm_limit", "expires")
"""What `info()` reports of a key: enough to audit a containment and to restore its limits."""
LIMIT_FIELDS = ("rpm_limit", "tpm_limit", "max_budget")
NO_GRACE = "0s"
"""`grace_period` sent with /key/regenerate: a leaked key must stop at once, even on a proxy whose
LITELLM_KEY_ROTATION_GRACE_PERIOD would keep it working (`_insert_deprecated_key` takes ours first)."""


def wire_key(key: str) -> str:
    """The form of a virtual key that goes on the wire: its SHA-256 token for ``sk-`` keys, else as given.

    The proxy stores keys as `hash_token(key)` and every key route accepts either form
    (`_hash_token_if_needed` hashes only ``sk-`` values). Sending the hash keeps a live, compromised key
    out of the proxy's and any load balancer's access logs: /key/info takes it in the query string.
    """
    return hashlib.sha256(key.encode()).hexdigest() if key.startswith("sk-") else key


def redact(key: str) -> str:
    """Only the last four characters, as LiteLLM shows keys itself (``sk-...abcd``); short values show none."""
    return f"...{key[-4:]}" if len(key) >= 12 else "..."


class LiteLLMKeys:
    """KeyRevoker for LiteLLM virtual keys, plus `rate_limit` / `restore_limits` for softer containment."""

    system = SYSTEM

    def __init__(self, settings: LiteLLMSettings, *, session: requests.Session | None = None) -> None:
        self._http = ProxyApi(settings, session)

    def __repr__(self) -> str:
        return f"LiteLLMKeys({self._http.base_url!r})"

    def health(self) -> None:
        """Reach the proxy with the master key (for `irflow doctor`): GET /key/info without a key describes
        the caller's own key, so this proves both the URL and the master key without touching any other key.
        The proxy authenticates before it looks the key up, so its "not found" (the master key has no row in
        the proxy's key table) still proves the master key was accepted."""
        try:
            self._http.get("/key/info", {})
        except NotFound:
            return

    def info(self, key: str) -> dict[str, object]:
        """The key as GET /key/info describes it (blocked, limits, owner); NotFound when the proxy has no such key."""
        body = self._http.get("/key/info", {"key": wire_key(key)})
        raw = body.get("info")
        info: dict[str, Any] = raw if isinstance(raw, dict) else {}
        state: dict[str, object] = {name: info.get(name) for name in KEY_FIELDS}
        state["blocked"] = bool(info.get("blocked"))  # NULL in the proxy's table for never-blocked keys
        return state

    def block(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Make the proxy refuse every request with this key (POST /key/block); inverse: `unblock`."""
        return self._set_blocked(key, True, dry_run)

    def unblock(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Let the key through again (POST /key/unblock); inverse: `block`."""
        return self._set_blocked(key, False, dry_run)

    def delete(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Delete the key (POST /key/delete).

        Irreversible: `before` keeps the key's settings for the record, never its secret.
        """
        call = planned("POST", "/key/delete", {"keys": [redact(key)]})
        if dry_run:
            return dry(call)
        try:
            before = {**self.info(key), "exists": True}
        except NotFound:
            gone = {"exists": False}
            return Outcome(call, gone, gone, changed=False, detail="already deleted")
        self._http.post("/key/delete", {"keys": [wire_key(key)]})
        try:
            self.info(key)
        except NotFound:
            return Outcome(call, before, {"exists": False}, changed=True,
                           detail="deleted; unblock cannot bring a deleted key back")
        raise Conflict("the proxy answered OK to /key/delete but the key still exists", system=SYSTEM)

    def rate_limit(self, key: str, *, rpm_limit: int | None = None, tpm_limit: int | None = None,
                   max_budget: float | None = None, dry_run: bool = False) -> Outcome:
        """Throttle the key (POST /key/update) instead of cutting it off; `before` holds the previous limits.

        Only the limits given are changed. Undo with `restore_limits(key, outcome.before)`.
        """
        given: dict[str, int | float | None] = {"rpm_limit": rpm_limit, "tpm_limit": tpm_limit,
                                                "max_budget": max_budget}
        wanted = {name: value for name, value in given.items() if value is not None}
        if not wanted:
            raise InvalidRequest("rate_limit needs at least one of rpm_limit, tpm_limit, max_budget", system=SYSTEM)
        return self._update_limits(key, wanted, dry_run, "already limited")

    def restore_limits(self, key: str, previous: Mapping[str, int | float | None], *,
                       dry_run: bool = False) -> Outcome:
        """The inverse of `rate_limit`: put `outcome.before` back exactly, sending null for "no limit".

        /key/update keeps explicitly sent nulls (`model_dump(exclude_unset=True)`), so a key that had no
        limit before the incident gets none again rather than keeping the emergency one.
        """
        wanted = {name: previous[name] for name in LIMIT_FIELDS if name in previous}
        if not wanted:
            raise InvalidRequest("restore_limits needs the `before` of a rate_limit outcome", system=SYSTEM)
        return self._update_limits(key, wanted, dry_run, "limits already as recorded")

    def regenerate(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Revoke the key and issue a replacement with the same settings (POST /key/{token}/regenerate).

        Irreversible, and not idempotent at the proxy: every call issues another secret, and the proxy has
        no operation id to ask whether a lost answer had landed (BerriAI/litellm#38351). So the old key is
        read first: a key the proxy no longer has is "already regenerated (or deleted)" and nothing is sent.
        The path carries the key's SHA-256 token, never the live key; `grace_period` "0s" stops the old key
        at once. `after["replaced_by"]` is the new secret as an IssuedKey, for the redacted action record
        only. Community proxies refuse with a 500 ("an Enterprise feature"), which fails as Unavailable.
        """
        call = planned("POST", "/key/{key}/regenerate", {"key": redact(key), "grace_period": NO_GRACE})
        if dry_run:
            return dry(call)
        try:
            before = {**self.info(key), "exists": True}
        except NotFound:
            gone = {"exists": False}
            return Outcome(call, gone, gone, changed=False, detail="already regenerated or deleted")
        try:
            body = self._http.post(f"/key/{quote(wire_key(key), safe='')}/regenerate", {"grace_period": NO_GRACE})
        except RateLimited:
            raise
        except Unavailable as exc:
            return self._regenerated_despite(call, before, key, exc)
        new = body.get("key")
        if not isinstance(new, str) or not new.startswith("sk-"):
            raise Conflict("the proxy answered OK to /key/regenerate without a new key", system=SYSTEM)
        issued = IssuedKey(new)
        self._expect_replaced(key, issued)
        return Outcome(call, before, {"exists": False, "replaced_by": issued}, changed=True,
                       detail="regenerated: the old key is refused, its replacement keeps its settings")

    def _expect_replaced(self, old: str, new: IssuedKey) -> None:
        """Verify at the target: the old key has no row any more and the new one has (info sends only hashes)."""
        try:
            self.info(old)
        except NotFound:
            pass
        else:
            raise Conflict("the proxy answered OK to /key/regenerate but the old key still exists", system=SYSTEM)
        try:
            self.info(new)
        except NotFound as exc:
            raise Conflict("the proxy answered OK to /key/regenerate but has no row for the new key",
                           system=SYSTEM) from exc

    def _regenerated_despite(self, call: PlannedCall, before: dict[str, object], key: str,
                             exc: Unavailable) -> Outcome:
        # A timeout or 5xx may come after the write: if the old key is gone, containment happened but the new
        # secret went with the lost answer; retrying would only find "already regenerated".
        try:
            self.info(key)
        except NotFound:
            answer = f"HTTP {exc.status}" if exc.status else "no answer"
            detail = (f"the proxy replaced the key but its answer was lost ({answer}): the new secret cannot be "
                      "recovered; regenerate the replacement to issue one (BerriAI/litellm#38351)")
            return Outcome(call, before, {"exists": False, "replaced_by": None}, changed=True, detail=detail)
        raise exc

    def _set_blocked(self, key: str, blocked: bool, dry_run: bool) -> Outcome:
        path = "/key/block" if blocked else "/key/unblock"
        call = planned("POST", path, {"key": redact(key)})
        if dry_run:
            return dry(call)
        return toggle(call, lambda: self._http.post(path, {"key": wire_key(key)}), lambda: self.info(key), blocked,
                      "the key")

    def _update_limits(self, key: str, wanted: Mapping[str, int | float | None], dry_run: bool,
                       same: str) -> Outcome:
        call = planned("POST", "/key/update", {"key": redact(key), **wanted})
        if dry_run:
            return dry(call)
        current = self.info(key)
        before = {name: current[name] for name in wanted}
        if before == dict(wanted):
            return Outcome(call, before, before, changed=False, detail=same)
        self._http.post("/key/update", {"key": wire_key(key), **wanted})
        latest = self.info(key)
        after = {name: latest[name] for name in wanted}
        if after != dict(wanted):
            raise Conflict(f"the proxy answered OK to /key/update but the limits are {after}", system=SYSTEM)
        return Outcome(call, before, after, changed=True)

