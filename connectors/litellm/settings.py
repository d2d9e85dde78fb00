"""LiteLLM settings (LITELLM_*): which proxy to contain keys and end users at, or none and the twin answers.

`LITELLM_PROXY_URL` and `LITELLM_MASTER_KEY` switch the gateway connectors to the real LiteLLM proxy
admin API. Neither set means the embedded gateway twin serves containment; exactly one set is a
half-made setup that `irflow.systems` turns into a ConfigError naming what `missing()` returns.
"""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIRED_ENV: dict[str, str] = {"proxy_url": "LITELLM_PROXY_URL", "master_key": "LITELLM_MASTER_KEY"}
"""The real client needs both: where the proxy is, and the master key its admin routes require
(`/key/block`, `/customer/block`, ... are proxy-admin only)."""


class LiteLLMSettings(BaseSettings):
    """Read once at start-up and passed to `LiteLLMKeys` / `LiteLLMUsers`; the master key never defaults to ``""``.

    `extra="ignore"` matters here: the proxy itself reads many LITELLM_* variables (LITELLM_LOG,
    LITELLM_LICENSE, ...) that may share this environment and are none of irflow's business.
    """

    model_config = SettingsConfigDict(env_prefix="LITELLM_", extra="ignore")

    proxy_url: str | None = None
    master_key: SecretStr | None = None
    timeout: float = 10

    @field_validator("proxy_url", "master_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `LITELLM_MASTER_KEY=` in a .env file means "not configured", not "configured with an empty key".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("proxy_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        # The client appends "/key/block" etc.; "http://proxy:4000/" would otherwise become "...//key/block",
        # which FastAPI answers with 404 {"detail": "Not Found"}.
        return value.strip().rstrip("/") if value else value

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("LITELLM_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real LiteLLM client can be used (proxy URL and master key both set)."""
        return not self.missing() and self.proxy_url is not None

    def missing(self) -> list[str]:
        """Env var names still needed when LiteLLM is half-configured; empty when fully set or not set at all.

        Neither variable set means "use the local twin" and nothing is missing. Exactly one set is a
        mistake the caller turns into a ConfigError at start-up rather than silently falling back.
        """
        unset = [env for name, env in REQUIRED_ENV.items() if getattr(self, name) is None]
        return [] if len(unset) == len(REQUIRED_ENV) else unset
