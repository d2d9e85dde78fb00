"""The loopback proxy in litellm_server.py answers like LiteLLM's: Starlette's 404 and 405, FastAPI's 422, the
master key checked before the body, and the proxy's own answers for unknown keys, unblocks, regeneration and
teams, so a client bug cannot pass against it."""

from __future__ import annotations

import pytest
import requests

from irflow.connectors.litellm.client import wire_key
from tests.contract.litellm_rig import KEY, TEAM, UNKNOWN_KEY, USER, call
from tests.contract.litellm_rig import fixture_proxy  # noqa: F401 - fixtures, found by name
from tests.contract.litellm_server import UNBLOCK_WITHOUT_ENTERPRISE, LiteLLMProxy


# --- the loopback answers like the proxy ----------------------------------------------------------------
def test_loopback_unknown_path_is_starlettes_404(proxy: LiteLLMProxy) -> None:
    answer = call(proxy, "POST", "/key/blockk", json={"key": KEY})
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})


@pytest.mark.parametrize(("method", "path", "allow"), [("GET", "/key/block", "POST"),
                                                       ("POST", "/key/info", "GET, HEAD"),
                                                       ("GET", "/key/sk-x/regenerate", "POST"),
                                                       ("GET", "/team/block", "POST"),
                                                       ("POST", "/team/info", "GET, HEAD")])
def test_loopback_wrong_method_is_405(proxy: LiteLLMProxy, method: str, path: str, allow: str) -> None:
    answer = call(proxy, method, path)
    assert (answer.status_code, answer.json()) == (405, {"detail": "Method Not Allowed"})
    assert answer.headers["Allow"] == allow


@pytest.mark.parametrize(("method", "path", "body", "loc", "kind"), [
    ("POST", "/key/block", {}, ["body", "key"], "missing"),
    ("POST", "/key/block", {"key": 7}, ["body", "key"], "string_type"),
    ("POST", "/customer/block", {"user_ids": USER}, ["body", "user_ids"], "list_type"),
    ("POST", "/key/delete", {"keys": []}, ["body"], "value_error"),
    ("GET", "/customer/info", None, ["query", "end_user_id"], "missing"),
    ("POST", "/team/block", {}, ["body", "team_id"], "missing"),
    ("POST", "/team/unblock", {"team_id": 7}, ["body", "team_id"], "string_type"),
    ("POST", "/key/regenerate", {"key": 7}, ["body", "key"], "string_type"),
    ("POST", "/key/sk-x/regenerate", ["sk-x"], ["body"], "model_attributes_type"),
])
def test_loopback_wrong_body_is_fastapis_422(proxy: LiteLLMProxy, method: str, path: str, body: object,
                                             loc: list[str], kind: str) -> None:
    answer = call(proxy, method, path, json=body)
    assert answer.status_code == 422
    first = answer.json()["detail"][0]
    assert (first["loc"], first["type"]) == (loc, kind) and "msg" in first


def test_loopback_checks_the_master_key_before_the_body(proxy: LiteLLMProxy) -> None:
    answer = requests.post(proxy.url + "/key/block", json={}, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"] == {"message": "Authentication Error, No api key passed in.",
                                      "type": "auth_error", "param": "None", "code": "401"}


def test_loopback_unknown_key_and_unblock_answers_are_the_proxys(proxy: LiteLLMProxy) -> None:
    missing = call(proxy, "GET", "/key/info", params={"key": UNKNOWN_KEY})
    assert missing.status_code == 404
    assert missing.json() == {"error": {"message": "Key not found in database", "type": "not_found_error",
                                        "param": "key", "code": "404"}}
    unblock = call(proxy, "POST", "/customer/unblock", json={"user_ids": [USER]})
    assert (unblock.status_code, unblock.json()) == (400, {"detail": {"error": UNBLOCK_WITHOUT_ENTERPRISE}})


def test_loopback_regenerate_answers_are_the_proxys(proxy: LiteLLMProxy) -> None:
    nothing = call(proxy, "POST", "/key/regenerate")
    assert (nothing.status_code, nothing.json()["error"]["message"]) == (400, "{'error': 'No key passed in.'}")
    unknown = call(proxy, "POST", f"/key/{wire_key(UNKNOWN_KEY)}/regenerate")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "internal_server_error"
    bad = call(proxy, "POST", "/key/regenerate", json={"key": KEY, "new_key": "not-sk"})
    assert bad.status_code == 400 and proxy.authenticates(KEY)
    done = call(proxy, "POST", "/key/regenerate", params={"key": KEY}, json={"new_key": "sk-chosen-by-admin-0001"})
    assert done.status_code == 200
    assert {k: done.json()[k] for k in ("key", "key_name", "key_alias", "token_id")} == {
        "key": "sk-chosen-by-admin-0001", "key_name": "sk-...0001", "key_alias": "chatbot-prod",
        "token_id": wire_key("sk-chosen-by-admin-0001")}


def test_loopback_team_answers_are_the_proxys(proxy: LiteLLMProxy) -> None:
    missing = call(proxy, "GET", "/team/info")
    assert missing.status_code == 422 and missing.json()["error"]["type"] == "auth_error"
    unknown = call(proxy, "GET", "/team/info", params={"team_id": "team-nobody"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {"message": "{'message': 'Team not found, passed team id: team-nobody.'}",
                                       "type": "auth_error", "param": "None", "code": "404"}
    block = call(proxy, "POST", "/team/block", json={"team_id": "team-nobody"})
    assert block.status_code == 404
    assert block.json() == {"detail": {"error": "Team not found, passed team_id=team-nobody"}}
    info = call(proxy, "GET", "/team/info", params={"team_id": TEAM}).json()
    assert info["team_info"]["blocked"] is False and [k["key_alias"] for k in info["keys"]] == ["chatbot-prod"]
    assert requests.post(proxy.url + "/team/block", json={}, timeout=5).status_code == 401
