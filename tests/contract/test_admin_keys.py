"""Contract tests: the OpenAI and Anthropic admin key connectors keep the KeyRevoker promises they can keep.

Anthropic and the local twin share one suite (block, verify at the target, unblock, idempotency, dry runs).
OpenAI has no block, so its suite is the delete round and a loud refusal to block. Then what only each real
client has, over real HTTP to the loopbacks in openai_admin_server.py and anthropic_admin_server.py:
pagination behind find_by_*, secrets kept out of the calls. The vendors' errors and the settings are in
test_admin_keys_errors.py, the loopbacks' own strictness in test_admin_keys_loopback.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from irflow.connectors.anthropic_admin.client import AnthropicKeys
from irflow.connectors.errors import ConfigError, InvalidRequest, NotFound
from irflow.connectors.gateway.interface import KeyRevoker
from irflow.connectors.openai_admin.client import OpenAIKeys
from irflow.connectors.openai_admin.settings import OpenAIAdminSettings
from tests.contract import anthropic_admin_server as anthropic_api
from tests.contract import openai_admin_server as openai_api
from tests.contract.admin_keys_rig import (
    ANTHROPIC_KEY,
    ANTHROPIC_LEAKED,
    KEY_ID,
    OPENAI_KEY,
    OPENAI_LEAKED,
    OPENAI_PATH,
    PROJECT,
    Rig,
)
from tests.contract.admin_keys_rig import (  # noqa: F401 - fixtures, found by name
    fixture_akeys,
    fixture_ant,
    fixture_oai,
    fixture_okeys,
    fixture_rig,
)
from tests.contract.anthropic_admin_server import AnthropicAdminServer
from tests.contract.openai_admin_server import OpenAIAdminServer


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
