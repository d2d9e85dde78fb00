"""JIRAError and requests' transport errors, translated into connectors.errors by HTTP status.

Never by message text: Jira localises its messages. The message keeps Jira's own words (`errorMessages`,
then `errors` as "field: message"), which is what tells an operator that a required custom field is
missing or a transition needs a screen.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from jira import JIRAError

from irflow.connectors.errors import (
    AuthError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)

SYSTEM = "jira"
DEFAULT_RETRY_AFTER = 5.0
_BY_STATUS: dict[int, type[ConnectorError]] = {
    400: InvalidRequest, 401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict, 413: InvalidRequest,
    422: InvalidRequest,
}


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn JIRAError and requests' transport errors into connectors.errors, keeping the cause."""
    try:
        yield
    except JIRAError as exc:
        raise error_from_jira(exc, action) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Unavailable(f"{action}: {type(exc).__name__}: {exc}", system=SYSTEM) from exc
    except (requests.RequestException, ValueError) as exc:  # e.g. a proxy's HTML page instead of JSON
        raise ConnectorError(f"{action}: unexpected answer: {exc}", system=SYSTEM) from exc


def error_from_jira(exc: JIRAError, action: str) -> ConnectorError:
    """The typed error for a JIRAError, chosen by HTTP status, never by message text."""
    status = exc.status_code
    message = f"could not {action}: {error_detail(exc)}"
    if status == 429:
        return RateLimited(message, retry_after=retry_after(exc.response), system=SYSTEM, status=status)
    if status is not None and status >= 500:
        return Unavailable(message, system=SYSTEM, status=status)
    return _BY_STATUS.get(status or 0, ConnectorError)(message, system=SYSTEM, status=status)


def error_detail(exc: JIRAError) -> str:
    """Jira's own words: `errorMessages` then `errors` as "field: message", e.g. a required custom field."""
    body = _json_body(exc.response)
    messages = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors") or {}
    if isinstance(errors, dict):
        messages += [f"{field}: {text}" for field, text in errors.items()]
    if messages:
        return "; ".join(messages)
    return exc.text or "no detail in the response"


def _json_body(response: requests.Response | None) -> dict[str, Any]:
    if response is None or not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after(response: requests.Response | None) -> float:
    """Seconds to wait per Retry-After (delta-seconds or an HTTP date); 5 when Jira does not say."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
