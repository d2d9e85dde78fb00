"""KeyRevoker for OpenAI project API keys over the Admin API: describe, find by redacted tail, delete.

OpenAI's Admin API cannot block a key: the only containment is
``DELETE /v1/organization/projects/{project_id}/api_keys/{key_id}``, and it is irreversible (irflow's
policy gates it behind an approval; this module only makes the call). `block` and `unblock` therefore
fail typed and loudly instead of pretending. A key is named ``"<project_id>/<key_id>"`` (``proj_abc/key_abc``),
the two ids the Admin API routes use; its secret value is never an id and never goes on the wire:
`find_by_redacted` resolves a leaked key's tail to the id.

Every `requests` failure and every API error leaves this module as one of `irflow.connectors.errors`,
decided by the HTTP status and the structured `error.code`, never by message text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests
from pydantic import SecretStr

from irflow.connectors.errors import ConfigError, Conflict, InvalidRequest, NotFound, RateLimited, Unavailable
from irflow.connectors.http import (
    DEFAULT_RETRY_AFTER,
    MESSAGE_MAX,
    ErrorReport,
    JsonApi,
    Wording,
    cursor_pages,
    header_seconds,
    shows_tail,
)
from irflow.connectors.openai_admin.settings import REQUIRED_ENV, OpenAIAdminSettings
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "openai"
PAGE_MAX = 100
"""The list route's documented maximum `limit` (1..100, default 20)."""
MIN_TAIL = 4
NO_BLOCK = ("OpenAI project API keys cannot be blocked or unblocked: the Admin API only deletes them "
            "(DELETE /v1/organization/projects/{project_id}/api_keys/{key_id}), which is irreversible; "
            "use delete (approval required) or block the key at the gateway instead")
ID_FORMAT = ("OpenAI keys are named '<project_id>/<key_id>' (for example 'proj_abc/key_abc'), the ids the "
             "Admin API routes use; a key's secret value is not an id: resolve it with find_by_redacted()")
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
OwnerAccess = Literal["active", "inactive", "any"]
KEY_FIELDS = ("id", "name", "redacted_value", "created_at", "last_used_at")
"""Documented on every `organization.project.api_key`: enough to audit a deletion and to tell whose key it was."""
NEWER_FIELDS = ("status", "expires_at", "owner_project_access")
"""Reported when the API sends them (newer answers do); absent ones are not invented."""
WORDING = Wording(reach="the API", bad_url="IRFLOW_OPENAI_API_URL is not a usable URL",
                  not_json="is IRFLOW_OPENAI_API_URL the API?",
                  wrong_url="is IRFLOW_OPENAI_API_URL the API's base URL?")


@dataclass(frozen=True)
class KeyRef:
    """A project API key as the Admin API addresses it."""

    project_id: str
    key_id: str

    @classmethod
    def parse(cls, key: str) -> KeyRef:
        """Split ``"<project_id>/<key_id>"``; InvalidRequest (which never repeats the input) otherwise.

        The input is not echoed because a caller who passes the leaked secret by mistake must not find it
        in an exception, a log line or a Prefect artifact.
        """
        project_id, sep, key_id = key.partition("/")
        parts_ok = all(_ID.fullmatch(part) and not part.startswith("sk-") for part in (project_id, key_id))
        if not sep or not parts_ok:
            raise InvalidRequest(ID_FORMAT, system=SYSTEM)
        return cls(project_id, key_id)

    def path(self) -> str:
        return f"/v1/organization/projects/{self.project_id}/api_keys/{self.key_id}"

    def __str__(self) -> str:
        return f"{self.project_id}/{self.key_id}"


def _error_report(resp: requests.Response) -> ErrorReport:
    """OpenAI's error object ``{"error": {"message", "type", "param", "code"}}`` as one line with its tags.

    404 ``unknown_url`` is the route, not the key: it must never read as "already deleted".
    """
    try:
        data = resp.json()
    except ValueError:
        return ErrorReport(resp.text.strip()[:MESSAGE_MAX] or resp.reason or "no body")
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return ErrorReport(str(data)[:MESSAGE_MAX])
    kind, code = (None if err.get(name) is None else str(err.get(name)) for name in ("type", "code"))
    tags = "/".join(t for t in (kind, code) if t)
    text = str(err.get("message") or "") + (f" [{tags}]" if tags else "")
    return ErrorReport(text, wrong_url=resp.status_code == 404 and code == "unknown_url", code=code)


