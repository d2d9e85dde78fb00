"""Microsoft Entra ID settings (AZURE_*): which tenant to disable accounts in, or none and the twin answers.

`AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` are the names the Azure SDKs and CLI use
for a service principal, so an operator's existing app registration works unchanged. All three switch
identity-provider containment to Microsoft Graph; none means the embedded twin; some is a half-made
setup that `irflow.systems` turns into a ConfigError naming what `missing()` returns.

`IRFLOW_ENTRA_LOGIN_URL` and `IRFLOW_ENTRA_GRAPH_URL` exist for tests and national clouds
(``https://login.microsoftonline.us``, ``https://graph.microsoft.us/v1.0``); setting only them
configures nothing.
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIRED_ENV: dict[str, str] = {"tenant_id": "AZURE_TENANT_ID", "client_id": "AZURE_CLIENT_ID",
                                "client_secret": "AZURE_CLIENT_SECRET"}
"""The client-credentials grant needs all three; the app needs the Graph application permissions
User.ReadWrite.All (accountEnabled) and User.RevokeSessions.All."""
LOGIN_URL = "https://login.microsoftonline.com"
GRAPH_URL = "https://graph.microsoft.com/v1.0"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
"""A tenant GUID or verified domain: it becomes a path segment of the token URL, so nothing else."""


class EntraSettings(BaseSettings):
    """Read once at start-up and passed to `EntraUsers`; the client secret never defaults to ``""``.

    Fields are read by their exact env names (validation aliases) because the credentials follow the
    Azure convention and the URL overrides irflow's; `populate_by_name` lets tests build it by field name.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    tenant_id: str | None = Field(default=None, validation_alias="AZURE_TENANT_ID")
    client_id: str | None = Field(default=None, validation_alias="AZURE_CLIENT_ID")
    client_secret: SecretStr | None = Field(default=None, validation_alias="AZURE_CLIENT_SECRET")
    login_url: str = Field(default=LOGIN_URL, validation_alias="IRFLOW_ENTRA_LOGIN_URL")
    graph_url: str = Field(default=GRAPH_URL, validation_alias="IRFLOW_ENTRA_GRAPH_URL")
    timeout: float = Field(default=10, validation_alias="IRFLOW_ENTRA_TIMEOUT")

    @field_validator("tenant_id", "client_id", "client_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `AZURE_CLIENT_SECRET=` in a .env file means "not configured", not "configured with an empty secret".
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("tenant_id")
    @classmethod
    def _tenant_is_one_segment(cls, value: str | None) -> str | None:
        if value is not None and not _TENANT.match(value):
            raise ValueError("AZURE_TENANT_ID must be a tenant GUID or domain name")
        return value

    @field_validator("login_url", "graph_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        # The client appends "/{tenant}/oauth2/..." and "/users/..."; "//" would not route.
        return value.strip().rstrip("/")

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("IRFLOW_ENTRA_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real Graph client can be used (tenant, client id and secret all set)."""
        return not self.missing() and self.tenant_id is not None

    def missing(self) -> list[str]:
        """Env var names still needed when Entra is partly configured; empty when fully set or not set at all.

        Only the three credentials count: the URL overrides have working defaults, so setting one alone
        still means "use the local twin".
        """
        unset = [env for name, env in REQUIRED_ENV.items() if getattr(self, name) is None]
        return [] if len(unset) == len(REQUIRED_ENV) else unset
