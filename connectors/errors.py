"""Typed connector errors. Real clients translate their library's errors into these (`raise ... from`);
flows retry only RateLimited and Unavailable."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class; `system` names the target (slack, jira, litellm, ...)."""

    retryable = False

    def __init__(self, message: str, *, system: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.status = status

    def __str__(self) -> str:
        where = f"{self.system}: " if self.system else ""
        code = f" (HTTP {self.status})" if self.status else ""
        return f"{where}{self.args[0]}{code}"


class ConfigError(ConnectorError):
    """A system is half-configured or misconfigured; raised at start-up, never a silent fallback."""


class AuthError(ConnectorError):
    """401/403: the credentials are wrong or lack a scope."""


class NotFound(ConnectorError):
    """The key, user, channel, issue or prompt does not exist at the target."""


class Conflict(ConnectorError):
    """409 or an equivalent state conflict at the target."""


class InvalidRequest(ConnectorError):
    """400/422: the target refused what we sent; the message says why."""


class Unavailable(ConnectorError):
    """Timeouts, connection errors, 5xx: worth retrying."""

    retryable = True


class RateLimited(Unavailable):
    """429: retry after `retry_after` seconds, as the target said."""

    def __init__(self, message: str, *, retry_after: float, system: str = "", status: int | None = 429) -> None:
        super().__init__(message, system=system, status=status)
        self.retry_after = retry_after
