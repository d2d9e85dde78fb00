"""Which connector serves each capability: the local twin, or the real client when its env vars are set.

A system whose variables are all unset is served by its twin; a full set switches it to the real
client; a partial set is a ConfigError naming what is missing. Flows only see the Protocols.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pydantic import ValidationError

from irflow.connectors.errors import ConfigError
from irflow.connectors.gateway.interface import KeyRevoker, SessionBlocker, TeamBlocker, UserBlocker
from irflow.connectors.gateway.local import LocalGateway
from irflow.connectors.jira.interface import Ticketing
from irflow.connectors.jira.local import LocalJira
from irflow.connectors.prompts.interface import PromptRegistry
from irflow.connectors.prompts.local import LocalPrompts
from irflow.connectors.slack.interface import ChatOps
from irflow.connectors.slack.local import LocalSlack
from irflow.store.engine import Database


class _ConnectorSettings(Protocol):
    def configured(self) -> bool: ...

    def missing(self) -> list[str]: ...


def _real(name: str, settings: _ConnectorSettings) -> bool:
    """True when the system is fully configured, False when not at all; a ConfigError when half."""
    missing = settings.missing()
    if settings.configured() and not missing:
        return True
    if missing and _any_set(settings):
        raise ConfigError(f"{name} is partly configured; also set {', '.join(missing)}", system=name)
    return False


def _any_set(settings: object) -> bool:
    fields = type(settings).model_fields  # type: ignore[attr-defined]
    defaults = {n: f.default for n, f in fields.items()}
    return any(getattr(settings, n) not in (None, defaults[n]) for n in fields)


@dataclass
class SystemStatus:
    name: str
    mode: str  # "local twin" | "real"
    detail: str = ""


@dataclass
class Systems:
    """The connectors this process uses, chosen once from the environment."""

    gateway: LocalGateway
    chat: ChatOps
    tickets: Ticketing
    keys: dict[str, KeyRevoker] = field(default_factory=dict)
    users: dict[str, UserBlocker] = field(default_factory=dict)
    prompts: dict[str, PromptRegistry] = field(default_factory=dict)
    sessions: dict[str, SessionBlocker] = field(default_factory=dict)
    teams: dict[str, TeamBlocker] = field(default_factory=dict)
    default_target: dict[str, str] = field(default_factory=dict)
    statuses: list[SystemStatus] = field(default_factory=list)
    protected: set[str] = field(default_factory=set)
    """Identities automation must never contain by itself (e.g. the gateway's master key)."""

    def key_revoker(self, system: str) -> KeyRevoker:
        return self._pick(self.keys, system, "keys")

    def user_blocker(self, system: str) -> UserBlocker:
        return self._pick(self.users, system, "users")

    def session_blocker(self, system: str) -> SessionBlocker:
        return self._pick(self.sessions, system, "sessions")

    def team_blocker(self, system: str) -> TeamBlocker:
        return self._pick(self.teams, system, "teams")

    def prompt_registry(self, system: str) -> PromptRegistry:
        return self._pick(self.prompts, system, "prompts")

    def target_for(self, capability: str, explicit: str | None) -> str:
        if explicit:
            return explicit
        if capability == "accounts":  # the identity provider if one is configured, else the gateway's users
            return self.default_target.get("accounts") or self.default_target.get("users", "local")
        return self.default_target.get(capability, "local")

    @staticmethod
    def _pick(table: dict, system: str, capability: str):  # type: ignore[no-untyped-def]
        if system not in table:
            known = ", ".join(sorted(table)) or "none"
            raise ConfigError(f"no {capability} connector named {system!r} is configured (configured: {known})")
        return table[system]


def build(db: Database) -> Systems:
    """Twins for everything, then real clients on top for each fully configured system.

    A setting that fails validation (a malformed SLACK_ONCALL, a bot token given as SLACK_APP_TOKEN) is a
    ConfigError naming the setting and the rule, never the value: the value may be a secret.
    """
    try:
        return _build(db)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'value'}: {err['msg']}"
                             for err in exc.errors(include_url=False, include_input=False))
        raise ConfigError(f"invalid {exc.title}: {problems}") from None


def _build(db: Database) -> Systems:
    gateway = LocalGateway(db)
    systems = Systems(
        gateway=gateway, chat=LocalSlack(db), tickets=LocalJira(db),
        keys={"local": gateway.keys}, users={"local": gateway.users}, prompts={"local": LocalPrompts(db)},
        sessions={"local": gateway.sessions}, teams={"local": gateway.teams},
        # "teams" (like every capability not named here) falls back to "local" in `target_for`
        default_target={"keys": "local", "users": "local", "prompts": "local", "sessions": "local"},
        statuses=[SystemStatus("gateway", "local twin")],
    )
    _add_litellm(systems)
    _add_admin_keys(systems)
    _add_identity_providers(systems)
    _add_aws(systems)
    _add_prompt_registries(systems)
    _add_slack(systems)
    _add_jira(systems)
    return systems


