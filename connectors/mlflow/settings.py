"""MLflow settings: which prompt registry to roll back, or none and the local twin answers.

`MLFLOW_TRACKING_URI` is MLflow's own variable, so an environment already pointed at an MLflow server needs
nothing else. `MLFLOW_REGISTRY_URI` (optional, MLflow's too) separates the registry from the tracking
server, as Databricks Unity Catalog setups do. irflow's own knobs carry the IRFLOW_MLFLOW_ prefix: the
alias that serves traffic and a timeout for each call.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"


class MlflowSettings(BaseSettings):
    """Read once at start-up and passed to `MlflowPrompts`.

    No tracking URI means the local prompt twin serves containment. The tracking URI is required even when
    a registry URI is given: MLflow would otherwise default the tracking store to a database in the
    current directory, a file irflow has no business creating.
    """

    model_config = SettingsConfigDict(env_prefix="IRFLOW_MLFLOW_", extra="ignore", populate_by_name=True)

    tracking_uri: str | None = Field(default=None, validation_alias=TRACKING_ENV)
    registry_uri: str | None = Field(default=None, validation_alias=REGISTRY_ENV)
    alias: str = "production"
    timeout: float = 10

    @field_validator("tracking_uri", "registry_uri", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `MLFLOW_TRACKING_URI=` in a .env file means "not configured", not "a registry at ''".
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("alias")
    @classmethod
    def _alias_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("IRFLOW_MLFLOW_ALIAS must name an alias, e.g. production")
        return value.strip()

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("IRFLOW_MLFLOW_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True when the real MLflow client can be used: a tracking URI is set."""
        return self.tracking_uri is not None

    def missing(self) -> list[str]:
        """Env var names still needed: only a registry URI without a tracking URI is half-configured."""
        return [TRACKING_ENV] if self.registry_uri and not self.tracking_uri else []
