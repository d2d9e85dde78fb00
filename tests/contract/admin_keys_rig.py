"""What the admin key contract tests share: the leaked keys, the loopback OpenAI and Anthropic admin APIs with
their clients, the KeyRevoker rig (Anthropic and the twin), and the vendor rig for the errors both real clients
must type the same way. The fixtures are defined as fixture_<name>, so a test module imports them
without its parameters shadowing the import."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
import requests
from pydantic import SecretStr

from irflow.connectors.anthropic_admin.client import AnthropicKeys
from irflow.connectors.anthropic_admin.settings import AnthropicAdminSettings
from irflow.connectors.gateway.interface import KeyRevoker
from irflow.connectors.openai_admin.client import OpenAIKeys
from irflow.connectors.openai_admin.settings import OpenAIAdminSettings
from tests.contract import anthropic_admin_server as anthropic_api
from tests.contract import openai_admin_server as openai_api
from tests.contract.anthropic_admin_server import AnthropicAdminServer
from tests.contract.gateway_twin import local_gateway
from tests.contract.openai_admin_server import OpenAIAdminServer

PROJECT, KEY_ID = "proj_abc", "key_leaked01"
OPENAI_KEY = f"{PROJECT}/{KEY_ID}"
OPENAI_PATH = f"/v1/organization/projects/{PROJECT}/api_keys/{KEY_ID}"
OPENAI_LEAKED = "sk-proj-attacker-leaked-00000000WXYZ"
ANTHROPIC_KEY = "apikey_01LeakedKey000000000001"
ANTHROPIC_LEAKED = "sk-ant-api03-attacker-leaked-000000000QRST"
LOCAL_KEY = "sk-live-attacker-key-9Zq1"


def openai_settings(api: OpenAIAdminServer, admin_key: str = openai_api.ADMIN_KEY,
                    timeout: float = 2.0) -> OpenAIAdminSettings:
    return OpenAIAdminSettings(admin_key=SecretStr(admin_key), api_url=api.url, timeout=timeout)


def anthropic_settings(api: AnthropicAdminServer, admin_key: str = anthropic_api.ADMIN_KEY,
                       timeout: float = 2.0) -> AnthropicAdminSettings:
    return AnthropicAdminSettings(admin_key=SecretStr(admin_key), api_url=api.url, timeout=timeout)


@pytest.fixture(name="oai")
def fixture_oai() -> Iterator[OpenAIAdminServer]:
    with OpenAIAdminServer() as running:
        running.add_key(PROJECT, KEY_ID, OPENAI_LEAKED, name="chatbot-prod")
        yield running


@pytest.fixture(name="okeys")
def fixture_okeys(oai: OpenAIAdminServer) -> OpenAIKeys:
    return OpenAIKeys(openai_settings(oai))


@pytest.fixture(name="ant")
def fixture_ant() -> Iterator[AnthropicAdminServer]:
    with AnthropicAdminServer() as running:
        running.add_key(ANTHROPIC_KEY, ANTHROPIC_LEAKED, name="Developer Key")
        yield running


@pytest.fixture(name="akeys")
def fixture_akeys(ant: AnthropicAdminServer) -> AnthropicKeys:
    return AnthropicKeys(anthropic_settings(ant))


@dataclass
class Rig:
    """One target behind KeyRevoker, its key, what it has written, and whether it refuses the key now."""

    keys: KeyRevoker
    key: str
    writes: Callable[[], object]
    refused: Callable[[], bool]


@pytest.fixture(name="rig", params=["anthropic", "local"])
def fixture_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "anthropic":
        api: AnthropicAdminServer = request.getfixturevalue("ant")
        yield Rig(request.getfixturevalue("akeys"), ANTHROPIC_KEY, lambda: tuple(api.writes()),
                  lambda: api.keys[ANTHROPIC_KEY].status != "active")
        return
    with local_gateway(tmp_path, stamped=True) as (gateway, rows):
        yield Rig(gateway.keys, LOCAL_KEY, rows, lambda: not gateway.check(key=LOCAL_KEY).allowed)


class Loopback(Protocol):
    def fail_next(self, status: int, times: int = 1, headers: Mapping[str, str] | None = None) -> None: ...

    def delay_next(self, seconds: float) -> None: ...


def openai_info(api: OpenAIAdminServer, admin_key: str = openai_api.ADMIN_KEY, timeout: float = 2.0) -> object:
    return OpenAIKeys(openai_settings(api, admin_key, timeout)).info(OPENAI_KEY)


def anthropic_info(api: AnthropicAdminServer, admin_key: str = anthropic_api.ADMIN_KEY,
                   timeout: float = 2.0) -> object:
    return AnthropicKeys(anthropic_settings(api, admin_key, timeout)).info(ANTHROPIC_KEY)


@dataclass
class Vendor:
    """A loopback and a fresh client's `info` call against it, with the admin key or timeout overridden."""

    api: Loopback
    info: Callable[..., object]


@pytest.fixture(name="vendor", params=["openai", "anthropic"])
def fixture_vendor(request: pytest.FixtureRequest) -> Vendor:
    if request.param == "openai":
        oai: OpenAIAdminServer = request.getfixturevalue("oai")
        return Vendor(oai, lambda **kw: openai_info(oai, **kw))
    ant: AnthropicAdminServer = request.getfixturevalue("ant")
    return Vendor(ant, lambda **kw: anthropic_info(ant, **kw))


def oai_call(api: OpenAIAdminServer, method: str, path: str, **kw: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {openai_api.ADMIN_KEY}"}
    return requests.request(method, api.url + path, headers=headers, timeout=5, **kw)  # type: ignore[arg-type]


def ant_call(api: AnthropicAdminServer, method: str, path: str, **kw: object) -> requests.Response:
    headers = {"x-api-key": anthropic_api.ADMIN_KEY, "anthropic-version": "2023-06-01"}
    return requests.request(method, api.url + path, headers=headers, timeout=5, **kw)  # type: ignore[arg-type]
