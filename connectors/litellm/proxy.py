"""What the LiteLLM connectors share: the proxy's admin API over `irflow.connectors.http`, and the shapes of a write.

The proxy answers errors as its own `{"error": {...}}` (ProxyException) or as FastAPI's `{"detail": ...}`;
this module reads both and decides by status and structure, never by message text. `toggle` is the
read / write-if-needed / read-again shape every block-flag route (keys, teams) shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import requests
from pydantic import SecretStr

from irflow.connectors.errors import ConfigError, Conflict
from irflow.connectors.http import ErrorReport, JsonApi, Wording
from irflow.connectors.litellm.settings import REQUIRED_ENV, LiteLLMSettings
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "litellm"
NOT_FOUND_TYPES = frozenset({"not_found_error", "not_found", "token_not_found_in_db"})
"""`ProxyException.type` values the proxy uses for "no such object" (ProxyErrorTypes and the customer routes)."""
WORDING = Wording(reach="the proxy", bad_url="LITELLM_PROXY_URL is not a usable URL",
                  not_json="is LITELLM_PROXY_URL the proxy?", wrong_url="is LITELLM_PROXY_URL the proxy's base URL?")


def _error_text(resp: requests.Response) -> tuple[str, str | None, bool]:
    """(message, structured type, routing) of an error answer; `routing` is True for Starlette's own
    `{"detail": "Not Found"}` / "Method Not Allowed": the route, not the object, is missing."""
    try:
        data = resp.json()
    except ValueError:
        return resp.text.strip() or resp.reason or "no body", None, False
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        kind = err.get("type")
        return str(err.get("message") or ""), str(kind) if kind is not None else None, False
    if isinstance(data, dict) and "detail" in data:
        return _detail_text(data["detail"])
    return str(data), None, False


def _detail_text(detail: object) -> tuple[str, str | None, bool]:
    if isinstance(detail, str):
        return detail, None, True
    if isinstance(detail, list):  # FastAPI validation: [{"loc": [...], "msg": ..., "type": ...}]
        parts = [f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail if isinstance(d, dict)]
        return "; ".join(parts[:5]) or "validation error", "validation_error", False
    if isinstance(detail, dict):  # HTTPException(detail={"error": ...}) as the customer routes raise
        return str(detail.get("error") or detail.get("message") or detail), None, False
    return str(detail), None, False


class ProxyApi(JsonApi):
    """One proxy, one master key, one `requests.Session`; every call has a timeout and fails typed.

    The master key lives only in a SecretStr and in the Authorization header of each request: never in a
    URL, an exception message or a repr, and any echo of it in a proxy answer is masked (the proxy
    abbreviates keys it echoes, but a message must never carry the master key whatever it says).
    """

    def __init__(self, settings: LiteLLMSettings, session: requests.Session | None = None) -> None:
        if settings.proxy_url is None or settings.master_key is None:
            needed = settings.missing() or list(REQUIRED_ENV.values())
            raise ConfigError(f"the LiteLLM client needs {', '.join(needed)}", system=SYSTEM)
        super().__init__(system=SYSTEM, base_url=settings.proxy_url, timeout=settings.timeout, wording=WORDING,
                         session=session)
        self._master_key: SecretStr = settings.master_key

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._master_key.get_secret_value()}"}

    def _secrets(self) -> list[str]:
        return [self._master_key.get_secret_value()]

    def _report(self, resp: requests.Response) -> ErrorReport:
        # /key/block and /key/unblock raise type "bad_request_error" with code 404 for an unknown key, so the
        # status decides; a 400 counts as "not found" only when its structured type says so.
        message, kind, routing = _error_text(resp)
        return ErrorReport(message + (f" [{kind}]" if kind else ""), not_found=kind in NOT_FOUND_TYPES,
                           wrong_url=routing and resp.status_code in (404, 405))


def planned(method: str, path: str, body: Mapping[str, object]) -> PlannedCall:
    """The call as dry-run shows it and the action record keeps it: never a live key (callers redact)."""
    return PlannedCall(SYSTEM, f"{method} {path}", {"method": method, "path": path, "body": body})


def dry(call: PlannedCall) -> Outcome:
    """A dry run's outcome: no read either, so it works when the proxy is unreachable and leaves no trace."""
    return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run: nothing sent to the proxy")


def expect_blocked(after: Mapping[str, object], wanted: bool, what: str) -> None:
    """Verify at the target: a 2xx that did not change the state is a conflict, not a success."""
    if after["blocked"] is not wanted:
        state = "not blocked" if wanted else "still blocked"
        raise Conflict(f"the proxy answered OK but {what} is {state}", system=SYSTEM)


def toggle(call: PlannedCall, send: Callable[[], object], read: Callable[[], dict[str, object]], blocked: bool,
           what: str, detail: str = "") -> Outcome:
    """Read, write only if needed, read again: the block/unblock shape every flag route shares."""
    before = read()
    if before["blocked"] is blocked:
        same = "already blocked" if blocked else "already unblocked"
        return Outcome(call, before, before, changed=False, detail=same)
    send()
    after = read()
    expect_blocked(after, blocked, what)
    return Outcome(call, before, after, changed=True, detail=detail if blocked else "")
