"""JSON over `requests` for the real connector clients: the plumbing every vendor client shares, written once.

The LiteLLM, OpenAI and Anthropic admin, Okta, Entra and Langfuse clients all talk JSON over one
`requests.Session` and must fail alike: a timeout on every call, every transport failure and every error
answer turned into one of `irflow.connectors.errors` by the HTTP status and the body's structure (never its
text), Retry-After honoured, and no secret in any message. That part lives here. What really differs per
vendor (how credentials travel, how an error body reads, what "wrong base URL" looks like, how a 429 says
when to come back, what a plain refusal is) stays in the vendor's client as a small hook on `JsonApi`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import requests
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from requests.auth import AuthBase

from irflow.connectors import deadline
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

DEFAULT_RETRY_AFTER = 1.0
"""Seconds to wait after a 429 that gave no usable hint: long enough not to hammer, short enough to recover."""
MESSAGE_MAX = 300
"""Error bodies can be whole pages; messages end up in Slack, Jira, logs and Prefect, so they are cut short."""
MASK = "**********"
BAD_URL = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema)
"""`requests` failures that no retry can fix: the configured URL itself is unusable."""


def header_seconds(value: str) -> float | None:
    """Seconds in a Retry-After value, as delta-seconds or an HTTP date (a past date is 0); None when garbled.

    A date without a zone (``-0000``) is garbled here rather than a TypeError: a wait must never crash a flow.
    """
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def retry_after(headers: Mapping[str, str], name: str = "Retry-After") -> float:
    """Seconds to wait after a 429 from the `name` header; DEFAULT_RETRY_AFTER when it is absent or garbled.

    `requests` headers ignore case; botocore's are a plain dict of lower-case names, so AWS passes its own.
    """
    raw = headers.get(name)
    seconds = header_seconds(str(raw).strip()) if raw else None
    return DEFAULT_RETRY_AFTER if seconds is None else seconds


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret masked and cut to MESSAGE_MAX, so an error message is safe to show anywhere.

    Vendors echo what they were sent (a key they did not find, a path), so masking cannot rely on them.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def refusal(message: str, *, system: str, status: int | None) -> ConnectorError:
    """A 4xx no other rule typed: 409 is a state conflict at the target, anything else a refused request."""
    if status == 409:
        return Conflict(message, system=system, status=status)
    return InvalidRequest(message, system=system, status=status)


def error_for_status(status: int | None, message: str, *, system: str, retry_after: Callable[[], float],
                     not_found: bool = False, refused: Callable[[str], ConnectorError] | None = None,
                     ) -> ConnectorError:
    """The typed error an HTTP status stands for; flows retry only what comes back RateLimited or Unavailable.

    Args:
        status: the HTTP status, or None when the vendor's library gave none.
        message: what the error says, already scrubbed.
        system: the connector's name, for the error.
        retry_after: called only for a 429, so headers are parsed only when they matter.
        not_found: the body says "no such object" whatever the status (LiteLLM types some 400s so).
        refused: how this vendor types a plain 4xx; `refusal` when None.
    """
    if status in (401, 403):
        return AuthError(message, system=system, status=status)
    if status == 404 or not_found:
        return NotFound(message, system=system, status=status)
    if status == 429:
        return RateLimited(message, retry_after=retry_after(), system=system, status=status)
    if status is not None and status >= 500:
        return Unavailable(message, system=system, status=status)
    if refused is not None:
        return refused(message)
    return refusal(message, system=system, status=status)


def cursor_pages(get: Callable[[Mapping[str, str]], dict[str, Any]], params: Mapping[str, str],
                 cursor: str) -> Iterator[dict[str, Any]]:
    """Every object of a list route that pages with `data`, `has_more` and `last_id` fed back as `cursor`.

    OpenAI's and Anthropic's admin list routes page so (`after`, `after_id`). A cursor that does not move
    ends the walk, so an API that keeps answering `has_more` cannot loop a flow forever.
    """
    query = dict(params)
    while True:
        page = get(query)
        data = page.get("data")
        yield from (raw for raw in data if isinstance(raw, dict)) if isinstance(data, list) else ()
        last = page.get("last_id")
        if not page.get("has_more") or not last or last == query.get(cursor):
            return
        query = {**query, cursor: str(last)}


def shows_tail(masked: object, tail: str) -> bool:
    """Does a vendor's masked key (``sk-abc...wxyz``, ``sk-ant-api03-R2D...igAA``) show this tail?

    `tail` may be the tail or the whole leaked key: a leaked key is resolved to its id by comparing here,
    locally, never by sending it. Only what follows the last "..." or run of "*" counts.
    """
    if not isinstance(masked, str):
        return False
    shown = re.split(r"\.\.\.|\*+", masked)[-1]
    return bool(shown) and (tail.endswith(shown) or shown.endswith(tail))


@dataclass(frozen=True)
class ErrorReport:
    """A vendor's error answer as its own reader understood it: text for people, structure for the typing."""

    text: str
    wrong_url: bool = False
    """The route, not the object, is missing (a web page's 404, an "unknown URL" code): a ConfigError naming the
    URL setting, never a NotFound a caller would take for "already deleted". The reader decides it from the
    status and the body, so it is never set for a 401/403."""
    not_found: bool = False
    """The body says "no such object" whatever the status."""
    code: str | None = None
    """The vendor's machine-readable code, for callers that must tell refusals apart without reading text."""


