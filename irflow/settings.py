"""irflow's own settings: environment variables (IRFLOW_*) over irflow.toml over defaults.

Each connector has its own settings class in connectors/<system>/settings.py; this one holds what the
core needs. Read once at start-up and passed in; nothing below the CLI/HTTP layer reads os.environ.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_home() -> Path:
    return Path(os.environ.get("IRFLOW_HOME") or Path.home() / ".irflow").expanduser()


def config_file() -> Path:
    """`IRFLOW_CONFIG`, else ./irflow.toml, else $IRFLOW_HOME/irflow.toml."""
    explicit = os.environ.get("IRFLOW_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("irflow.toml")
    return local if local.exists() else default_home() / "irflow.toml"


class IrflowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IRFLOW_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    intake_token: SecretStr | None = None
    intake_hmac_secret: SecretStr | None = None
    store_raw: bool = True
    playbooks: Path | None = Field(default=None, description="Folder of playbooks overriding the built-ins.")
    runbooks: Path | None = Field(default=None, description="Folder of runbooks overriding the built-ins.")
    log_format: str = "text"
    correlation_window_minutes: int = 60
    dedup_window_minutes: int = 10
    max_alert_bytes: int = 1 << 20
    max_batch_bytes: int = 32 << 20
    approval_timeout_minutes: int = Field(default=240, description="An unanswered approval escalates and is skipped.")
    protected_keys: list[str] = Field(default_factory=list, description="Keys automation never contains by itself.")
    protected_users: list[str] = Field(default_factory=list, description="Break-glass and service accounts.")
    blast_radius_max: int = Field(default=20, description="Automatic containments allowed per window.")
    blast_radius_window_minutes: int = 10
    sla_tta_minutes: dict[str, int] = Field(
        default_factory=lambda: {"critical": 15, "high": 30, "medium": 240, "low": 1440},
        description="Time to acknowledge, per severity.")
    sla_ttc_minutes: dict[str, int] = Field(
        default_factory=lambda: {"critical": 60, "high": 240, "medium": 1440, "low": 4320},
        description="Time to contain, per severity.")
    usage_window_minutes: int = Field(
        default=5, ge=1, le=1440, description="Volume detectors: the sliding window calls are counted over.")
    usage_max_requests: int = Field(
        default=0, ge=0, description="Calls per key, or per end user under a key, within the window before a "
                                     "model_extraction alert; 0 (the default) leaves this detector off.")
    usage_max_tokens: int = Field(
        default=0, ge=0, description="Tokens per key or end user within the window; 0 (the default): off.")
    usage_max_cost: float = Field(
        default=0.0, ge=0, description="Spend (USD, as the gateway reports it) per key or end user within the "
                                       "window before a cost_abuse alert; 0 (the default): off.")
    serious_categories: list[str] = Field(
        default_factory=list, description="EU AI Act: incidents of these categories are flagged serious by rule.")
    serious_min_severity: str = "critical"
    rbac: dict[str, str] = Field(
        default_factory=dict,
        description='principal -> role, e.g. {"cli:alice" = "approver", "slack:U024BE7LH" = "responder"}',
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file())
        return (init_settings, env_settings, toml)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'irflow.db'}"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"
