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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests

from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from irflow.connectors.gateway.interface import IssuedKey
from irflow.connectors.litellm.settings import REQUIRED_ENV, LiteLLMSettings
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "litellm"
KEY_FIELDS = ("blocked", "key_alias", "key_name", "user_id", "team_id", "spend", "max_budget",
              "rpm_limit", "tpm_limit", "expires")
"""What `info()` reports of a key: enough to audit a containment and to restore its limits."""
LIMIT_FIELDS = ("rpm_limit", "tpm_limit", "max_budget")
CUSTOMER_FIELDS = ("blocked", "alias", "spend", "budget_id", "allowed_model_region", "default_model")
TEAM_FIELDS = ("blocked", "team_alias", "organization_id", "spend", "max_budget", "rpm_limit", "tpm_limit")
NO_GRACE = "0s"
"""`grace_period` sent with /key/regenerate: a leaked key must stop at once, even on a proxy whose
LITELLM_KEY_ROTATION_GRACE_PERIOD would keep it working (`_insert_deprecated_key` takes ours first)."""
TEAM_CACHE_NOTE = ("blocked in the proxy's database; a proxy without the fix for BerriAI/litellm#35565 admits "
                   "keys whose team it has cached until that cache entry expires")
NOT_FOUND_TYPES = frozenset({"not_found_error", "not_found", "token_not_found_in_db"})
"""`ProxyException.type` values the proxy uses for "no such object" (ProxyErrorTypes and the customer routes)."""
DEFAULT_RETRY_AFTER = 1.0
MESSAGE_MAX = 300
NO_SESSIONS = ("LiteLLM keeps no end-user sessions: an end user is named per request (the `user` field), "
               "so suspend is what stops them; nothing to revoke")


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


@dataclass(frozen=True)
class _ErrorBody:
    """What an error answer says: the proxy's `{"error": {...}}` (ProxyException) or FastAPI's `{"detail": ...}`."""

    message: str
    type: str | None = None
    routing: bool = False
    """True for Starlette's own `{"detail": "Not Found"}` / "Method Not Allowed": the route, not the object."""


def _error_body(resp: requests.Response) -> _ErrorBody:
    try:
        data = resp.json()
    except ValueError:
        return _ErrorBody(resp.text.strip() or resp.reason or "no body")
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        kind = err.get("type")
        return _ErrorBody(str(err.get("message") or ""), str(kind) if kind is not None else None)
    if isinstance(data, dict) and "detail" in data:
        return _detail_body(data["detail"])
    return _ErrorBody(str(data))


def _detail_body(detail: object) -> _ErrorBody:
    if isinstance(detail, str):
        return _ErrorBody(detail, routing=True)
    if isinstance(detail, list):  # FastAPI validation: [{"loc": [...], "msg": ..., "type": ...}]
        parts = [f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail if isinstance(d, dict)]
        return _ErrorBody("; ".join(parts[:5]) or "validation error", "validation_error")
    if isinstance(detail, dict):  # HTTPException(detail={"error": ...}) as the customer routes raise
        return _ErrorBody(str(detail.get("error") or detail.get("message") or detail))
    return _ErrorBody(str(detail))


