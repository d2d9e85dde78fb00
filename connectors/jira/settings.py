"""Jira settings (JIRA_*): which Jira, as whom, in which project.

None of JIRA_URL, JIRA_API_TOKEN, JIRA_PROJECT set means the local twin serves tickets; all three set
means the real client; some set is a ConfigError raised by the caller from `missing()`, never a silent
fallback to the twin.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_REQUIRED: dict[str, str] = {"url": "JIRA_URL", "api_token": "JIRA_API_TOKEN", "project": "JIRA_PROJECT"}


class JiraSettings(BaseSettings):
    """How to reach Jira.

    Cloud authenticates with an Atlassian account email (`user`) plus an API token as basic auth; with no
    `user`, the token is taken as a Data Center personal access token and sent as a bearer token.
    `api_version` "auto" asks `serverInfo` for `deploymentType`: Cloud speaks REST v3 (ADF bodies), Data
    Center/Server REST v2 (wiki-markup bodies).
    """

    model_config = SettingsConfigDict(env_prefix="JIRA_", extra="ignore")

    url: str | None = None
    user: str | None = None
    api_token: SecretStr | None = None
    project: str | None = None
    issue_type: str = "Task"
    api_version: Literal["auto", "2", "3"] = "auto"
    timeout: float = 10

    def configured(self) -> bool:
        """True when every variable the real client needs is set."""
        return not self.missing()

    def missing(self) -> list[str]:
        """The env var names the real client still needs; all of them when Jira is not configured at all."""
        return [env for name, env in _REQUIRED.items() if not _present(getattr(self, name))]


def _present(value: str | SecretStr | None) -> bool:
    # An empty string in the environment is as good as unset: it cannot reach or authenticate to Jira.
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value and value.strip())