def _add_litellm(systems: Systems) -> None:
    from irflow.connectors.litellm.settings import LiteLLMSettings

    settings = LiteLLMSettings()
    if not _real("litellm", settings):
        return
    from irflow.connectors.litellm.client import LiteLLMKeys, LiteLLMTeams, LiteLLMUsers

    systems.keys["litellm"] = LiteLLMKeys(settings)
    systems.users["litellm"] = LiteLLMUsers(settings)
    systems.teams["litellm"] = LiteLLMTeams(settings)
    systems.default_target.update(keys="litellm", users="litellm", teams="litellm")
    if settings.master_key is not None:
        systems.protected.add(settings.master_key.get_secret_value())
    systems.statuses.append(SystemStatus("litellm", "real", settings.proxy_url or ""))


def _add_admin_keys(systems: Systems) -> None:
    """Provider admin APIs: containment for keys issued by OpenAI / Anthropic themselves."""
    from irflow.connectors.anthropic_admin.client import AnthropicKeys
    from irflow.connectors.anthropic_admin.settings import AnthropicAdminSettings
    from irflow.connectors.openai_admin.client import OpenAIKeys
    from irflow.connectors.openai_admin.settings import OpenAIAdminSettings

    openai, anthropic = OpenAIAdminSettings(), AnthropicAdminSettings()
    if _real("openai", openai):
        systems.keys["openai"] = OpenAIKeys(openai)
        systems.statuses.append(SystemStatus("openai", "real", openai.api_url))
    if _real("anthropic", anthropic):
        systems.keys["anthropic"] = AnthropicKeys(anthropic)
        systems.statuses.append(SystemStatus("anthropic", "real", anthropic.api_url))


def _add_identity_providers(systems: Systems) -> None:
    """Identity providers: accounts (not just gateway end users) for users.disable_account and friends."""
    from irflow.connectors.entra.client import EntraUsers
    from irflow.connectors.entra.settings import EntraSettings
    from irflow.connectors.okta.client import OktaUsers
    from irflow.connectors.okta.settings import OktaSettings

    okta, entra = OktaSettings(), EntraSettings()
    if _real("okta", okta):
        systems.users["okta"] = OktaUsers(okta)
        systems.default_target.setdefault("accounts", "okta")
        systems.statuses.append(SystemStatus("okta", "real", str(okta.org_url)))
    if _real("entra", entra):
        systems.users["entra"] = EntraUsers(entra)
        systems.default_target.setdefault("accounts", "entra")
        systems.statuses.append(SystemStatus("entra", "real", str(entra.graph_url)))


def _add_aws(systems: Systems) -> None:
    """AWS only when IRFLOW_AWS_ENABLED=true: ambient cloud credentials never switch irflow to a real account."""
    from irflow.connectors.aws.settings import AwsSettings

    settings = AwsSettings()
    if not _real("aws", settings):
        return
    from irflow.connectors.aws.client import CognitoUsers, IamKeys

    systems.keys["aws_iam"] = IamKeys(settings)
    systems.statuses.append(SystemStatus("aws_iam", "real", settings.endpoint_url or settings.region))
    if settings.cognito_user_pool_id:
        systems.users["cognito"] = CognitoUsers(settings)
        systems.default_target.setdefault("accounts", "cognito")
        systems.statuses.append(SystemStatus("cognito", "real", settings.cognito_user_pool_id))


def _add_prompt_registries(systems: Systems) -> None:
    """MLflow or Langfuse prompt registries; with both configured, MLflow is the default target."""
    from irflow.connectors.langfuse.settings import LangfuseSettings
    from irflow.connectors.mlflow.settings import MlflowSettings

    langfuse, mlflow = LangfuseSettings(), MlflowSettings()
    if _real("langfuse", langfuse):
        from irflow.connectors.langfuse.client import LangfusePrompts

        systems.prompts["langfuse"] = LangfusePrompts(langfuse)
        systems.default_target["prompts"] = "langfuse"
        systems.statuses.append(SystemStatus("langfuse", "real", str(langfuse.host)))
    if _real("mlflow", mlflow):
        from irflow.connectors.mlflow.client import MlflowPrompts

        systems.prompts["mlflow"] = MlflowPrompts(mlflow)
        systems.default_target["prompts"] = "mlflow"
        systems.statuses.append(SystemStatus("mlflow", "real", str(mlflow.tracking_uri)))


def _add_slack(systems: Systems) -> None:
    from irflow.connectors.slack.settings import SlackSettings

    settings = SlackSettings()
    if not _real("slack", settings):
        systems.statuses.append(SystemStatus("slack", "local twin"))
        return
    from irflow.connectors.slack.client import SlackClient

    systems.chat = SlackClient(settings)
    systems.statuses.append(SystemStatus("slack", "real", settings.api_url))


def _add_jira(systems: Systems) -> None:
    from irflow.connectors.jira.settings import JiraSettings

    settings = JiraSettings()
    if not _real("jira", settings):
        systems.statuses.append(SystemStatus("jira", "local twin"))
        return
    from irflow.connectors.jira.client import JiraClient

    systems.tickets = JiraClient(settings)
    systems.statuses.append(SystemStatus("jira", "real", settings.url or ""))