@dataclass(frozen=True)
class Wording:
    """How one client's messages name its target and the setting that points at it; never a secret."""

    reach: str
    """Completes "cannot reach ...": "the proxy", "Okta"."""
    bad_url: str
    """Says which setting holds an unusable URL: "LITELLM_PROXY_URL is not a usable URL"."""
    not_json: str
    """Follows "HTTP 200 without JSON;": the question that points at a wrong URL."""
    wrong_url: str = ""
    """Follows a wrong-route error: "is OKTA_ORG_URL the org's base URL?"."""


class JsonApi(ABC):
    """One base URL, one `requests.Session`, one timeout; every call fails typed and no secret leaves in text.

    A vendor's client subclasses it and says only what differs: the credentials it sends (`_headers`,
    `_auth`), the secrets to mask (`_secrets`), how its error bodies read (`_report`), how a 429 says when to
    come back (`_retry_after`) and what a plain refusal is (`_refused`). The secrets live in the subclass's
    SecretStr fields and in request headers only: never in a URL, a message or a repr.
    """

    def __init__(self, *, system: str, base_url: str, timeout: float, wording: Wording,
                 session: requests.Session | None = None, empty_ok: bool = False) -> None:
        """`empty_ok`: a 2xx without a body is ``{}`` (Okta's lifecycle calls, Graph's 204) instead of an error."""
        self.system = system
        self.base_url = base_url
        self.wording = wording
        self._timeout = timeout
        self._session = session or requests.Session()
        self._empty_ok = empty_ok

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self.send("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.send("POST", path, body=body)

    def patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.send("PATCH", path, body=body)

    def delete(self, path: str) -> dict[str, Any]:
        return self.send("DELETE", path)

    def send(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
             body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One call below `base_url`; the JSON object answered (a list comes back as ``{"result": [...]}``)."""
        where = f"{method} {path}"  # never the query string: it may carry a key
        resp = self._request(where, method, self.base_url + path, params=params, json=body,
                             headers=self._headers(), auth=self._auth())
        if resp.status_code >= 400:
            raise self._error(where, resp)
        return self._payload(where, resp)

    def _request(self, where: str, method: str, url: str, *, params: Mapping[str, str] | None = None,
                 json: Mapping[str, Any] | None = None, data: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None, auth: AuthBase | None = None) -> requests.Response:
        """Send with the timeout (cut to what a running step has left, see `deadline`); a timeout or an
        unreachable host is Unavailable, an unusable URL a ConfigError."""
        timeout = deadline.request_timeout(self._timeout, system=self.system)
        try:
            return self._session.request(method, url, params=params, json=json, data=data, headers=headers,
                                         auth=auth, timeout=timeout)
        except requests.Timeout as exc:
            raise (deadline.timed_out(self.system)
                   or Unavailable(f"{where}: no answer within {timeout:g}s", system=self.system)) from exc
        except BAD_URL as exc:
            raise ConfigError(f"{self.wording.bad_url} ({type(exc).__name__})", system=self.system) from exc
        except requests.RequestException as exc:
            raise Unavailable(f"{where}: cannot reach {self.wording.reach} ({type(exc).__name__})",
                              system=self.system) from exc

    def _error(self, where: str, resp: requests.Response) -> ConnectorError:
        status, report = resp.status_code, self._report(resp)
        message = self._scrub(f"{where}: {report.text}")
        if report.wrong_url:
            return ConfigError(f"{message}; {self.wording.wrong_url}", system=self.system, status=status)
        return error_for_status(status, message, system=self.system, retry_after=lambda: self._retry_after(resp),
                                not_found=report.not_found, refused=lambda text: self._refused(text, status, report))

    def _payload(self, where: str, resp: requests.Response) -> dict[str, Any]:
        if self._empty_ok and not resp.content:
            return {}
        try:
            data = resp.json()
        except ValueError as exc:  # a web server or proxy that is not the API answered
            raise ConfigError(f"{where}: HTTP {resp.status_code} without JSON; {self.wording.not_json}",
                              system=self.system) from exc
        return data if isinstance(data, dict) else {"result": data}

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets())

    def _headers(self) -> dict[str, str]:
        """Headers for every call below `base_url`, credentials included."""
        return {}

    def _auth(self) -> AuthBase | None:
        """A `requests` auth object for vendors that take one (Langfuse's basic auth)."""
        return None

    def _retry_after(self, resp: requests.Response) -> float:
        """Seconds a 429 asks to wait: Retry-After unless the vendor has a better hint."""
        return retry_after(resp.headers)

    def _refused(self, message: str, status: int, report: ErrorReport) -> ConnectorError:
        """What a 4xx no other rule typed means at this vendor; `refusal` by default."""
        return refusal(message, system=self.system, status=status)

    @abstractmethod
    def _secrets(self) -> list[str]:
        """Every secret value a message must never carry (the key sent, a token fetched with it)."""

    @abstractmethod
    def _report(self, resp: requests.Response) -> ErrorReport:
        """Read the vendor's error body; never let a web page's HTML into the text."""


class AdminKeySettings(BaseSettings):
    """What the settings of a vendor admin API share: one admin key switches it on, a default base URL, a timeout.

    Subclasses declare `admin_key`, `api_url` and `timeout` again with their vendor's env names (validation
    aliases) and set the class variables; the validators and `configured` / `missing` are the same for all.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    default_api_url: ClassVar[str] = ""
    required_env: ClassVar[dict[str, str]] = {}
    timeout_env: ClassVar[str] = "timeout"

    admin_key: SecretStr | None = None
    api_url: str = ""
    timeout: float = 10

    @field_validator("admin_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `<VENDOR>_ADMIN_KEY=` in a .env file means "not configured", not "configured with an empty key".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("api_url", mode="before")
    @classmethod
    def _base_url_only(cls, value: object) -> object:
        # The client appends "/v1/organization(s)/..."; a copied SDK-style ".../v1/" would become "/v1/v1/...",
        # which the vendors answer with a 404 that could pass for "no such key".
        if not isinstance(value, str) or not value.strip():
            return cls.default_api_url if isinstance(value, str) else value
        return value.strip().rstrip("/").removesuffix("/v1")

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"{cls.timeout_env} must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real client can be used (the admin key is set)."""
        return self.admin_key is not None

    def missing(self) -> list[str]:
        """Env var names still needed; empty when fully configured or when nothing of this vendor's is set.

        Nothing set means this vendor's keys are simply not managed here. A URL override without the key is
        a mistake the caller turns into a ConfigError at start-up rather than silently ignoring.
        """
        if self.admin_key is not None or self.api_url == self.default_api_url:
            return []
        return list(self.required_env.values())
