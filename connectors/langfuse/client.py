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

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import HTTPBasicAuth

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
from irflow.connectors.langfuse.settings import REQUIRED_ENV, LangfuseSettings
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "langfuse"
PROMPTS = "/api/public/v2/prompts"
PAGE_LIMIT = 100
"""The largest page GET /v2/prompts accepts (`GetPromptsMetaSchema`: limit 1..100)."""
MAX_PAGES = 1000
DEFAULT_RETRY_AFTER = 1.0
MESSAGE_MAX = 300


def prompt_path(name: str) -> str:
    """The path of one prompt: its name URL-encoded whole, since folder names ("team/bot") contain "/"."""
    return f"{PROMPTS}/{quote(name, safe='')}"


@dataclass(frozen=True)
class _ErrorBody:
    """What an error answer says; `page` is True when it is not Langfuse's JSON (Next.js's own 404 page)."""

    message: str
    kind: str | None = None
    page: bool = False


def _error_body(resp: requests.Response) -> _ErrorBody:
    try:
        data = resp.json()
    except ValueError:
        # Never echo a page body: it is HTML, and a 429 from Langfuse's rate limiter has no body at all.
        return _ErrorBody(resp.reason or "no JSON body", page=bool(resp.text.strip()))
    if not isinstance(data, dict):
        return _ErrorBody(str(data))
    error = data.get("error")
    if isinstance(error, list):  # zod issues: [{"path": [...], "message": ...}]
        issues = [f"{'.'.join(map(str, i.get('path', [])))}: {i.get('message')}" for i in error if isinstance(i, dict)]
        return _ErrorBody(f"{data.get('message') or 'Invalid request data'}: {'; '.join(issues[:5])}", "ZodError")
    return _ErrorBody(str(data.get("message") or error or data), str(error) if isinstance(error, str) else None)


def _retry_after(resp: requests.Response) -> float:
    """Seconds to wait: Langfuse sends fractional seconds (`msBeforeNext / 1000`); an HTTP date also works."""
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
    """One Langfuse project, one key pair, one `requests.Session`; every call has a timeout and fails typed."""

    def __init__(self, settings: LangfuseSettings, session: requests.Session | None = None) -> None:
        if settings.host is None or settings.public_key is None or settings.secret_key is None:
            needed = settings.missing() or list(REQUIRED_ENV.values())
            raise ConfigError(f"the Langfuse client needs {', '.join(needed)}", system=SYSTEM)
        self.base_url = settings.host
        self._public_key = settings.public_key
        self._secret_key = settings.secret_key
        self._timeout = settings.timeout
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return f"_Http({self.base_url!r})"

    def get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        return self._send("GET", path, params=params)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._send("PATCH", path, body=body)

    def _send(self, method: str, path: str, *, params: dict[str, str] | None = None,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        where = f"{method} {path}"
        auth = HTTPBasicAuth(self._public_key, self._secret_key.get_secret_value())
        try:
            resp = self._session.request(method, self.base_url + path, params=params, json=body, auth=auth,
                                         timeout=self._timeout)
        except requests.Timeout as exc:
            raise Unavailable(f"{where}: no answer within {self._timeout:g}s", system=SYSTEM) from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise ConfigError(f"LANGFUSE_HOST is not a usable URL ({type(exc).__name__})", system=SYSTEM) from exc
        except requests.RequestException as exc:
            raise Unavailable(f"{where}: cannot reach Langfuse ({type(exc).__name__})", system=SYSTEM) from exc
        if resp.status_code >= 400:
            raise self._error(where, resp)
        return self._json(where, resp)

    def _error(self, where: str, resp: requests.Response) -> ConnectorError:
        status, body = resp.status_code, _error_body(resp)
        message = self._scrub(f"{where}: {body.message}" + (f" [{body.kind}]" if body.kind else ""))
        if status in (401, 403):
            return AuthError(message, system=SYSTEM, status=status)
        if (status == 404 and body.page) or status == 405:
            return ConfigError(f"{message}; is LANGFUSE_HOST the Langfuse base URL, and recent enough?",
                               system=SYSTEM, status=status)
        if status == 404:
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
            raise ConfigError(f"{where}: HTTP {resp.status_code} without JSON; is LANGFUSE_HOST Langfuse?",
                              system=SYSTEM) from exc
        return data if isinstance(data, dict) else {"result": data}

    def _scrub(self, text: str) -> str:
        # Langfuse does not echo keys, but a message must never carry the secret key whatever it says.
        text = text.replace(self._secret_key.get_secret_value(), "**********")
        return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


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
