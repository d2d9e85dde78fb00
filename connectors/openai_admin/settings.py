"""OpenAI Admin API settings: the admin key that switches OpenAI key containment on, and where the API is.

`OPENAI_ADMIN_KEY` (an ``sk-admin-...`` key; project keys are refused by every admin route) turns the
real client on. `IRFLOW_OPENAI_API_URL` and `IRFLOW_OPENAI_TIMEOUT` only tune it: setting the URL without
the key is a half-made setup that `irflow.systems` turns into a ConfigError naming what `missing()` returns.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from irflow.connectors.http import AdminKeySettings

DEFAULT_API_URL = "https://api.openai.com"
REQUIRED_ENV: dict[str, str] = {"admin_key": "OPENAI_ADMIN_KEY"}
"""The one thing the real client cannot do without; the URL has a default."""


class OpenAIAdminSettings(AdminKeySettings):
    """Read once at start-up and passed to `OpenAIKeys`; the admin key never defaults to ``""``.

    The names are not one prefix: `OPENAI_ADMIN_KEY` is the name OpenAI's own docs and tools use, while
    the tuning knobs are irflow's (`IRFLOW_OPENAI_*`) so they cannot collide with the SDK's
    `OPENAI_BASE_URL`, which carries a ``/v1`` this client adds itself (and `api_url` drops).
    """

    default_api_url: ClassVar[str] = DEFAULT_API_URL
    required_env: ClassVar[dict[str, str]] = REQUIRED_ENV
    timeout_env: ClassVar[str] = "IRFLOW_OPENAI_TIMEOUT"

    admin_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_ADMIN_KEY")
    api_url: str = Field(default=DEFAULT_API_URL, validation_alias="IRFLOW_OPENAI_API_URL")
    timeout: float = Field(default=10, validation_alias="IRFLOW_OPENAI_TIMEOUT")
