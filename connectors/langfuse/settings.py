"""Langfuse settings (LANGFUSE_*): which Langfuse project's prompts to roll back, or none and the twin answers.

`LANGFUSE_HOST`, `LANGFUSE_PUBLIC_KEY` and `LANGFUSE_SECRET_KEY` are the Langfuse SDKs' own variables (the
newer SDKs' `LANGFUSE_BASE_URL` is accepted for the host), so an application already traced by Langfuse
needs nothing else. None set means the local prompt twin serves containment; some set is a half-made setup
that the caller turns into a ConfigError naming what `missing()` returns, never a silent fallback.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIRED_ENV: dict[str, str] = {"host": "LANGFUSE_HOST", "public_key": "LANGFUSE_PUBLIC_KEY",
                                "secret_key": "LANGFUSE_SECRET_KEY"}
"""The real client needs all three: where Langfuse is, and the key pair its public API takes as basic auth."""


class LangfuseSettings(BaseSettings):
    """Read once at start-up and passed to `LangfusePrompts`; the secret key never defaults to ``""``.

    `label` is the label that serves traffic (IRFLOW_LANGFUSE_LABEL, "production" as in Langfuse's SDKs).
    `extra="ignore"` matters: the SDKs read more LANGFUSE_* variables (LANGFUSE_SAMPLE_RATE, ...) that may
    share this environment and are none of irflow's business.
    """

    model_config = SettingsConfigDict(env_prefix="LANGFUSE_", extra="ignore", populate_by_name=True)

    host: str | None = Field(default=None, validation_alias=AliasChoices("LANGFUSE_HOST", "LANGFUSE_BASE_URL"))
    public_key: str | None = None
    secret_key: SecretStr | None = None
    label: str = Field(default="production", validation_alias="IRFLOW_LANGFUSE_LABEL")
    timeout: float = 10

    @field_validator("host", "public_key", "secret_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `LANGFUSE_SECRET_KEY=` in a .env file means "not configured", not "configured with an empty key".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("host")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        # The client appends "/api/public/..."; a trailing slash would make "//api", which Langfuse answers 404.
        return value.strip().rstrip("/") if value else value

    @field_validator("label")
    @classmethod
    def _label_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("IRFLOW_LANGFUSE_LABEL must name a label, e.g. production")
        return value.strip()

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("LANGFUSE_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real Langfuse client can be used (host and both keys set)."""
        return not self.missing() and self.host is not None

    def missing(self) -> list[str]:
        """Env var names still needed when Langfuse is half-configured; empty when fully set or not set at all."""
        unset = [env for name, env in REQUIRED_ENV.items() if getattr(self, name) is None]
        return [] if len(unset) == len(REQUIRED_ENV) else unset
