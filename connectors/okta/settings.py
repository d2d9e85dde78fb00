"""Okta settings (OKTA_*): which Okta org to suspend accounts in, or none and the twin answers.

`OKTA_ORG_URL` and `OKTA_API_TOKEN` switch identity-provider containment to the real Okta Users API.
Neither set means the embedded twin serves it; exactly one set is a half-made setup that
`irflow.systems` turns into a ConfigError naming what `missing()` returns.
"""

from __future__ import annotations

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIRED_ENV: dict[str, str] = {"org_url": "OKTA_ORG_URL", "api_token": "OKTA_API_TOKEN"}
"""The real client needs both: the org (``https://acme.okta.com``) and an API token of an admin allowed
to manage users (Okta's `okta.users.manage`)."""


class OktaSettings(BaseSettings):
    """Read once at start-up and passed to `OktaUsers`; the API token never defaults to ``""``.

    `extra="ignore"` because Okta's own SDKs and CLIs read other OKTA_* variables (OKTA_CLIENT_ORGURL,
    OKTA_CLIENT_TOKEN, ...) that may share this environment.
    """

    model_config = SettingsConfigDict(env_prefix="OKTA_", extra="ignore")

    org_url: str | None = None
    api_token: SecretStr | None = None
    timeout: float = 10

    @field_validator("org_url", "api_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `OKTA_API_TOKEN=` in a .env file means "not configured", not "configured with an empty token".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("org_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        # The client appends "/api/v1/users/..."; a trailing slash would make "//api/v1/...".
        return value.strip().rstrip("/") if value else value

    @field_validator("api_token")
    @classmethod
    def _no_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        # Okta's console and many guides show the header value "SSWS 00abc..."; the client adds the scheme.
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        return SecretStr(raw[5:].strip() if raw[:5].upper() == "SSWS " else raw)

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("OKTA_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real Okta client can be used (org URL and API token both set)."""
        return not self.missing() and self.org_url is not None

    def missing(self) -> list[str]:
        """Env var names still needed when Okta is half-configured; empty when fully set or not set at all.

        Neither variable set means "use the local twin" and nothing is missing. Exactly one set is a
        mistake the caller turns into a ConfigError at start-up rather than silently falling back.
        """
        unset = [env for name, env in REQUIRED_ENV.items() if getattr(self, name) is None]
        return [] if len(unset) == len(REQUIRED_ENV) else unset
