"""Anthropic Admin API settings: the admin key that switches Anthropic key containment on, and where the API is.

`ANTHROPIC_ADMIN_KEY` (an ``sk-ant-admin...`` key; ordinary API keys cannot call /v1/organizations/*)
turns the real client on. `IRFLOW_ANTHROPIC_API_URL` and `IRFLOW_ANTHROPIC_TIMEOUT` only tune it: setting
the URL without the key is a half-made setup that `irflow.systems` turns into a ConfigError.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "https://api.anthropic.com"
REQUIRED_ENV: dict[str, str] = {"admin_key": "ANTHROPIC_ADMIN_KEY"}
"""The one thing the real client cannot do without; the URL has a default."""


class AnthropicAdminSettings(BaseSettings):
    """Read once at start-up and passed to `AnthropicKeys`; the admin key never defaults to ``""``.

    `ANTHROPIC_ADMIN_KEY` is the name Anthropic's Admin API docs use; the tuning knobs are irflow's
    (`IRFLOW_ANTHROPIC_*`) so they cannot collide with the SDK's `ANTHROPIC_BASE_URL`.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    admin_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_ADMIN_KEY")
    api_url: str = Field(default=DEFAULT_API_URL, validation_alias="IRFLOW_ANTHROPIC_API_URL")
    timeout: float = Field(default=10, validation_alias="IRFLOW_ANTHROPIC_TIMEOUT")

    @field_validator("admin_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `ANTHROPIC_ADMIN_KEY=` in a .env file means "not configured", not "configured with an empty key".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("api_url", mode="before")
    @classmethod
    def _base_url_only(cls, value: object) -> object:
        # The client appends "/v1/organizations/..."; a trailing "/v1" or "/" would double it up and every
        # call would be a 404 not_found_error, indistinguishable from "no such key".
        if not isinstance(value, str) or not value.strip():
            return DEFAULT_API_URL if isinstance(value, str) else value
        return value.strip().rstrip("/").removesuffix("/v1")

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("IRFLOW_ANTHROPIC_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real Anthropic admin client can be used (the admin key is set)."""
        return self.admin_key is not None

    def missing(self) -> list[str]:
        """Env var names still needed; empty when fully configured or when nothing Anthropic-related is set."""
        if self.admin_key is not None or self.api_url == DEFAULT_API_URL:
            return []
        return list(REQUIRED_ENV.values())
