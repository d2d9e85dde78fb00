"""OpenAI Admin API settings: the admin key that switches OpenAI key containment on, and where the API is.

`OPENAI_ADMIN_KEY` (an ``sk-admin-...`` key; project keys are refused by every admin route) turns the
real client on. `IRFLOW_OPENAI_API_URL` and `IRFLOW_OPENAI_TIMEOUT` only tune it: setting the URL without
the key is a half-made setup that `irflow.systems` turns into a ConfigError naming what `missing()` returns.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "https://api.openai.com"
REQUIRED_ENV: dict[str, str] = {"admin_key": "OPENAI_ADMIN_KEY"}
"""The one thing the real client cannot do without; the URL has a default."""


class OpenAIAdminSettings(BaseSettings):
    """Read once at start-up and passed to `OpenAIKeys`; the admin key never defaults to ``""``.

    The names are not one prefix: `OPENAI_ADMIN_KEY` is the name OpenAI's own docs and tools use, while
    the tuning knobs are irflow's (`IRFLOW_OPENAI_*`) so they cannot collide with the SDK's
    `OPENAI_BASE_URL`, which carries a ``/v1`` this client adds itself.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    admin_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_ADMIN_KEY")
    api_url: str = Field(default=DEFAULT_API_URL, validation_alias="IRFLOW_OPENAI_API_URL")
    timeout: float = Field(default=10, validation_alias="IRFLOW_OPENAI_TIMEOUT")

    @field_validator("admin_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `OPENAI_ADMIN_KEY=` in a .env file means "not configured", not "configured with an empty key".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("api_url", mode="before")
    @classmethod
    def _base_url_only(cls, value: object) -> object:
        # The client appends "/v1/organization/..."; a copied OPENAI_BASE_URL-style ".../v1/" would otherwise
        # become "/v1/v1/...", which OpenAI answers with 404 unknown_url.
        if not isinstance(value, str) or not value.strip():
            return DEFAULT_API_URL if isinstance(value, str) else value
        url = value.strip().rstrip("/")
        return url.removesuffix("/v1")

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("IRFLOW_OPENAI_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real OpenAI admin client can be used (the admin key is set)."""
        return self.admin_key is not None

    def missing(self) -> list[str]:
        """Env var names still needed; empty when fully configured or when nothing OpenAI-related is set.

        Nothing set means OpenAI keys are simply not managed here. A URL override without the key is a
        mistake the caller turns into a ConfigError at start-up rather than silently ignoring.
        """
        if self.admin_key is not None or self.api_url == DEFAULT_API_URL:
            return []
        return list(REQUIRED_ENV.values())
