"""KeyRevoker for Anthropic organization API keys over the Admin API.

A key is its Admin API id (``apikey_01Rj2N8SVvo6BePZj99NhmiT``). Containment is a status change through
``POST /v1/organizations/api_keys/{id}``: block sets ``inactive``, unblock sets ``active`` again, and delete
sets ``archived`` — Anthropic's Admin API has no delete, and archiving is the closest irreversible step:
an archived key can never be reactivated. Every write reads the key first, so a retried task finds
"already ..." instead of failing, and `Outcome.before` holds the status the inverse restores. Every
`requests` failure and every API error leaves this module as one of `irflow.connectors.errors`, decided by
the HTTP status, never by message text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import requests
from pydantic import SecretStr

from irflow.connectors.anthropic_admin.settings import REQUIRED_ENV, AnthropicAdminSettings
from irflow.connectors.errors import ConfigError, Conflict, InvalidRequest
from irflow.connectors.http import MESSAGE_MAX, ErrorReport, JsonApi, Wording, cursor_pages, shows_tail
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "anthropic"
API_VERSION = "2023-06-01"
PAGE_MAX = 1000
"""The list route's documented maximum `limit` (1..1000, default 20)."""
MIN_TAIL = 4
KEY_FIELDS = ("id", "name", "status", "partial_key_hint", "created_at", "created_by", "expires_at")
ID_FORMAT = ("Anthropic keys are named by their Admin API id (for example 'apikey_01Rj2N8SVvo6BePZj99NhmiT'); "
             "a key's secret value is not an id: resolve it with find_by_hint()")
NO_REACTIVATION = "the key is archived: Anthropic cannot reactivate an archived key; issue a new one"
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
Status = Literal["active", "inactive", "archived"]
WORDING = Wording(reach="the API", bad_url="IRFLOW_ANTHROPIC_API_URL is not a usable URL",
                  not_json="is IRFLOW_ANTHROPIC_API_URL the API?")


def _check_id(key: str) -> str:
    """The id as the route needs it; InvalidRequest (which never repeats the input) otherwise.

    The input is not echoed: a caller who passes the leaked secret by mistake must not find it in an
    exception, a log line or a Prefect artifact, and it must never reach a URL.
    """
    if not _ID.fullmatch(key) or key.startswith("sk-"):
        raise InvalidRequest(ID_FORMAT, system=SYSTEM)
    return key


def _error_report(resp: requests.Response) -> ErrorReport:
    """Anthropic's error answer ``{"type": "error", "error": {"type", "message"}, "request_id"}`` in one line.

    Anthropic has no "unknown route" code, so every 404 is a NotFound.
    """
    try:
        data = resp.json()
    except ValueError:
        return ErrorReport(resp.text.strip()[:MESSAGE_MAX] or resp.reason or "no body")
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return ErrorReport(str(data)[:MESSAGE_MAX])
    kind = "" if err.get("type") is None else str(err.get("type"))
    return ErrorReport(str(err.get("message") or "") + (f" [{kind}]" if kind else ""))


class _Http(JsonApi):
    """One API base, one admin key, one `requests.Session`; every call has a timeout and fails typed.

    The admin key lives only in a SecretStr and in the x-api-key header of each request: never in a URL,
    an exception message or a repr, and any echo of it in an API answer is masked. 500 api_error, 529
    overloaded_error and any proxy's 5xx in between are Unavailable; a 429 waits for its ``retry-after``.
    """

    def __init__(self, settings: AnthropicAdminSettings, session: requests.Session | None = None) -> None:
        if settings.admin_key is None:
            raise ConfigError(f"the Anthropic admin client needs {', '.join(REQUIRED_ENV.values())}", system=SYSTEM)
        super().__init__(system=SYSTEM, base_url=settings.api_url, timeout=settings.timeout, wording=WORDING,
                         session=session)
        self._admin_key: SecretStr = settings.admin_key

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self._admin_key.get_secret_value(), "anthropic-version": API_VERSION}

    def _secrets(self) -> list[str]:
        return [self._admin_key.get_secret_value()]

    def _report(self, resp: requests.Response) -> ErrorReport:
        return _error_report(resp)


