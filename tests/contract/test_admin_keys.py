"""Contract tests: the OpenAI and Anthropic admin key connectors keep the KeyRevoker promises they can keep.

Anthropic and the local twin share one suite (block, verify at the target, unblock, idempotency, dry runs).
OpenAI has no block, so its suite is the delete round and a loud refusal to block. Then what only the real
clients have, over real HTTP to the loopbacks in openai_admin_server.py and anthropic_admin_server.py:
rate limits, the vendors' errors, pagination behind find_by_*, secrets kept out of messages, and proof
that each loopback refuses wrong paths, methods and bodies the way its vendor does.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pydantic import SecretStr
from sqlalchemy import select

from irflow.connectors.anthropic_admin.client import AnthropicKeys
from irflow.connectors.anthropic_admin.settings import AnthropicAdminSettings
from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from irflow.connectors.gateway.interface import KeyRevoker
from irflow.connectors.gateway.local import LocalGateway
from irflow.connectors.openai_admin.client import OpenAIKeys, _Http
from irflow.connectors.openai_admin.settings import OpenAIAdminSettings
from irflow.store.engine import Database
from irflow.store.tables import GatewayBlockRow
from tests.contract import anthropic_admin_server as anthropic_api
from tests.contract import openai_admin_server as openai_api
from tests.contract.anthropic_admin_server import AnthropicAdminServer
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


@pytest.fixture
def oai() -> Iterator[OpenAIAdminServer]:
    with OpenAIAdminServer() as running:
        running.add_key(PROJECT, KEY_ID, OPENAI_LEAKED, name="chatbot-prod")
        yield running


@pytest.fixture
def okeys(oai: OpenAIAdminServer) -> OpenAIKeys:
    return OpenAIKeys(openai_settings(oai))


@pytest.fixture
def ant() -> Iterator[AnthropicAdminServer]:
    with AnthropicAdminServer() as running:
        running.add_key(ANTHROPIC_KEY, ANTHROPIC_LEAKED, name="Developer Key")
        yield running


@pytest.fixture
def akeys(ant: AnthropicAdminServer) -> AnthropicKeys:
    return AnthropicKeys(anthropic_settings(ant))


@dataclass
class Rig:
    """One target behind KeyRevoker, its key, what it has written, and whether it refuses the key now."""

    keys: KeyRevoker
    key: str
    writes: Callable[[], object]
    refused: Callable[[], bool]


@pytest.fixture(params=["anthropic", "local"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "anthropic":
        api: AnthropicAdminServer = request.getfixturevalue("ant")
        yield Rig(request.getfixturevalue("akeys"), ANTHROPIC_KEY, lambda: tuple(api.writes()),
                  lambda: api.keys[ANTHROPIC_KEY].status != "active")
        return
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    gateway = LocalGateway(db)

    def rows() -> object:
        with db.tx() as s:
            rows = s.scalars(select(GatewayBlockRow))
            return tuple((r.kind, r.value, r.blocked, r.reason, r.updated_at) for r in rows)

    yield Rig(gateway.keys, LOCAL_KEY, rows, lambda: not gateway.check(key=LOCAL_KEY).allowed)
    db.dispose()


# --- KeyRevoker contract: Anthropic and the twin --------------------------------------------------------
def test_every_connector_satisfies_the_protocol(rig: Rig, okeys: OpenAIKeys) -> None:
    assert isinstance(rig.keys, KeyRevoker) and isinstance(okeys, KeyRevoker)


def test_block_is_enforced_at_the_target_and_unblock_restores_it(rig: Rig) -> None:
    original = rig.keys.info(rig.key)
    assert original["blocked"] is False and not rig.refused()
    done = rig.keys.block(rig.key)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.refused()
    undone = rig.keys.unblock(rig.key)
    assert undone.changed and undone.after == done.before
    assert not rig.refused() and rig.keys.info(rig.key) == original


def test_blocking_twice_is_idempotent(rig: Rig) -> None:
    rig.keys.block(rig.key)
    written = rig.writes()
    again = rig.keys.block(rig.key)
    assert (again.changed, again.detail) == (False, "already blocked")
    assert rig.writes() == written


def test_unblocking_an_unblocked_key_changes_nothing(rig: Rig) -> None:
    outcome = rig.keys.unblock(rig.key)
    assert (outcome.changed, outcome.detail) == (False, "already unblocked")


@pytest.mark.parametrize("operation", ["block", "unblock", "delete"])
def test_dry_run_makes_no_write(rig: Rig, operation: str) -> None:
    if operation == "unblock":
        rig.keys.block(rig.key)
    state, written = rig.keys.info(rig.key), rig.writes()
    planned = getattr(rig.keys, operation)(rig.key, dry_run=True)
    assert planned.dry_run and not planned.changed
    assert rig.writes() == written and rig.keys.info(rig.key) == state


def test_deleting_twice_is_idempotent_and_the_key_stays_refused(rig: Rig) -> None:
    assert rig.keys.delete(rig.key).changed and rig.refused()
    written = rig.writes()
    again = rig.keys.delete(rig.key)
    assert not again.changed and again.detail.startswith("already")
    assert rig.writes() == written and rig.keys.info(rig.key)["deleted"] is True


# --- OpenAI: delete is the only containment ------------------------------------------------------------
def test_openai_delete_round(oai: OpenAIAdminServer, okeys: OpenAIKeys) -> None:
    before = okeys.info(OPENAI_KEY)
    assert before["key"] == OPENAI_KEY and before["redacted_value"] == "sk-pro...WXYZ"
    assert before["owner"] == {"type": "user", "id": "user_abc", "name": "First Last",
                               "email": "user@example.com", "role": "owner"}
    done = okeys.delete(OPENAI_KEY)
    assert done.changed and done.before == before and done.after == {"exists": False}
    assert "cannot be restored" in done.detail and KEY_ID not in oai.projects[PROJECT]
    with pytest.raises(NotFound):
        okeys.info(OPENAI_KEY)
    again = okeys.delete(OPENAI_KEY)
    assert (again.changed, again.detail) == (False, "already deleted")
    assert [(s.method, s.target) for s in oai.writes()] == [("DELETE", OPENAI_PATH)]


@pytest.mark.parametrize("operation", ["block", "unblock"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_openai_block_and_unblock_refuse_clearly(oai: OpenAIAdminServer, okeys: OpenAIKeys,
                                                 operation: str, dry_run: bool) -> None:
    with pytest.raises(InvalidRequest, match="cannot be blocked or unblocked: the Admin API only deletes"):
        getattr(okeys, operation)(OPENAI_KEY, dry_run=dry_run)
    assert oai.requests == []


def test_openai_dry_run_delete_plans_the_call_and_sends_nothing(oai: OpenAIAdminServer, okeys: OpenAIKeys) -> None:
    planned = okeys.delete(OPENAI_KEY, dry_run=True)
    assert planned.dry_run and not planned.changed
    assert planned.call.describe() == f"openai: DELETE {OPENAI_PATH}"
    assert oai.requests == [] and KEY_ID in oai.projects[PROJECT]


@pytest.mark.parametrize("bad", [OPENAI_LEAKED, f"{PROJECT}/{OPENAI_LEAKED}", KEY_ID, "proj_abc/key/x",
                                 "../admin/x", "", f"{PROJECT}/"])
def test_openai_keys_are_project_slash_key_ids_and_bad_ones_are_not_echoed(oai: OpenAIAdminServer,
                                                                           okeys: OpenAIKeys, bad: str) -> None:
    for call in (okeys.info, okeys.delete):
        with pytest.raises(InvalidRequest, match="<project_id>/<key_id>") as caught:
            call(bad)
        assert OPENAI_LEAKED not in str(caught.value)
    assert oai.requests == []


def test_openai_a_404_for_the_project_is_not_already_deleted(oai: OpenAIAdminServer, okeys: OpenAIKeys) -> None:
    with pytest.raises(NotFound, match="cannot be confirmed deleted"):
        okeys.delete(f"proj_gone/{KEY_ID}")
    assert oai.writes() == []


def test_openai_a_wrong_base_url_is_a_config_error_not_already_deleted(oai: OpenAIAdminServer) -> None:
    settings = OpenAIAdminSettings(admin_key=SecretStr(openai_api.ADMIN_KEY), api_url=oai.url + "/v9")
    with pytest.raises(ConfigError, match="unknown_url"):
        OpenAIKeys(settings).delete(OPENAI_KEY)
    assert oai.writes() == [] and KEY_ID in oai.projects[PROJECT]


def test_openai_a_delete_answered_500_after_the_write_counts_as_done(oai: OpenAIAdminServer,
                                                                    okeys: OpenAIKeys) -> None:
    oai.delete_fails_after_write = True
    outcome = okeys.delete(OPENAI_KEY)
    assert outcome.changed and outcome.after == {"exists": False} and "500" in outcome.detail


def test_openai_a_refused_service_account_delete_is_an_invalid_request(oai: OpenAIAdminServer,
                                                                       okeys: OpenAIKeys) -> None:
    oai.refuse_service_account_delete = True
    oai.add_key(PROJECT, "key_svc", "sk-svcacct-ci-bot-000000000SVC1", owner_type="service_account")
    with pytest.raises(InvalidRequest) as caught:
        okeys.delete(f"{PROJECT}/key_svc")
    assert caught.value.status == 400 and "key_svc" in oai.projects[PROJECT]


def test_openai_find_by_redacted_pages_through_every_key(oai: OpenAIAdminServer, okeys: OpenAIKeys) -> None:
    for n in range(4):
        oai.add_key(PROJECT, f"key_other{n}", f"sk-proj-someone-else-0000000{n:04d}")
    oai.add_key(PROJECT, "key_orphan", "sk-proj-owner-left-project-000ABCD", owner_has_access=False)
    found = okeys.find_by_redacted(PROJECT, "WXYZ", page_size=2)
    assert [hit["key"] for hit in found] == [OPENAI_KEY]
    queries = [parse_qs(urlsplit(s.target).query) for s in oai.requests]
    assert [q.get("after") for q in queries] == [None, ["key_other0"], ["key_other2"]]
    assert all(q["limit"] == ["2"] and q["owner_project_access"] == ["any"] for q in queries)
    assert okeys.find_by_redacted(PROJECT, "ABCD")[0]["key"] == f"{PROJECT}/key_orphan"


def test_openai_find_takes_the_whole_leaked_key_but_never_sends_it(oai: OpenAIAdminServer,
                                                                  okeys: OpenAIKeys) -> None:
    oai.add_key(PROJECT, "key_twin", "sk-proj-other-tail-same-0000WXYZ")
    found = okeys.find_by_redacted(PROJECT, OPENAI_LEAKED)
    assert {hit["key"] for hit in found} == {OPENAI_KEY, f"{PROJECT}/key_twin"}  # ambiguous: both returned
    assert not [s for s in oai.requests if "WXYZ" in s.target or "attacker" in s.target]
    with pytest.raises(InvalidRequest, match="at least 4"):
        okeys.find_by_redacted(PROJECT, "XYZ")


# --- Anthropic only -------------------------------------------------------------------------------------
def test_anthropic_sends_the_admin_headers_and_a_status_body(ant: AnthropicAdminServer, akeys: AnthropicKeys) -> None:
    akeys.block(ANTHROPIC_KEY)
    assert {(s.api_key, s.version) for s in ant.requests} == {(anthropic_api.ADMIN_KEY, "2023-06-01")}
    assert [(s.method, s.target, s.body) for s in ant.writes()] == [
        ("POST", f"/v1/organizations/api_keys/{ANTHROPIC_KEY}", '{"status": "inactive"}')]


def test_anthropic_delete_archives_for_good(ant: AnthropicAdminServer, akeys: AnthropicKeys) -> None:
    done = akeys.delete(ANTHROPIC_KEY)
    assert done.changed and done.after["status"] == "archived" and "cannot reactivate" in done.detail
    written = ant.writes()
    with pytest.raises(InvalidRequest, match="cannot reactivate an archived key"):
        akeys.unblock(ANTHROPIC_KEY)
    blocked = akeys.block(ANTHROPIC_KEY)
    assert not blocked.changed and blocked.detail.startswith("already archived")
    assert ant.writes() == written


def test_anthropic_find_by_hint_pages_with_after_id(ant: AnthropicAdminServer, akeys: AnthropicKeys) -> None:
    for n in range(4):
        ant.add_key(f"apikey_other{n}", f"sk-ant-api03-someone-else-0000{n:04d}", workspace_id=None)
    found = akeys.find_by_hint("QRST", page_size=2)
    assert [hit["id"] for hit in found] == [ANTHROPIC_KEY]
    cursors = [parse_qs(urlsplit(s.target).query).get("after_id") for s in ant.requests]
    assert cursors == [None, ["apikey_other0"], ["apikey_other2"]]
    assert akeys.find_by_hint(ANTHROPIC_LEAKED, workspace_id="wrkspc_none") == []
    with pytest.raises(InvalidRequest):
        akeys.find_by_hint("RST")


def test_anthropic_a_secret_is_never_taken_for_an_id(ant: AnthropicAdminServer, akeys: AnthropicKeys) -> None:
    with pytest.raises(InvalidRequest, match="Admin API id") as caught:
        akeys.block(ANTHROPIC_LEAKED)
    assert ANTHROPIC_LEAKED not in str(caught.value) and ant.requests == []


# --- the real clients only: the vendors' errors --------------------------------------------------------
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


@pytest.fixture(params=["openai", "anthropic"])
def vendor(request: pytest.FixtureRequest) -> Vendor:
    if request.param == "openai":
        oai: OpenAIAdminServer = request.getfixturevalue("oai")
        return Vendor(oai, lambda **kw: openai_info(oai, **kw))
    ant: AnthropicAdminServer = request.getfixturevalue("ant")
    return Vendor(ant, lambda **kw: anthropic_info(ant, **kw))


def test_wrong_admin_keys_are_auth_errors(vendor: Vendor) -> None:
    with pytest.raises(AuthError) as caught:
        vendor.info(admin_key="sk-wrong-admin-key-5555")
    assert caught.value.status == 401 and not caught.value.retryable
    vendor.api.fail_next(403)
    with pytest.raises(AuthError) as forbidden:
        vendor.info()
    assert forbidden.value.status == 403


def test_unknown_keys_are_not_found(okeys: OpenAIKeys, akeys: AnthropicKeys, ant: AnthropicAdminServer) -> None:
    with pytest.raises(NotFound):
        okeys.info(f"{PROJECT}/key_never")
    with pytest.raises(NotFound):
        akeys.block("apikey_never")
    assert ant.writes() == []


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "7"}, 7.0),
    ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
    ({"x-ratelimit-reset-requests": "1s"}, 1.0),
    ({"retry-after-ms": "250", "x-ratelimit-reset-requests": "1s"}, 0.25),
    ({"x-ratelimit-reset-requests": "soon"}, 1.0),
])
def test_openai_429_is_rate_limited_with_its_hint(oai: OpenAIAdminServer, okeys: OpenAIKeys,
                                                  headers: dict[str, str], seconds: float) -> None:
    oai.fail_next(429, headers=headers)
    with pytest.raises(RateLimited) as caught:
        okeys.delete(OPENAI_KEY)
    assert caught.value.retry_after == seconds and caught.value.retryable and oai.writes() == []


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0), (None, 1.0)])
def test_anthropic_429_is_rate_limited_with_retry_after(ant: AnthropicAdminServer, akeys: AnthropicKeys,
                                                        header: str | None, seconds: float) -> None:
    ant.fail_next(429, headers={"retry-after": header} if header else None)
    with pytest.raises(RateLimited) as caught:
        akeys.block(ANTHROPIC_KEY)
    assert caught.value.retry_after == seconds and ant.writes() == []


@pytest.mark.parametrize("status", [500, 503, 529])
def test_5xx_and_overloaded_are_unavailable(vendor: Vendor, status: int) -> None:
    vendor.api.fail_next(status)
    with pytest.raises(Unavailable) as caught:
        vendor.info()
    assert caught.value.status == status and caught.value.retryable


def test_no_answer_in_time_is_unavailable(vendor: Vendor) -> None:
    vendor.api.delay_next(0.6)
    with pytest.raises(Unavailable, match="no answer within"):
        vendor.info(timeout=0.2)


def test_no_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(Unavailable, match="cannot reach"):
        OpenAIKeys(OpenAIAdminSettings(admin_key=SecretStr("k"), api_url=url)).info(OPENAI_KEY)
    with pytest.raises(Unavailable, match="cannot reach"):
        AnthropicKeys(AnthropicAdminSettings(admin_key=SecretStr("k"), api_url=url)).info(ANTHROPIC_KEY)


def test_admin_keys_are_in_no_error_message_or_repr(oai: OpenAIAdminServer, ant: AnthropicAdminServer,
                                                    okeys: OpenAIKeys, akeys: AnthropicKeys) -> None:
    http = _Http(openai_settings(oai))

    def fault(api: Loopback, status: int, then: Callable[[], object]) -> object:
        api.fail_next(status, headers={"Retry-After": "3"})
        return then()

    attempts: list[Callable[[], object]] = [
        lambda: http.get(f"/v1/organization/projects/{openai_api.ADMIN_KEY}/x"),  # the 404 echoes the path
        lambda: okeys.info(f"{PROJECT}/key_never"),
        lambda: fault(oai, 429, lambda: okeys.delete(OPENAI_KEY)),
        lambda: fault(ant, 529, lambda: akeys.block(ANTHROPIC_KEY)),
        lambda: akeys.info("apikey_never"),
        lambda: openai_info(oai, admin_key=openai_api.ADMIN_KEY + "x"),  # the 401 echoes part of it
    ]
    failures: list[ConnectorError] = []
    for attempt in attempts:
        with pytest.raises(ConnectorError) as caught:
            attempt()
        failures.append(caught.value)
    texts = [t for e in failures for t in (str(e), repr(e), str(e.__cause__), repr(e.__cause__))]
    texts += [repr(okeys), repr(akeys), repr(http), repr(openai_settings(oai)), repr(anthropic_settings(ant))]
    assert not [t for t in texts if openai_api.ADMIN_KEY in t or anthropic_api.ADMIN_KEY in t]


# --- settings -------------------------------------------------------------------------------------------
SETTINGS = [(OpenAIAdminSettings, "OPENAI_ADMIN_KEY", "IRFLOW_OPENAI_API_URL", "IRFLOW_OPENAI_TIMEOUT"),
            (AnthropicAdminSettings, "ANTHROPIC_ADMIN_KEY", "IRFLOW_ANTHROPIC_API_URL", "IRFLOW_ANTHROPIC_TIMEOUT")]


@pytest.mark.parametrize(("cls", "key_env", "url_env", "timeout_env"), SETTINGS)
def test_settings_nothing_set_url_only_and_full(monkeypatch: pytest.MonkeyPatch, cls: type, key_env: str,
                                                url_env: str, timeout_env: str) -> None:
    for name in (key_env, url_env, timeout_env):
        monkeypatch.delenv(name, raising=False)
    assert (cls().configured(), cls().missing()) == (False, [])
    monkeypatch.setenv(url_env, "https://proxy.example/v1/")
    assert (cls().configured(), cls().missing()) == (False, [key_env])
    monkeypatch.setenv(key_env, "sk-admin-1234-abcd")
    monkeypatch.setenv(timeout_env, "3.5")
    full = cls()
    assert full.configured() and full.missing() == []
    assert (full.api_url, full.timeout) == ("https://proxy.example", 3.5)
    assert "sk-admin-1234-abcd" not in repr(full)
    monkeypatch.setenv(key_env, "  ")
    assert cls().admin_key is None


# --- the loopbacks answer like the vendors -------------------------------------------------------------
def oai_call(api: OpenAIAdminServer, method: str, path: str, **kw: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {openai_api.ADMIN_KEY}"}
    return requests.request(method, api.url + path, headers=headers, timeout=5, **kw)  # type: ignore[arg-type]


def ant_call(api: AnthropicAdminServer, method: str, path: str, **kw: object) -> requests.Response:
    headers = {"x-api-key": anthropic_api.ADMIN_KEY, "anthropic-version": "2023-06-01"}
    return requests.request(method, api.url + path, headers=headers, timeout=5, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path"), [("GET", f"/v1/organization/project/{PROJECT}/api_keys"),
                                              ("POST", OPENAI_PATH),
                                              ("DELETE", f"/v1/organization/projects/{PROJECT}/api_keys")])
def test_openai_loopback_wrong_path_or_method_is_unknown_url(oai: OpenAIAdminServer, method: str, path: str) -> None:
    answer = oai_call(oai, method, path)
    assert answer.status_code == 404  # OpenAI routes on method + path: no 405
    message = (f"Unknown request URL: {method} {path}. Please check the URL for typos, or see the docs at "
               "https://platform.openai.com/docs/api-reference/.")
    assert answer.json()["error"] == {"message": message, "type": "invalid_request_error", "param": None,
                                      "code": "unknown_url"}


@pytest.mark.parametrize(("query", "param"), [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                                              ("owner_project_access=all", "owner_project_access")])
def test_openai_loopback_bad_list_parameters_are_400(oai: OpenAIAdminServer, query: str, param: str) -> None:
    answer = oai_call(oai, "GET", f"/v1/organization/projects/{PROJECT}/api_keys?{query}")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param) and error["message"]


def test_openai_loopback_auth_and_unknown_key_answers(oai: OpenAIAdminServer) -> None:
    anonymous = requests.get(oai.url + f"/v1/organization/projects/{PROJECT}/api_keys", timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["message"] == openai_api.NO_KEY_MESSAGE
    missing = oai_call(oai, "GET", f"/v1/organization/projects/{PROJECT}/api_keys/key_never")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}


def test_anthropic_loopback_wrong_path_and_method(ant: AnthropicAdminServer) -> None:
    wrong = ant_call(ant, "GET", "/v1/organization/api_keys")
    assert wrong.status_code == 404
    body = wrong.json()
    assert (body["type"], body["error"]["type"]) == ("error", "not_found_error") and body["request_id"]
    assert wrong.headers["request-id"] == body["request_id"]
    method = ant_call(ant, "DELETE", f"/v1/organizations/api_keys/{ANTHROPIC_KEY}")
    assert (method.status_code, method.json()["error"]["type"]) == (405, "invalid_request_error")
    assert method.headers["Allow"] == "GET, POST"


@pytest.mark.parametrize("body", [b'{"status": "deleted"}', b"status=inactive", b'["inactive"]',
                                  b'{"status": "inactive", "reason": "leak"}', b'{"name": ""}'])
def test_anthropic_loopback_bad_bodies_are_400(ant: AnthropicAdminServer, body: bytes) -> None:
    answer = ant_call(ant, "POST", f"/v1/organizations/api_keys/{ANTHROPIC_KEY}", data=body)
    assert (answer.status_code, answer.json()["error"]["type"]) == (400, "invalid_request_error")
    assert ant.keys[ANTHROPIC_KEY].status == "active"


def test_anthropic_loopback_headers_limits_and_archived_keys(ant: AnthropicAdminServer) -> None:
    path = f"/v1/organizations/api_keys/{ANTHROPIC_KEY}"
    no_key = requests.get(ant.url + path, headers={"anthropic-version": "2023-06-01"}, timeout=5)
    assert (no_key.status_code, no_key.json()["error"]["type"]) == (401, "authentication_error")
    no_version = requests.get(ant.url + path, headers={"x-api-key": anthropic_api.ADMIN_KEY}, timeout=5)
    assert (no_version.status_code, no_version.json()["error"]["type"]) == (400, "invalid_request_error")
    assert ant_call(ant, "GET", "/v1/organizations/api_keys?limit=1001").status_code == 400
    assert ant_call(ant, "POST", path, json={"status": "archived"}).status_code == 200
    again = ant_call(ant, "POST", path, json={"status": "active"})
    assert (again.status_code, again.json()["error"]["type"]) == (400, "invalid_request_error")
    assert ant.keys[ANTHROPIC_KEY].status == "archived"