def _go_duration(value: str) -> float | None:
    """Seconds in a Go duration such as ``1s``, ``6m0s`` or ``12ms`` (OpenAI's x-ratelimit-reset-* format)."""
    parts = _GO_DURATION.findall(value)
    if not parts or "".join(number + unit for number, unit in parts) != value:
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def _milliseconds(value: str) -> float | None:
    try:
        return max(0.0, float(value)) / 1000
    except ValueError:
        return None


def retry_after(headers: Mapping[str, str]) -> float:
    """Seconds to wait after a 429, from the most precise hint OpenAI sent; a second when it sent none.

    Order: ``retry-after-ms`` (what OpenAI's SDKs read first), ``Retry-After``, then the request limit's
    ``x-ratelimit-reset-requests`` Go duration (``1s``, ``6m0s``).
    """
    parsers = (("retry-after-ms", _milliseconds), ("Retry-After", header_seconds),
               ("x-ratelimit-reset-requests", _go_duration))
    for name, parse in parsers:
        raw = headers.get(name)
        seconds = parse(raw.strip()) if raw else None
        if seconds is not None:
            return seconds
    return DEFAULT_RETRY_AFTER


class _Http(JsonApi):
    """One API base, one admin key, one `requests.Session`; every call has a timeout and fails typed.

    The admin key lives only in a SecretStr and in the Authorization header of each request: never in a
    URL, an exception message or a repr, and any echo of it in an API answer is masked.
    """

    def __init__(self, settings: OpenAIAdminSettings, session: requests.Session | None = None) -> None:
        if settings.admin_key is None:
            raise ConfigError(f"the OpenAI admin client needs {', '.join(REQUIRED_ENV.values())}", system=SYSTEM)
        super().__init__(system=SYSTEM, base_url=settings.api_url, timeout=settings.timeout, wording=WORDING,
                         session=session)
        self._admin_key: SecretStr = settings.admin_key

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._admin_key.get_secret_value()}"}

    def _secrets(self) -> list[str]:
        return [self._admin_key.get_secret_value()]

    def _report(self, resp: requests.Response) -> ErrorReport:
        return _error_report(resp)

    def _retry_after(self, resp: requests.Response) -> float:
        return retry_after(resp.headers)


def _owner(raw: Mapping[str, Any]) -> dict[str, object]:
    """Who owns the key: a user or a service account (docs and live answers differ in the user's fields)."""
    found = raw.get("owner")
    owner: Mapping[str, Any] = found if isinstance(found, dict) else {}
    kind = owner.get("type")
    member = owner.get(kind) if kind in ("user", "service_account") else None
    who: Mapping[str, Any] = member if isinstance(member, dict) else {}
    return {"type": kind, "id": who.get("id"), "name": who.get("name"), "email": who.get("email"),
            "role": who.get("role")}


def describe(project_id: str, raw: Mapping[str, Any]) -> dict[str, object]:
    """An `organization.project.api_key` object as irflow reports it; `key` is what `delete` takes."""
    state: dict[str, object] = {"key": f"{project_id}/{raw.get('id')}", "project_id": project_id, "exists": True}
    state.update({name: raw.get(name) for name in KEY_FIELDS})
    state.update({name: raw[name] for name in NEWER_FIELDS if name in raw})
    state["owner"] = _owner(raw)
    return state


def _planned(method: str, path: str) -> PlannedCall:
    return PlannedCall(SYSTEM, f"{method} {path}", {"method": method, "path": path})


def _dry(call: PlannedCall) -> Outcome:
    # No read either: a dry run must work when the API is unreachable and leave no trace in its logs.
    return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run: nothing sent to OpenAI")