def describe(raw: Mapping[str, Any]) -> dict[str, object]:
    """An Admin API `api_key` object as irflow reports it, with the Protocol-level `blocked` / `deleted`.

    `blocked` is "Anthropic refuses this key" (inactive, archived or expired); `deleted` is "archived",
    the state `delete` leaves, so flows read the same two flags from every KeyRevoker.
    """
    state: dict[str, object] = {name: raw.get(name) for name in KEY_FIELDS}
    scope = raw.get("scope")  # newer answers: {"type": "workspace", "workspace_id": ...}
    from_scope = scope.get("workspace_id") if isinstance(scope, dict) else None
    state["workspace_id"] = raw.get("workspace_id") or from_scope
    state["blocked"] = raw.get("status") != "active"
    state["deleted"] = raw.get("status") == "archived"
    return state


def _path(key: str) -> str:
    return f"/v1/organizations/api_keys/{_check_id(key)}"


def _planned(key: str, status: Status) -> PlannedCall:
    path = _path(key)
    return PlannedCall(SYSTEM, f"POST {path}", {"method": "POST", "path": path, "body": {"status": status}})


def _dry(call: PlannedCall) -> Outcome:
    # No read either: a dry run must work when the API is unreachable and leave no trace in its logs.
    return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run: nothing sent to Anthropic")


def _already(status: object, wanted: Status) -> str | None:
    """Why no write is needed ("already ..."), or None when the status has to change."""
    if status == wanted:
        return {"inactive": "already blocked", "active": "already unblocked", "archived": "already archived"}[wanted]
    if wanted == "inactive" and status in ("archived", "expired"):
        return f"already {status}: Anthropic refuses the key for good"
    return None


class AnthropicKeys:
    """KeyRevoker for Anthropic API keys: block = inactive, unblock = active, delete = archived (for good)."""

    system = SYSTEM

    def __init__(self, settings: AnthropicAdminSettings, *, session: requests.Session | None = None) -> None:
        self._http = _Http(settings, session)

    def __repr__(self) -> str:
        return f"AnthropicKeys({self._http.base_url!r})"

    def info(self, key: str) -> dict[str, object]:
        """The key as GET /v1/organizations/api_keys/{id} describes it; NotFound when there is no such key."""
        return describe(self._http.get(_path(key)))

    def block(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Make Anthropic refuse the key (status ``inactive``); inverse: `unblock`."""
        return self._set_status(key, "inactive", dry_run)

    def unblock(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Let the key through again (status ``active``); inverse: `block`. Archived keys cannot come back."""
        return self._set_status(key, "active", dry_run)

    def delete(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Archive the key: Anthropic has no delete, and an archived key can never be reactivated.

        Irreversible like a delete elsewhere; `before` keeps the key's description for the record.
        """
        return self._set_status(key, "archived", dry_run)

    def find_by_hint(self, tail: str, *, workspace_id: str | None = None,
                     page_size: int = PAGE_MAX) -> list[dict[str, object]]:
        """Every key whose partial hint shows this tail; each `id` is ready for block/delete.

        Pages GET /v1/organizations/api_keys with `limit`/`after_id` until `has_more` is false. More than one
        match means the tail is ambiguous: do not act blindly. `tail` may be the whole leaked key; it is only
        compared locally, never sent.
        """
        tail = tail.strip()
        if len(tail) < MIN_TAIL:
            raise InvalidRequest(f"a tail of at least {MIN_TAIL} characters is needed to tell keys apart",
                                 system=SYSTEM)
        params = {"limit": str(max(1, min(page_size, PAGE_MAX)))}
        if workspace_id is not None:
            params["workspace_id"] = _check_id(workspace_id)
        return [describe(raw) for raw in self._pages(params) if shows_tail(raw.get("partial_key_hint"), tail)]

    def _pages(self, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        return cursor_pages(lambda query: self._http.get("/v1/organizations/api_keys", query), params, "after_id")

    def _set_status(self, key: str, wanted: Status, dry_run: bool) -> Outcome:
        call = _planned(key, wanted)
        if dry_run:
            return _dry(call)
        before = self.info(key)
        detail = _already(before["status"], wanted)
        if detail:
            return Outcome(call, before, before, changed=False, detail=detail)
        if before["status"] == "archived":  # checked here so no doomed write is sent
            raise InvalidRequest(NO_REACTIVATION, system=SYSTEM)
        self._http.post(_path(key), {"status": wanted})
        after = self.info(key)
        if after["status"] != wanted:
            raise Conflict(f"Anthropic answered OK but the key is {after['status']}, not {wanted}", system=SYSTEM)
        done = "archived; Anthropic cannot reactivate an archived key" if wanted == "archived" else ""
        return Outcome(call, before, after, changed=True, detail=done)
