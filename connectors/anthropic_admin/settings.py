"""Anthropic Admin API settings: the admin key that switches Anthropic key containment on, and where the API is.

`ANTHROPIC_ADMIN_KEY` (an ``sk-ant-admin...`` key; ordinary API keys cannot call /v1/organizations/*)
turns the real client on. `IRFLOW_ANTHROPIC_API_URL` and `IRFLOW_ANTHROPIC_TIMEOUT` only tune it: setting
the URL without the key is a half-made setup that `irflow.systems` turns into a ConfigError.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from irflow.connectors.http import AdminKeySettings

DEFAULT_API_URL = "https://api.anthropic.com"
REQUIRED_ENV: dict[str, str] = {"admin_key": "ANTHROPIC_ADMIN_KEY"}
"""The one thing the real client cannot do without; the URL has a default."""


class AnthropicAdminSettings(AdminKeySettings):
    """Read once at start-up and passed to `AnthropicKeys`; the admin key never defaults to ``""``.

    `ANTHROPIC_ADMIN_KEY` is the name Anthropic's Admin API docs use; the tuning knobs are irflow's
    (`IRFLOW_ANTHROPIC_*`) so they cannot collide with the SDK's `ANTHROPIC_BASE_URL`. A trailing "/v1"
    or "/" on the URL is dropped: doubled up, every call would be a 404 indistinguishable from "no such key".
    """

    default_api_url: ClassVar[str] = DEFAULT_API_URL
    required_env: ClassVar[dict[str, str]] = REQUIRED_ENV
    timeout_env: ClassVar[str] = "IRFLOW_ANTHROPIC_TIMEOUT"

    admin_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_ADMIN_KEY")
    api_url: str = Field(default=DEFAULT_API_URL, validation_alias="IRFLOW_ANTHROPIC_API_URL")
    timeout: float = Field(default=10, validation_alias="IRFLOW_ANTHROPIC_TIMEOUT")
