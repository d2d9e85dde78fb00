"""AWS settings (IRFLOW_AWS_*): whether containment may touch an AWS account, and where to send the calls.

AWS is opt-in by `IRFLOW_AWS_ENABLED=true` alone. Credentials are deliberately *not* a switch: a laptop or
CI runner often has ambient AWS credentials (env vars, ~/.aws, an instance role), and a demo or a test
must never disable a key in whatever account those happen to reach. Once enabled, boto3's usual
credential chain supplies the credentials, so irflow never holds an AWS secret itself.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REGION = "us-east-1"
REGION_ENV = ("IRFLOW_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
"""Where the region comes from, first set wins; AWS_REGION before AWS_DEFAULT_REGION as the AWS SDKs do."""
USER_POOL_ENV = "IRFLOW_AWS_COGNITO_USER_POOL_ID"


class AwsSettings(BaseSettings):
    """Read once at start-up and passed to `IamKeys` / `CognitoUsers`.

    `endpoint_url` points every client at another endpoint (moto in tests, LocalStack, a VPC endpoint);
    unset means boto3 resolves the regional AWS endpoint itself.
    """

    model_config = SettingsConfigDict(env_prefix="IRFLOW_AWS_", extra="ignore", populate_by_name=True)

    enabled: bool = False
    endpoint_url: str | None = None
    region: str = Field(default=DEFAULT_REGION, validation_alias=AliasChoices("region", *REGION_ENV))
    timeout: float = 10
    cognito_user_pool_id: str | None = None

    @field_validator("endpoint_url", "cognito_user_pool_id", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `IRFLOW_AWS_ENDPOINT_URL=` in a .env file means "use AWS", not "send requests to ''".
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("region", mode="before")
    @classmethod
    def _strip_region(cls, value: object) -> object:
        # Kept blank when set blank (`AWS_REGION=`): `missing()` reports it instead of guessing a region.
        return value.strip() if isinstance(value, str) else value

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("IRFLOW_AWS_TIMEOUT must be a positive number of seconds")
        return value

    def configured(self) -> bool:
        """True only when IRFLOW_AWS_ENABLED is true: ambient credentials alone never select AWS."""
        return self.enabled

    def missing(self) -> list[str]:
        """Env var names still needed when AWS is enabled; empty when it is disabled or complete.

        Only the region can be missing: it defaults to us-east-1 but an explicitly blank one is a mistake
        the caller turns into a ConfigError at start-up. The Cognito user pool is needed by `CognitoUsers`
        alone, which checks it itself, so enabling AWS for IAM keys does not demand a user pool.
        """
        if not self.enabled:
            return []
        return [] if self.region else ["AWS_REGION"]
