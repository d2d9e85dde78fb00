"""The real PromptRegistry over Langfuse's public prompt API (`/api/public/v2/prompts`), with `requests`.

The serving label (e.g. `production`) is read with GET /v2/prompts/{name}?label=..., the versions are
listed with GET /v2/prompts?name=... (paged by prompt, each item carrying all its `versions`), and the
label is moved with PATCH /v2/prompts/{name}/versions/{version} {"newLabels": [label]}: Langfuse adds the
label to that version and takes it off whichever version had it, in one transaction. Every move is read
back, so a label that did not move is a Conflict rather than a silent success.

Every `requests` failure and every Langfuse error answer leaves this module as one of
`irflow.connectors.errors`, decided by the HTTP status and whether the body is Langfuse's JSON
(`{"message", "error"}`) or a web page, never by message text. The secret key lives only in a SecretStr and
in each request's basic-auth header: never in a URL, an exception message or a repr.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr
from requests.auth import AuthBase, HTTPBasicAuth

from irflow.connectors.errors import ConfigError, Conflict, NotFound
from irflow.connectors.http import ErrorReport, JsonApi, Wording
from irflow.connectors.langfuse.settings import REQUIRED_ENV, LangfuseSettings
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "langfuse"
PROMPTS = "/api/public/v2/prompts"
PAGE_LIMIT = 100
"""The largest page GET /v2/prompts accepts (`GetPromptsMetaSchema`: limit 1..100)."""
MAX_PAGES = 1000
WORDING = Wording(reach="Langfuse", bad_url="LANGFUSE_HOST is not a usable URL", not_json="is LANGFUSE_HOST Langfuse?",
                  wrong_url="is LANGFUSE_HOST the Langfuse base URL, and recent enough?")


def prompt_path(name: str) -> str:
    """The path of one prompt: its name URL-encoded whole, since folder names ("team/bot") contain "/"."""
    return f"{PROMPTS}/{quote(name, safe='')}"


def _error_report(resp: requests.Response) -> ErrorReport:
    """Langfuse's `{"message", "error"}` in one line; a body that is not Langfuse's JSON, or a 405, is the route.

    Next.js answers an unknown route with its own 404 page, which must never read as "no such prompt".
    Retry-After on a 429 carries fractional seconds (`msBeforeNext / 1000`), which the default reads.
    """
    try:
        data = resp.json()
    except ValueError:
        # Never echo a page body: it is HTML, and a 429 from Langfuse's rate limiter has no body at all.
        web_404 = bool(resp.text.strip()) and resp.status_code == 404
        return ErrorReport(resp.reason or "no JSON body", wrong_url=web_404 or resp.status_code == 405)
    return ErrorReport(_json_error_text(data), wrong_url=resp.status_code == 405)


def _json_error_text(data: object) -> str:
    if not isinstance(data, dict):
        return str(data)
    error = data.get("error")
    if isinstance(error, list):  # zod issues: [{"path": [...], "message": ...}]
        issues = [f"{'.'.join(map(str, i.get('path', [])))}: {i.get('message')}" for i in error if isinstance(i, dict)]
        return f"{data.get('message') or 'Invalid request data'}: {'; '.join(issues[:5])} [ZodError]"
    kind = f" [{error}]" if isinstance(error, str) and error else ""
    return str(data.get("message") or error or data) + kind


class _Http(JsonApi):
    """One Langfuse project, one key pair, one `requests.Session`; every call has a timeout and fails typed.

    Langfuse does not echo keys, but a message must never carry the secret key whatever it says.
    """

    def __init__(self, settings: LangfuseSettings, session: requests.Session | None = None) -> None:
        if settings.host is None or settings.public_key is None or settings.secret_key is None:
            needed = settings.missing() or list(REQUIRED_ENV.values())
            raise ConfigError(f"the Langfuse client needs {', '.join(needed)}", system=SYSTEM)
        super().__init__(system=SYSTEM, base_url=settings.host, timeout=settings.timeout, wording=WORDING,
                         session=session)
        self._public_key = settings.public_key
        self._secret_key: SecretStr = settings.secret_key

    def _auth(self) -> AuthBase:
        return HTTPBasicAuth(self._public_key, self._secret_key.get_secret_value())

    def _secrets(self) -> list[str]:
        return [self._secret_key.get_secret_value()]

    def _report(self, resp: requests.Response) -> ErrorReport:
        return _error_report(resp)


def _versions_in(body: dict[str, Any], name: str) -> set[int]:
    """The versions of `name` on one page of GET /v2/prompts (`data[].versions`)."""
    found: set[int] = set()
    for item in body.get("data") or []:
        if isinstance(item, dict) and item.get("name") == name:
            found.update(v for v in item.get("versions") or [] if isinstance(v, int) and not isinstance(v, bool))
    return found


def _total_pages(body: dict[str, Any]) -> int:
    meta = body.get("meta")
    pages = meta.get("totalPages") if isinstance(meta, dict) else None
    return pages if isinstance(pages, int) else 1


class LangfusePrompts:
    """PromptRegistry for Langfuse: `rollback` moves the label to the previous version, `roll_forward` back.

    `alias` is Langfuse's label; it defaults to the configured one (IRFLOW_LANGFUSE_LABEL), so configuration,
    not the flow, names the label that serves traffic. Outcomes hold `{name, alias, version}`.
    """

    system = SYSTEM

    def __init__(self, settings: LangfuseSettings, *, session: requests.Session | None = None) -> None:
        self._http = _Http(settings, session)
        self.label = settings.label

    def __repr__(self) -> str:
        return f"LangfusePrompts({self._http.base_url!r})"

    def current_version(self, name: str, alias: str | None = None) -> int:
        """The version carrying the label; NotFound when the prompt or the label does not exist."""
        label = alias or self.label
        body = self._http.get(prompt_path(name), {"label": label})
        version = body.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ConfigError(f"GET {prompt_path(name)} answered without a version; is LANGFUSE_HOST Langfuse?",
                              system=SYSTEM)
        return version

    def rollback(self, name: str, alias: str | None = None, *, dry_run: bool = False) -> Outcome:
        """Move the label to the highest version below the current one; Conflict when there is none."""
        label = alias or self.label
        current = self.current_version(name, label)
        older = [v for v in self._versions(name) if v < current]
        if not older:
            raise Conflict(f"prompt {name!r} has no version before {current} to roll back to", system=SYSTEM)
        return self._move(name, label, current, max(older), "rollback", dry_run)

    def roll_forward(self, name: str, version: int, alias: str | None = None, *, dry_run: bool = False) -> Outcome:
        """Move the label to `version`: the inverse of rollback, given the version from its `before`."""
        label = alias or self.label
        if version not in self._versions(name):
            raise NotFound(f"prompt {name!r} has no version {version}", system=SYSTEM)
        return self._move(name, label, self.current_version(name, label), version, "roll forward", dry_run)

    def _versions(self, name: str) -> list[int]:
        """Every version of the prompt across all pages; NotFound when Langfuse lists none."""
        versions: set[int] = set()
        for page in range(1, MAX_PAGES + 1):
            body = self._http.get(PROMPTS, {"name": name, "page": str(page), "limit": str(PAGE_LIMIT)})
            versions |= _versions_in(body, name)
            if page >= _total_pages(body):
                break
        if not versions:
            raise NotFound(f"prompt {name!r} does not exist", system=SYSTEM)
        return sorted(versions)

    def _move(self, name: str, label: str, current: int, target: int, op: str, dry_run: bool) -> Outcome:
        call = PlannedCall(SYSTEM, f"{op} {name}@{label}", {"name": name, "alias": label, "version": target})
        before = {"name": name, "alias": label, "version": current}
        if dry_run or current == target:
            return Outcome(call, before, before, changed=False, dry_run=dry_run,
                           detail="dry run: the label was not moved" if dry_run else f"already at version {target}")
        self._http.patch(f"{prompt_path(name)}/versions/{target}", {"newLabels": [label]})
        after = self.current_version(name, label)
        if after != target:
            raise Conflict(f"Langfuse accepted the label move but {name}@{label} is at version {after}",
                           system=SYSTEM)
        return Outcome(call, before, {"name": name, "alias": label, "version": after}, changed=True)