class OpenAIKeys:
    """KeyRevoker for OpenAI project API keys: `info` and `delete` work, `block`/`unblock` cannot exist."""

    system = SYSTEM

    def __init__(self, settings: OpenAIAdminSettings, *, session: requests.Session | None = None) -> None:
        self._http = _Http(settings, session)

    def __repr__(self) -> str:
        return f"OpenAIKeys({self._http.base_url!r})"

    def info(self, key: str) -> dict[str, object]:
        """The key as GET .../api_keys/{key_id} describes it (owner, redacted value, last use); NotFound if gone."""
        ref = KeyRef.parse(key)
        return describe(ref.project_id, self._http.get(ref.path()))

    def block(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Always InvalidRequest: OpenAI has no way to suspend a key, and a silent no-op would hide that."""
        raise InvalidRequest(NO_BLOCK, system=SYSTEM)

    def unblock(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Always InvalidRequest: there is no block to undo, and a deleted key cannot come back."""
        raise InvalidRequest(NO_BLOCK, system=SYSTEM)

    def delete(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Delete the project API key for good (irreversible; `before` keeps its description for the record).

        The key is read first, so a retried task finds "already deleted" instead of failing; a 404 counts
        as "already deleted" only once the project's key list answers, so a wrong project id or base URL
        can never pass for a finished containment.
        """
        ref = KeyRef.parse(key)
        call = _planned("DELETE", ref.path())
        if dry_run:
            return _dry(call)
        try:
            before = self.info(key)
        except NotFound:
            self._confirm_project(ref)
            gone = {"exists": False}
            return Outcome(call, gone, gone, changed=False, detail="already deleted")
        return self._delete_known(ref, call, before)

    def find_by_redacted(self, project_id: str, redacted_tail: str, *, page_size: int = PAGE_MAX,
                         owner_project_access: OwnerAccess = "any") -> list[dict[str, object]]:
        """Every key of the project whose redacted value shows this tail; each `key` is ready for `delete`.

        Pages GET .../api_keys with `limit`/`after` until `has_more` is false. `owner_project_access="any"`
        because the default visibility silently leaves out keys whose owner lost project access, and a
        leaked key stays valid either way. More than one match means the tail is ambiguous: do not delete
        blindly. `redacted_tail` may be the whole leaked key; it is only compared locally, never sent.
        """
        if not _ID.fullmatch(project_id):
            raise InvalidRequest("project_id must be an OpenAI project id such as 'proj_abc'", system=SYSTEM)
        if len(redacted_tail.strip()) < MIN_TAIL:
            raise InvalidRequest(f"a tail of at least {MIN_TAIL} characters is needed to tell keys apart",
                                 system=SYSTEM)
        tail = redacted_tail.strip()
        return [describe(project_id, raw) for raw in self._pages(project_id, page_size, owner_project_access)
                if shows_tail(raw.get("redacted_value"), tail)]

    def _pages(self, project_id: str, page_size: int, access: OwnerAccess) -> Iterator[dict[str, Any]]:
        path = f"/v1/organization/projects/{project_id}/api_keys"
        params = {"limit": str(max(1, min(page_size, PAGE_MAX))), "owner_project_access": access}
        return cursor_pages(lambda query: self._http.get(path, query), params, "after")

    def _confirm_project(self, ref: KeyRef) -> None:
        try:
            self._http.get(f"/v1/organization/projects/{ref.project_id}/api_keys", {"limit": "1"})
        except NotFound as exc:
            raise NotFound(f"project {ref.project_id} not found, so key {ref.key_id} cannot be confirmed deleted",
                           system=SYSTEM, status=exc.status) from exc

    def _delete_known(self, ref: KeyRef, call: PlannedCall, before: dict[str, object]) -> Outcome:
        gone = {"exists": False}
        try:
            self._http.delete(ref.path())
        except NotFound:  # deleted by someone else between our read and our DELETE
            return Outcome(call, before, gone, changed=False, detail="already deleted (gone before our DELETE)")
        except RateLimited:
            raise
        except Unavailable as exc:
            return self._landed_despite(ref, call, before, exc)
        if self._exists(ref):
            raise Conflict("OpenAI answered OK to the DELETE but the key still exists", system=SYSTEM)
        return Outcome(call, before, gone, changed=True, detail="deleted; OpenAI keys cannot be restored")

    def _landed_despite(self, ref: KeyRef, call: PlannedCall, before: dict[str, object],
                        exc: Unavailable) -> Outcome:
        # A 5xx or a timeout after the write says nothing about the key: trust the state at the target.
        if self._exists(ref):
            raise exc
        detail = f"OpenAI answered {exc.status or 'no status'} but the key is deleted; it cannot be restored"
        return Outcome(call, before, {"exists": False}, changed=True, detail=detail)

    def _exists(self, ref: KeyRef) -> bool:
        try:
            self._http.get(ref.path())
        except NotFound:
            return False
        return True
