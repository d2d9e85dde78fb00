"""Jira settings (JIRA_*, and the `[jira]` table of irflow.toml): which Jira, as whom, in which project,
and how irflow's incidents map onto that project's fields and workflow.

None of JIRA_URL, JIRA_API_TOKEN, JIRA_PROJECT set means the local twin serves tickets; all three set
means the real client; some set is a ConfigError raised by the caller from `missing()`, never a silent
fallback to the twin. Environment variables win over irflow.toml, which wins over the defaults; secrets
belong in the environment, the mappings (custom fields, transitions) read best in the toml table:

    [jira]
    url = "https://example.atlassian.net"
    project = "SEC"
    components = ["AI security"]
    custom_fields = { severity = "Severity", incident_id = "customfield_10071" }
    transitions = { contained = "In Progress", resolved = "Done|Resolve Issue" }
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

_REQUIRED: dict[str, str] = {"url": "JIRA_URL", "api_token": "JIRA_API_TOKEN", "project": "JIRA_PROJECT"}

ATTRIBUTES = ("severity", "category", "incident_id", "status", "owasp", "atlas", "actor", "playbook", "alert_count")
"""Incident attributes a custom field can carry (`custom_fields` keys)."""

STATUSES = ("open", "contained", "resolved", "closed")
DEFAULT_TRANSITIONS: dict[str, str] = {
    "open": "To Do|Reopen Issue|Reopen|Open", "contained": "In Progress|Start Progress",
    "resolved": "Done|Resolve Issue|Resolved", "closed": "Done|Close Issue|Closed",
}


class JiraSettings(BaseSettings):
    """How to reach Jira, and how incidents become issues there.

    Cloud authenticates with an Atlassian account email (`user`) plus an API token as basic auth; with no
    `user`, the token is taken as a Data Center personal access token and sent as a bearer token.
    `api_version` "auto" asks `serverInfo` for `deploymentType`: Cloud speaks REST v3 (ADF bodies), Data
    Center/Server REST v2 (wiki-markup bodies).

    `custom_fields` maps an incident attribute (see ATTRIBUTES) to a Jira field id or name; the value is
    shaped after the field's schema (a select gets `{"value": ...}`), read once from `GET /field`.
    `transitions` maps an incident status to the transition (or target status) names to look for, `|`
    separated, first match wins; a status not named keeps the defaults.
    """

    model_config = SettingsConfigDict(env_prefix="JIRA_", extra="ignore", populate_by_name=True)

    url: str | None = None
    user: str | None = None
    api_token: SecretStr | None = None
    project: str | None = None
    issue_type: str = "Task"
    api_version: Literal["auto", "2", "3"] = "auto"
    timeout: float = 10
    labels: list[str] = []
    components: list[str] = []
    custom_fields: dict[str, str] = Field(
        default={}, validation_alias=AliasChoices("IRFLOW_JIRA_CUSTOM_FIELDS", "JIRA_CUSTOM_FIELDS", "custom_fields"))
    transitions: dict[str, str] = {}
    duplicate_link_type: str = "Duplicate"
    slack_channel_url: str = "https://slack.com/app_redirect?channel={channel}"
    runbook_url: str | None = Field(default=None, description="e.g. https://git.example/sec/runbooks/{playbook}.md")
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("IRFLOW_JIRA_WEBHOOK_SECRET", "JIRA_WEBHOOK_SECRET", "webhook_secret"))
    comment_interval_s: float = Field(default=60, description="At most one timeline comment per issue this often.")
    search_settle_s: float = Field(default=30, description="How long Cloud search may lag a create.")
    reconcile_after_s: float = Field(default=120, description="When the reconciler re-searches for duplicates.")
    poll_interval_s: float = Field(default=0, description="Poll Jira for changes this often; 0: webhooks only.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment over the `[jira]` table of irflow.toml (the file IrflowSettings reads too)."""
        from irflow.settings import config_file

        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file(), toml_table_header=("jira",))
        return (init_settings, env_settings, toml)

    @field_validator("custom_fields")
    @classmethod
    def _known_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown incident attribute(s) {', '.join(unknown)}; use {', '.join(ATTRIBUTES)}")
        return value

    @field_validator("transitions")
    @classmethod
    def _known_statuses(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(STATUSES))
        if unknown:
            raise ValueError(f"unknown incident status(es) {', '.join(unknown)}; use {', '.join(STATUSES)}")
        return value

    @field_validator("webhook_secret", "api_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `JIRA_API_TOKEN=` in a .env file means "not configured", never "configured with an empty secret".
        return None if isinstance(value, str) and not value.strip() else value

    def configured(self) -> bool:
        """True when every variable the real client needs is set."""
        return not self.missing()

    def missing(self) -> list[str]:
        """The env var names the real client still needs; all of them when Jira is not configured at all."""
        return [env for name, env in _REQUIRED.items() if not _present(getattr(self, name))]

    def transition_names(self, status: str) -> list[str]:
        """The transition or status names that move an issue to where incident `status` belongs."""
        spec = self.transitions.get(status) or DEFAULT_TRANSITIONS[status]
        return [name.strip() for name in spec.split("|") if name.strip()]


def _present(value: str | SecretStr | None) -> bool:
    # An empty string in the environment is as good as unset: it cannot reach or authenticate to Jira.
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value and value.strip())
