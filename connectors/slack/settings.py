"""Slack settings (SLACK_*): which workspace to talk to, or none at all and the local twin answers.

Besides the credentials, this class holds how incidents use the workspace (who is invited, whether low
severity goes to threads in a shared triage channel, where bookmarks point), because those choices are
about the Slack workspace and are read by both the real client and the twin.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

INBOUND_ENV = "SLACK_SIGNING_SECRET or SLACK_APP_TOKEN"
"""The real client needs the bot token to call the Web API and a way to trust what Slack sends back
(button clicks, slash commands): the signing secret for HTTPS requests, or the app-level token for Socket
Mode, where irflow opens the connection itself. A bot token without either is a half-made setup."""
APP_TOKEN_PREFIX = "xapp-"

SeverityName = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER: tuple[SeverityName, ...] = ("low", "medium", "high", "critical")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
"""A conversation id as Slack hands them out; anything else in SLACK_TRIAGE_CHANNEL is a channel name."""
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


class SlackSettings(BaseSettings):
    """Read once at start-up and passed to the Slack client; secrets never default to ``""``."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", extra="ignore")

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = Field(
        default=None,
        description="SLACK_APP_TOKEN: an app-level token (xapp-…, scope connections:write) turns on Socket Mode: "
                    "irflow opens a WebSocket to Slack and receives buttons and /irflow over it, so nothing has to "
                    "be reachable from the internet.")
    api_url: str = "https://slack.com/api/"
    timeout: float = 10
    incident_channel_prefix: str = "inc"
    oncall: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="SLACK_ONCALL: comma list of Slack user ids and/or emails invited to every incident channel.")
    triage_channel: str | None = Field(
        default=None,
        description="SLACK_TRIAGE_CHANNEL: id (C…) or name of a shared channel; low-severity incidents become "
                    "threads there instead of getting a channel of their own.")
    thread_max_severity: SeverityName = Field(
        default="low", description="SLACK_THREAD_MAX_SEVERITY: the highest severity that goes to a triage thread.")
    runbook_url: str | None = Field(
        default=None, description="SLACK_RUNBOOK_URL: base URL where runbooks are readable; bookmarks append the file.")
    prefect_ui_url: str | None = Field(
        default=None, description="SLACK_PREFECT_UI_URL: the Prefect UI responders can reach, for the run bookmark.")
    group_cache_seconds: float = Field(
        default=300, ge=0, description="SLACK_GROUP_CACHE_SECONDS: how long user-group membership is trusted.")

    @field_validator("bot_token", "signing_secret", "app_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `SLACK_BOT_TOKEN=` in a .env file means "not configured", not "configured with an empty token".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("app_token")
    @classmethod
    def _app_level(cls, value: SecretStr | None) -> SecretStr | None:
        # A bot token here would fail later as `not_allowed_token_type`; say so at start-up, without echoing it.
        if value is not None and not value.get_secret_value().startswith(APP_TOKEN_PREFIX):
            raise ValueError(f"SLACK_APP_TOKEN must be an app-level token starting with {APP_TOKEN_PREFIX!r}")
        return value

    @field_validator("triage_channel", "runbook_url", "prefect_ui_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("oncall", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # Env vars are plain strings ("U024BE7LH, oncall@corp.example"); keep lists given in code as they are.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("oncall")
    @classmethod
    def _ids_or_emails(cls, value: list[str]) -> list[str]:
        # A typo here would silently leave responders out of every incident channel; refuse it at start-up.
        bad = [v for v in value if not (_USER_ID.match(v) or _EMAIL.match(v))]
        if bad:
            raise ValueError(f"SLACK_ONCALL entries must be Slack user ids (U…/W…) or emails, not {bad}")
        return value

    @field_validator("runbook_url", "prefect_ui_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto the base URL; without the slash `.../api` + `chat.postMessage`
        # would resolve to `.../chat.postMessage`.
        return value if value.endswith("/") else value + "/"

    def configured(self) -> bool:
        """True when the real Slack client can be used (a bot token and a way to trust Slack's requests)."""
        return not self.missing() and self.bot_token is not None

    @property
    def socket_mode(self) -> bool:
        """Slack's requests arrive over a WebSocket irflow opens (Socket Mode) rather than over HTTPS."""
        return self.app_token is not None

    def missing(self) -> list[str]:
        """Env vars still needed when Slack is half-configured; empty when fully set or not set at all.

        No secret set means "use the local twin" and nothing is missing. A bot token without a signing
        secret or app token (or either of those without a bot token) is a mistake the caller turns into a
        ConfigError at start-up rather than silently falling back.
        """
        inbound = self.signing_secret is not None or self.app_token is not None
        if self.bot_token is None:
            return ["SLACK_BOT_TOKEN"] if inbound else []
        return [] if inbound else [INBOUND_ENV]

    def threaded(self, severity: str) -> bool:
        """Whether an incident of this severity lives in a triage thread rather than a channel of its own.

        Only when a triage channel is configured: otherwise every incident gets its own channel.
        """
        if self.triage_channel is None or severity not in SEVERITY_ORDER:
            return False
        return SEVERITY_ORDER.index(severity) <= SEVERITY_ORDER.index(self.thread_max_severity)  # type: ignore[arg-type]

    def oncall_ids(self) -> list[str]:
        """The on-call entries that already are user ids (the rest are emails to look up)."""
        return [v for v in self.oncall if _USER_ID.match(v)]

    def oncall_emails(self) -> list[str]:
        return [v for v in self.oncall if not _USER_ID.match(v)]