def _retry_after(resp: requests.Response) -> float:
    """Seconds to wait, from Retry-After as delta-seconds or an HTTP date; a second when absent or garbled."""
    value = resp.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Http:
    """One proxy, one master key, one `requests.Session`; every call has a timeout and fails typed.

    The master key lives only in a SecretStr and in the Authorization header of each request: never in a
    URL, an exception message or a repr, and any echo of it in a proxy answer is masked.
    """

    def __init__(self, settings: LiteLLMSettings, session: requests.Session | None = None) -> None:
        if settings.proxy_url is None or settings.master_key is None:
            needed = settings.missing() or list(REQUIRED_ENV.values())
            raise ConfigError(f"the LiteLLM client needs {', '.join(needed)}", system=SYSTEM)
        self.base_url = settings.proxy_url
        self._master_key = settings.master_key
        self._timeout = settings.timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"_Http({self.base_url!r})"

    def get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send("POST", path, body=body)

    def _send(self, method: str, path: str, *, params: dict[str, str] | None = None,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        where = f"{method} {path}"  # never the query string: it may carry a key
        headers = {"Authorization": f"Bearer {self._master_key.get_secret_value()}"}
        try:
            resp = self._session.request(method, self.base_url + path, params=params, json=body,
                                         headers=headers, timeout=self._timeout)
        except requests.Timeout as exc:
            raise Unavailable(f"{where}: no answer within {self._timeout:g}s", system=SYSTEM) from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise ConfigError(f"LITELLM_PROXY_URL is not a usable URL ({type(exc).__name__})", system=SYSTEM) from exc
        except requests.RequestException as exc:
            raise Unavailable(f"{where}: cannot reach the proxy ({type(exc).__name__})", system=SYSTEM) from exc
        if resp.status_code >= 400:
            raise self._error(where, resp)
        return self._json(where, resp)

    def _error(self, where: str, resp: requests.Response) -> ConnectorError:
        status, body = resp.status_code, _error_body(resp)
        message = self._scrub(f"{where}: {body.message}" + (f" [{body.type}]" if body.type else ""))
        if status in (401, 403):
            return AuthError(message, system=SYSTEM, status=status)
        if status in (404, 405) and body.routing:
            return ConfigError(f"{message}; is LITELLM_PROXY_URL the proxy's base URL?", system=SYSTEM, status=status)
        # /key/block and /key/unblock raise type "bad_request_error" with code 404 for an unknown key, so the
        # status decides; a 400 counts as "not found" only when its structured type says so.
        if status == 404 or body.type in NOT_FOUND_TYPES:
            return NotFound(message, system=SYSTEM, status=status)
        if status == 409:
            return Conflict(message, system=SYSTEM, status=status)
        if status == 429:
            return RateLimited(message, retry_after=_retry_after(resp), system=SYSTEM, status=status)
        if status >= 500:
            return Unavailable(message, system=SYSTEM, status=status)
        return InvalidRequest(message, system=SYSTEM, status=status)

    def _json(self, where: str, resp: requests.Response) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError as exc:
            raise ConfigError(f"{where}: HTTP {resp.status_code} without JSON; is LITELLM_PROXY_URL the proxy?",
                              system=SYSTEM) from exc
        return data if isinstance(data, dict) else {"result": data}

    def _scrub(self, text: str) -> str:
        # The proxy abbreviates keys it echoes, but a message must never carry the master key whatever it says.
        text = text.replace(self._master_key.get_secret_value(), "**********")
        return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def _planned(method: str, path: str, body: dict[str, Any]) -> PlannedCall:
    return PlannedCall(SYSTEM, f"{method} {path}", {"method": method, "path": path, "body": body})


def _dry(call: PlannedCall) -> Outcome:
    # No read either: a dry run must work when the proxy is unreachable and leave no trace in its logs.
    return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run: nothing sent to the proxy")


def _expect_blocked(after: Mapping[str, object], wanted: bool, what: str) -> None:
    """Verify at the target: a 2xx that did not change the state is a conflict, not a success."""
    if after["blocked"] is not wanted:
        state = "not blocked" if wanted else "still blocked"
        raise Conflict(f"the proxy answered OK but {what} is {state}", system=SYSTEM)


def _toggle(call: PlannedCall, send: Callable[[], object], read: Callable[[], dict[str, object]], blocked: bool,
            what: str, detail: str = "") -> Outcome:
    """Read, write only if needed, read again: the block/unblock shape every flag route shares."""
    before = read()
    if before["blocked"] is blocked:
        same = "already blocked" if blocked else "already unblocked"
        return Outcome(call, before, before, changed=False, detail=same)
    send()
    after = read()
    _expect_blocked(after, blocked, what)
    return Outcome(call, before, after, changed=True, detail=detail if blocked else "")


class LiteLLMKeys:
    """KeyRevoker for LiteLLM virtual keys, plus `rate_limit` / `restore_limits` for softer containment."""

    system = SYSTEM

    def __init__(self, settings: LiteLLMSettings, *, session: requests.Session | None = None) -> None:
        self._http = _Http(settings, session)

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
        call = _planned("POST", "/key/delete", {"keys": [redact(key)]})
        if dry_run:
            return _dry(call)
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
        call = _planned("POST", "/key/{key}/regenerate", {"key": redact(key), "grace_period": NO_GRACE})
        if dry_run:
            return _dry(call)
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
        call = _planned("POST", path, {"key": redact(key)})
        if dry_run:
            return _dry(call)
        return _toggle(call, lambda: self._http.post(path, {"key": wire_key(key)}), lambda: self.info(key), blocked,
                       "the key")

    def _update_limits(self, key: str, wanted: Mapping[str, int | float | None], dry_run: bool,
                       same: str) -> Outcome:
        call = _planned("POST", "/key/update", {"key": redact(key), **wanted})
        if dry_run:
            return _dry(call)
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


class LiteLLMUsers:
    """UserBlocker for LiteLLM end users ("customers"): the `user` an AI app passes on each request.

    Unsuspend uses POST /customer/update {"blocked": false}, not /customer/unblock: the latter only edits
    the enterprise in-memory `blocked_user_list` and answers 400 without it, leaving the database flag
    that /customer/block set untouched (BerriAI/litellm#35564; fixed path: PR #34696).
    """

    system = SYSTEM

    def __init__(self, settings: LiteLLMSettings, *, session: requests.Session | None = None) -> None:
        self._http = _Http(settings, session)

    def __repr__(self) -> str:
        return f"LiteLLMUsers({self._http.base_url!r})"

    def info(self, user: str) -> dict[str, object]:
        """The end user as GET /customer/info describes it; an id the proxy never saw is simply not blocked.

        /customer/block upserts, so blocking an end user before their first request is legitimate; treating
        the proxy's 404 as `{"blocked": False, "exists": False}` lets suspend and its checks work for them.
        """
        try:
            body = self._http.get("/customer/info", {"end_user_id": user})
        except NotFound:
            return {"blocked": False, "exists": False}
        state: dict[str, object] = {name: body.get(name) for name in CUSTOMER_FIELDS}
        state.update(blocked=bool(body.get("blocked")), exists=True)
        return state

    def suspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Make the proxy refuse requests naming this end user (POST /customer/block); inverse: `unsuspend`."""
        call = _planned("POST", "/customer/block", {"user_ids": [user]})
        if dry_run:
            return _dry(call)
        before = self.info(user)
        if before["blocked"]:
            return Outcome(call, before, before, changed=False, detail="already suspended")
        try:
            self._http.post("/customer/block", {"user_ids": [user]})
        except RateLimited:
            raise
        except Unavailable as exc:
            return self._landed_despite(call, before, user, exc)
        after = self.info(user)
        _expect_blocked(after, True, "the end user")
        return Outcome(call, before, after, changed=True)

    def unsuspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Let the end user through again (POST /customer/update blocked=false); inverse: `suspend`."""
        call = _planned("POST", "/customer/update", {"user_id": user, "blocked": False})
        if dry_run:
            return _dry(call)
        before = self.info(user)
        if not before["blocked"]:
            return Outcome(call, before, before, changed=False, detail="already unsuspended")
        self._http.post("/customer/update", {"user_id": user, "blocked": False})
        after = self.info(user)
        if after["blocked"]:
            raise Conflict("the proxy kept the end user blocked after /customer/update blocked=false; proxies "
                           "without BerriAI/litellm PR #34696 drop it: upgrade the proxy", system=SYSTEM)
        return Outcome(call, before, after, changed=True)

    def revoke_sessions(self, user: str, *, dry_run: bool = False) -> Outcome:
        """A no-op that says why: the proxy has no end-user sessions to end."""
        call = PlannedCall(SYSTEM, "revoke sessions", {"user": user})
        return Outcome(call, {}, {}, changed=False, dry_run=dry_run, detail=NO_SESSIONS)

    def _landed_despite(self, call: PlannedCall, before: dict[str, object], user: str,
                        exc: Unavailable) -> Outcome:
        # Some proxy versions write the block and then fail serialising the answer with a 500
        # (BerriAI/litellm#39011): trust the state at the target over the status of the answer.
        after = self.info(user)
        if not after["blocked"]:
            raise exc
        detail = f"the proxy answered HTTP {exc.status} but the end user is blocked (BerriAI/litellm#39011)"
        return Outcome(call, before, after, changed=True, detail=detail)


class LiteLLMTeams:
    """TeamBlocker for LiteLLM teams: a blocked team's keys are all refused (`common_checks`: "Team=... is blocked").

    Team ids are not secrets, so they travel as given. An unknown team is NotFound: /team/block does not
    upsert. Some older proxies answer /team/info for an unknown team with 400 "Authentication Error,
    'NoneType' ..." instead of 404, which arrives here as InvalidRequest.
    """

    system = SYSTEM

    def __init__(self, settings: LiteLLMSettings, *, session: requests.Session | None = None) -> None:
        self._http = _Http(settings, session)

    def __repr__(self) -> str:
        return f"LiteLLMTeams({self._http.base_url!r})"

    def info(self, team: str) -> dict[str, object]:
        """The team as GET /team/info describes it (`team_info`: blocked, alias, budget, limits)."""
        body = self._http.get("/team/info", {"team_id": team})
        raw = body.get("team_info")
        info: dict[str, Any] = raw if isinstance(raw, dict) else {}
        state: dict[str, object] = {name: info.get(name) for name in TEAM_FIELDS}
        state["blocked"] = bool(info.get("blocked"))
        return state

    def block(self, team: str, *, dry_run: bool = False) -> Outcome:
        """Refuse every request made with a key of this team (POST /team/block); inverse: `unblock`."""
        return self._set_blocked(team, True, dry_run)

    def unblock(self, team: str, *, dry_run: bool = False) -> Outcome:
        """Let the team's keys through again (POST /team/unblock); inverse: `block`."""
        return self._set_blocked(team, False, dry_run)

    def _set_blocked(self, team: str, blocked: bool, dry_run: bool) -> Outcome:
        path = "/team/block" if blocked else "/team/unblock"
        call = _planned("POST", path, {"team_id": team})
        if dry_run:
            return _dry(call)
        return _toggle(call, lambda: self._http.post(path, {"team_id": team}), lambda: self.info(team), blocked,
                       "the team", TEAM_CACHE_NOTE)
