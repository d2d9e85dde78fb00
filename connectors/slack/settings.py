"""Slack settings (SLACK_*): which workspace to talk to, or none at all and the local twin answers."""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIRED_ENV = {"bot_token": "SLACK_BOT_TOKEN", "signing_secret": "SLACK_SIGNING_SECRET"}
"""The real client needs both: the bot token to call the Web API, the signing secret to trust what
Slack sends back (button clicks, slash commands). One without the other is a half-made setup."""


class SlackSettings(BaseSettings):
    """Read once at start-up and passed to the Slack client; secrets never default to ``""``."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", extra="ignore")

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    timeout: float = 10
    incident_channel_prefix: str = "inc"

    @field_validator("bot_token", "signing_secret", "app_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `SLACK_BOT_TOKEN=` in a .env file means "not configured", not "configured with an empty token".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk joins method names onto the base URL; without the slash `.../api` + `chat.postMessage`
        # would resolve to `.../chat.postMessage`.
        return value if value.endswith("/") else value + "/"

    def configured(self) -> bool:
        """True when the real Slack client can be used (both required secrets are set)."""
        return not self.missing() and self.bot_token is not None

    def missing(self) -> list[str]:
        """Env vars still needed when Slack is half-configured; empty when fully set or not set at all.

        Neither secret set means "use the local twin" and nothing is missing. Exactly one set is a
        mistake the caller turns into a ConfigError at start-up rather than silently falling back.
        """
        unset = [env for field, env in REQUIRED_ENV.items() if getattr(self, field) is None]
        return [] if len(unset) == len(REQUIRED_ENV) else unset
